package scale

import (
	"math"
	"strings"
	"testing"
)

func TestApply(t *testing.T) {
	tests := []struct {
		name     string
		l        Linear
		v, want  float64
		raw      string
		wantUnit string
	}{
		{name: "zero value is the identity", v: 1.25, want: 1.25, raw: "V", wantUnit: "V"},
		{name: "factor and offset", l: Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}, v: 1, want: 1.25, raw: "V", wantUnit: "bar"},
		{name: "offset only keeps factor 1", l: Linear{Offset: 10}, v: 2, want: 12, raw: "V", wantUnit: "V"},
		{name: "negative factor", l: Linear{Factor: -1, Unit: "mV"}, v: 3, want: -3, raw: "V", wantUnit: "mV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.l.Apply(tt.v); got != tt.want {
				t.Errorf("Apply(%v) = %v, want %v", tt.v, got, tt.want)
			}
			if got := tt.l.UnitOr(tt.raw); got != tt.wantUnit {
				t.Errorf("UnitOr(%q) = %q, want %q", tt.raw, got, tt.wantUnit)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		l    Linear
		want string // substring of the error; empty means valid
	}{
		{name: "zero", l: Linear{}},
		{name: "finite", l: Linear{Factor: 1e6, Offset: -3}},
		{name: "nan factor", l: Linear{Factor: math.NaN()}, want: "factor NaN is not a finite number"},
		{name: "inf offset", l: Linear{Offset: math.Inf(-1)}, want: "offset -Inf is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.l.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
