// Package mosquittotest runs a real mosquitto broker for tests and
// benchmarks.
//
// Start launches the Debian mosquitto binary on a free 127.0.0.1 port with a
// generated configuration in the test's temporary directory, waits until it
// accepts TCP connections and stops it when the test ends, printing its log
// if the test failed. Stop, Restart, Kill and Pause let a test take the
// broker away in the ways a real link fails.
//
// Without the binary, Start skips the test, unless the CI environment
// variable is set, in which case it fails it: CI must never pass by
// skipping. Install it with `apt-get install mosquitto mosquitto-clients`.
//
// Everything listens on loopback only.
package mosquittotest
