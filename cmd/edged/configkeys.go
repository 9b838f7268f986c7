package main

import (
	"encoding"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// keyShape is what a configuration key holds.
type keyShape int

const (
	shapeScalar keyShape = iota // a string, number, bool, duration or size
	shapeStruct                 // a section of keys (cloud, outbox.…)
	shapeList                   // a list (devices, services, acl, …)
	shapeMap                    // a mapping of names (gateway.labels, services[].env)
	shapeNode                   // any YAML (devices[].options, services[].config)
)

// configKey is one key of the configuration file, found by walking
// Config's yaml tags: every key the file may set.
type configKey struct {
	Path  string // cloud.url; devices[].name for the keys of a list's entries
	Type  reflect.Type
	Shape keyShape
	// Index reaches the field from Config (FieldByIndex); nil inside lists.
	Index []int
}

// inList reports whether the key belongs to the entries of a list.
func (k configKey) inList() bool { return strings.Contains(k.Path, "[]") }

var (
	configKeysOnce sync.Once
	configKeyList  []configKey
)

// configKeys lists every key of Config in file order (struct field order),
// sections before their keys.
func configKeys() []configKey {
	configKeysOnce.Do(func() {
		walkKeys(reflect.TypeFor[Config](), "", nil, &configKeyList)
	})
	return configKeyList
}

var (
	nodeTypeR     = reflect.TypeFor[yaml.Node]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// shapeOf says what a field of type t holds.
func shapeOf(t reflect.Type) keyShape {
	if t == nodeTypeR {
		return shapeNode
	}
	if t == reflect.TypeFor[time.Duration]() || reflect.PointerTo(t).Implements(textUnmarshal) {
		return shapeScalar
	}
	switch t.Kind() {
	case reflect.Pointer:
		return shapeOf(t.Elem())
	case reflect.Struct:
		return shapeStruct
	case reflect.Slice, reflect.Array:
		return shapeList
	case reflect.Map:
		return shapeMap
	case reflect.Interface:
		return shapeNode
	}
	return shapeScalar
}

func walkKeys(t reflect.Type, prefix string, index []int, out *[]configKey) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := name
		if prefix != "" {
			path = prefix + "." + name
		}
		var idx []int
		if index != nil || prefix == "" {
			idx = append(append([]int(nil), index...), i)
		}
		if strings.Contains(path, "[]") {
			idx = nil
		}
		shape := shapeOf(f.Type)
		*out = append(*out, configKey{Path: path, Type: f.Type, Shape: shape, Index: idx})
		switch shape {
		case shapeStruct:
			walkKeys(f.Type, path, idx, out)
		case shapeList:
			elem := f.Type.Elem()
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
			if shapeOf(elem) == shapeStruct {
				walkKeys(elem, path+"[]", nil, out)
			}
		}
	}
}

// shortDuration prints d as a config file would say it: 168h, 10m, 1m30s,
// 500ms (time.Duration's String says 168h0m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
