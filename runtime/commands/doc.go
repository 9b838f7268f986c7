// Package commands executes actuator commands: `{"id":"…","action":"set",
// "value":…}` addressed to a device, from the cloud (MQTT) or the local CLI.
//
// A command is decoded strictly, checked against the device (known device,
// allowed action, value in range) and executed at most once per id: a
// redelivered command gets the first execution's result again without
// touching the hardware. Results are `{"id":"…","ok":true|false,"error":"…"}`.
package commands
