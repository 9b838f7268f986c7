// Package artifacts keeps the binaries of third-party services in a
// content-addressed store. Orchestration plans name a service binary by url
// and sha256; the orchestrator calls Fetch(ctx, url, sum, progress) before it
// starts the service and gets back the path of a verified, executable file.
//
// # Layout
//
// The store is one flat directory (the daemon passes data_dir/artifacts):
//
//	<sum>            a complete artifact: its sha256 was verified, it was
//	                 fsynced and made 0755, then renamed into place
//	<sum>.part       a download in progress, or one that was interrupted
//	<sum>.part.meta  JSON with the url and the ETag / Last-Modified the
//	                 server gave for the .part, used to resume it
//
// <sum> is the sha256 in 64 lower-case hex digits. A file named <sum> is only
// ever created by a rename after the hash of its whole content matched, so
// an artifact in the store is trusted without hashing it again: a second
// plan that names the same sum reuses it with no download. Other files in
// the directory are left alone.
//
// # Downloads and resume
//
// Sources are http://, https:// and file:///absolute/path URLs. A file://
// source is copied afresh every time. An http(s) download that fails part
// way (connection lost, context cancelled, no data for Config.StallTimeout)
// keeps its .part and .part.meta; the next Fetch of the same sum hashes the
// bytes already there and asks for the rest with Range: bytes=N-, plus
// If-Range with the strong ETag (or else the Last-Modified) recorded in the
// meta file when it came from the same url. The server's answer decides:
//
//	206 with Content-Range starting at N  append to the part
//	200                                   the range was ignored (or the
//	                                      If-Range validator no longer
//	                                      matches): truncate, start over
//	416, or 206 starting elsewhere        truncate, ask again without Range
//
// The sha256 always covers the whole file. A mismatch removes the part and
// its meta, so the next Fetch starts from zero. So does an artifact over
// Config.MaxBytes. Other failures (HTTP status errors, I/O errors) keep the
// part for the next attempt.
//
// Fetch calls for one sum are serialised by a per-sum lock inside a Store;
// two Stores (or two processes) on one directory are not coordinated.
//
// # Garbage collection
//
// GC(keep) removes every artifact whose sum is not in keep, every .part and
// .part.meta of such sums, and the leftover parts of artifacts that are
// complete. It skips sums that a Fetch is working on at that moment, so it
// may run alongside downloads. It returns the sums of the artifacts it
// removed.
package artifacts
