// Package gauges keeps the last value of each device metric for
// Prometheus: one series per device, metric and unit, at most MaxSeries of
// them. A reading of a series beyond the cap is counted as dropped, never
// kept, so what a sensor on the LAN names cannot grow /metrics without
// bound. Forget deletes the series of devices that left.
package gauges
