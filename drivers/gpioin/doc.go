// Package gpioin is the "gpio-in" device kind: a switch, button, door
// contact, float switch or pulse output (a flow or energy meter) on one
// GPIO pin.
//
// Read reports the pin's level as a reading (metric "level" unless
// options.metric names it otherwise): 1 high, 0 low. With options.edge set
// to rising, falling or both, the device also counts edges and Read reports
// the total since start as metric "edges".
//
// Counting runs in Run, which the owner calls in a goroutine of its own
// and which returns, nil, within about 100 ms after its context ends (the
// longest it waits for an edge in one go), or the debounce time if that is
// longer. Run calls WaitForEdge with a
// bounded timeout only, never -1 or 0: periph's gpioioctl driver treats
// -1 as "do not wait" and 0 as "wait for ever", the opposite of the
// others, and a WaitForEdge that returns false at once (gpioioctl with a
// line not set up for edges, or a pin reconfigured under it) would spin a
// core; Run sleeps out the rest of the slice instead. Between two calls the
// kernel may merge edges, so pulses faster than the scheduler can follow
// are undercounted.
//
// options.debounce filters contact bounce: the pin is then watched on both
// edges, and a change counts once the level has held still for the
// debounce time and differs from the last settled level (a rising change
// for rising, a falling one for falling, either for both). Without it every
// reported edge counts.
package gpioin
