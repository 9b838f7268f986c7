// Package rules is the "rules" service: local automations that keep working
// when the cloud is out of reach. Each rule watches one series (or one
// device's liveness), enters its state when a condition holds, and acts
// exactly once on entering and once on clearing (edge-triggered): a command
// to an actuator, an alert reading, or both.
//
// Conditions (when):
//
//   - above / below: the value is over / under a threshold;
//   - rate_above / rate_below: the change over the last per (default 1m),
//     scaled to per, is over / under a rate; the rule judges once it has
//     readings spanning per;
//   - offline: no reading from the device (and metric, if given) for after.
//     It clears on the device's next reading.
//
// A threshold or rate rule may require its condition to hold for a time
// (for) before it fires, and may clear at a different threshold (clear.below
// for above, clear.above for below, clear.rate_below for rate_above,
// clear.rate_above for rate_below): that gap is hysteresis, and stops a value
// hovering at the threshold from switching an actuator on and off at every
// sample. Without a clear threshold a rule clears as soon as its condition
// no longer holds. clear.for holds the clearing the same way.
//
// A condition is taken to hold from the reading that shows it until a
// reading shows otherwise, so a hold is satisfied at since+for whether the
// host's Tick notices it then or the next reading does; actions are dated
// at that instant. Readings older than the last one a rule judged, and NaN
// or infinite values, are ignored (and counted).
//
// An alert is a reading {Device: alert.device, default the watched device;
// Metric: alert.metric, default "alert_<rule name>"; Value: alert.value,
// default 1; Source: "rules"}, dated when the rule fired. On clearing the
// same metric is emitted with value 0, unless clear.then names an alert of
// its own. Offline is judged on the host's clock (the now passed to Process
// and Tick); the service's first call counts as a sighting, so a device
// never heard from goes offline after from then.
//
// A Service is pure logic: time comes in as arguments, nothing runs in the
// background, and it is not safe for concurrent use. The host calls Process
// for each batch and Tick about once a second.
package rules
