// Package gpioout is the "gpio-out" device kind: a relay, LED or other
// on/off load on one GPIO pin.
//
// It is an actuator. Commands arrive as {"action": "set", "value": …} where
// the value is true/false, 1/0 or "on"/"off"; Check validates one without
// touching the pin and Do applies it. The output starts in its declared
// safe state (options.safe_state, default off) the moment New returns, and
// Safe puts it back there: the daemon calls it on shutdown and after a
// crash of whatever commanded it.
//
// With active_low, "on" drives the pin low, as most relay boards want.
//
// Read reports the output as metric "state": 1 for on, 0 for off, the
// state the driver last applied successfully. After a failed change the
// state is unknown and Read fails until a change succeeds.
package gpioout
