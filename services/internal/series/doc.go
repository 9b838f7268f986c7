// Package series is the vocabulary the built-in services share: the Reading
// they consume and emit, the Command they send to actuators, the Key that
// names one device/metric series, and Filter, the MQTT-style pattern
// (boiler/#, +/temperature) that selects series by "device/metric".
//
// It depends on the standard library only, so the services stay pure logic
// that sdk/pluginapi can wrap later.
package series
