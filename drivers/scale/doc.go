// Package scale turns a driver's raw value (volts from an ADC channel, for
// example) into engineering units: v*Factor+Offset, in Unit.
//
// It is the per-channel counterpart of the daemon's per-device scale block
// and has the same keys (factor, offset, unit), so a channel of an ADC reads
// like a device of its own:
//
//	channels:
//	  - input: a0
//	    metric: pressure
//	    scale: {factor: 2.5, offset: -1.25, unit: bar}
//
// It imports only the standard library.
package scale
