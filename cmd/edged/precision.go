package main

import (
	"math"
	"strings"
)

// maxPrecision is the most decimals a device's precision may ask for.
const maxPrecision = 9

// unitDecimals are the decimals a value shows in logs when its device sets
// no precision: roughly the resolution of the sensors that report in that
// unit (a BME280 resolves 0.01 °C and 0.18 Pa, an SHT3x 0.01 %RH, an
// ADS1115 at gain 1 0.125 mV). Units not listed keep 6 significant digits.
var unitDecimals = map[string]int{
	"c": 2, "°c": 2, "f": 2, "°f": 2, "k": 2,
	"%rh": 1, "%": 1,
	"hpa": 2, "pa": 0, "kpa": 3, "bar": 4, "mbar": 2,
	"v": 3, "mv": 1, "a": 3, "ma": 1, "w": 1, "kw": 3, "wh": 1, "kwh": 3, "va": 1, "var": 1,
	"hz": 2, "lx": 0, "ppm": 0, "ppb": 0, "dbm": 0, "rpm": 0, "s": 3, "ms": 1,
}

// precisionFor returns the decimals of a device's values in unit: the
// device's own precision, else its unit's, else -1 (6 significant digits).
func precisionFor(dev *int, unit string) int {
	if dev != nil {
		return *dev
	}
	if n, ok := unitDecimals[strings.ToLower(strings.TrimSpace(unit))]; ok {
		return n
	}
	return -1
}

// roundTo rounds v to n decimals (n < 0: 6 significant digits), so a log
// line shows 19.95 C rather than 19.950983468089202.
func roundTo(v float64, n int) float64 {
	if n < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return roundSig(v, 6)
	}
	p := math.Pow10(n)
	r := math.Round(v*p) / p
	if math.IsInf(r, 0) || math.IsNaN(r) { // v*p overflowed
		return roundSig(v, 6)
	}
	return r
}
