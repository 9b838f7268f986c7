// Package aggregate is the "aggregate" service: it cuts the readings of
// selected series into tumbling windows aligned to the wall clock and emits,
// per window and series, a few statistics (min, max, mean, count, last by
// default) as derived readings, so that a gateway can send one summary a
// minute to the cloud instead of every sample.
//
// Windows are [k·window, (k+1)·window) in UTC since the Unix epoch, so a 1m
// window closes on every whole minute and a 1h window on every whole hour;
// window must divide a day. A series' window closes when a reading of that
// series from a later window arrives (Process), or when the clock passes its
// end plus grace (Tick). Each statistic is emitted as a reading of the same
// device, with metric <metric>_<stat> (see Config.Naming), the unit of the
// series (none for count), Time = the window's end and Source "aggregate".
//
// A reading older than the window it would belong to has missed its window:
// it is counted (Stats.Late) and dropped, never folded into a later window.
// So are readings of series beyond Config.MaxSeries (Stats.SeriesDropped),
// readings dated a whole window or more after now (Stats.Future), and
// readings with a NaN or infinite value or a time outside 1970–2262
// (Stats.Invalid). Readings whose Source is "aggregate" are ignored, so the
// service's own output routed back to it cannot feed on itself.
//
// A Service is pure logic: time comes in as arguments, nothing runs in the
// background, and it is not safe for concurrent use. The host (behind
// sdk/pluginapi) calls Process for each batch and Tick about once a
// second, from one goroutine.
package aggregate
