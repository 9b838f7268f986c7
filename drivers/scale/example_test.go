package scale_test

import (
	"fmt"

	"github.com/edged-gateway/edged/drivers/scale"
)

// A 0.5–4.5 V pressure transducer reading 0–10 bar.
func ExampleLinear() {
	l := scale.Linear{Factor: 2.5, Offset: -1.25, Unit: "bar"}
	fmt.Printf("%.2f %s\n", l.Apply(2.5), l.UnitOr("V"))
	// Output: 5.00 bar
}
