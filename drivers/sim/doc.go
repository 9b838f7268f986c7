// Package sim is the "sim" device kind: a source of readings that follow a
// deterministic waveform (sine, square, random walk, constant). It lets edged
// run, be demonstrated and be tested end to end without any hardware, and it
// can be polled as fast as every millisecond to load the pipeline.
package sim
