// Package poller runs every configured device on its own interval and hands
// what it reads to a sink (the outbox). Each device has its own goroutine, so
// a slow or failing device never delays another; a failing device is marked
// unhealthy, counted, logged at a bounded rate and retried with backoff.
package poller
