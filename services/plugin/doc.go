// Package plugin runs a built-in service's logic (aggregate, rules,
// anomaly: deterministic Process/Tick functions) as an edged service
// process behind sdk/pluginapi: it converts readings, ticks the logic
// every second, and sends what the logic emits and commands to the host.
package plugin
