package scale

import (
	"fmt"
	"math"
)

// Linear maps a raw value v to v*Factor+Offset and names the unit of the
// result. The zero value is the identity and keeps the raw unit.
type Linear struct {
	// Factor multiplies the raw value; 0 (unset) means 1, as in the
	// daemon's device scale block.
	Factor float64 `yaml:"factor"`
	// Offset is added after the factor.
	Offset float64 `yaml:"offset"`
	// Unit names the unit of the scaled value, e.g. "bar"; empty keeps the
	// driver's raw unit (such as "V").
	Unit string `yaml:"unit"`
}

// Validate reports a factor or offset that is not a finite number.
func (l Linear) Validate() error {
	if math.IsNaN(l.Factor) || math.IsInf(l.Factor, 0) {
		return fmt.Errorf("factor %v is not a finite number", l.Factor)
	}
	if math.IsNaN(l.Offset) || math.IsInf(l.Offset, 0) {
		return fmt.Errorf("offset %v is not a finite number", l.Offset)
	}
	return nil
}

// Apply returns v*Factor+Offset (Factor 0 counts as 1).
func (l Linear) Apply(v float64) float64 {
	f := l.Factor
	if f == 0 {
		f = 1
	}
	return v*f + l.Offset
}

// UnitOr returns Unit, or raw when Unit is empty.
func (l Linear) UnitOr(raw string) string {
	if l.Unit == "" {
		return raw
	}
	return l.Unit
}
