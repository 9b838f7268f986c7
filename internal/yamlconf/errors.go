package yamlconf

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a file: where it is and what to do about it.
type FieldError struct {
	// Path is the field path, e.g. "cloud.tls.ca_file" or "devices[1].name".
	Path string
	// Line is the 1-based line in the file, or 0 when unknown.
	Line int
	// Msg says what is wrong and, where there is one, the fix.
	Msg string
}

// Error formats the problem as "path: msg (line N)".
func (e FieldError) Error() string {
	p := e.Path
	if p == "" {
		p = "(top level)"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s: %s (line %d)", p, e.Msg, e.Line)
	}
	return fmt.Sprintf("%s: %s", p, e.Msg)
}

// Errors is every problem found in one file, in file order.
type Errors []FieldError

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Add appends a problem at path with a formatted message.
func (es *Errors) Add(path, format string, args ...any) {
	*es = append(*es, FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns es as an error, or nil when there are no problems.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Join builds a child path: Join("cloud", "tls") is "cloud.tls".
func Join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// Index builds an element path: Index("devices", 2) is "devices[2]".
func Index(parent string, i int) string {
	return fmt.Sprintf("%s[%d]", parent, i)
}
