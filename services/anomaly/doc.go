// Package anomaly is the "anomaly" service: it keeps rolling statistics of
// each selected series (an exponentially weighted mean and variance) and
// scores every reading by how far it lies from them, in standard
// deviations: z = |x − mean| / stddev. A reading scoring above the
// threshold after the warmup is reported as a reading of the same device
// with metric <metric>_anomaly_score, value z, no unit, the reading's time
// and Source "anomaly"; emit_all_scores reports every score after the
// warmup.
//
// A reading is scored against the statistics of the readings before it,
// then folded into them (anomalies too, so a lasting change of level stops
// being anomalous as the statistics adapt). The weight of a new reading is
// alpha, or with half_life 1 − 2^(−Δt/half_life) where Δt is the time since
// the series' previous reading; after a silence of more than
// RestartHalfLives half-lives a series starts over, warmup included.
//
// A constant signal has a standard deviation of 0: a reading equal to the
// mean then scores 0 and any other scores MaxScore. min_stddev floors the
// standard deviation (set it to the sensor's resolution to keep a
// quantised, nearly constant signal from scoring every step as an
// anomaly). Scores never exceed MaxScore and are never NaN.
//
// NaN and infinite values, readings older than their series' previous one,
// and readings of series beyond max_series are ignored and counted.
// Readings whose Source is "anomaly" are ignored, so the service's own
// output routed back to it cannot feed on itself.
//
// A Service is pure logic: time comes in as arguments, nothing runs in the
// background, and it is not safe for concurrent use. It has no
// time-driven outputs; Tick exists for the common service shape and
// returns nothing.
package anomaly
