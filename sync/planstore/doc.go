// Package planstore is the gateway's durable memory of orchestration plans:
// the last good plan, the one before it, the highest plan version ever
// attempted and the last plan status document. It lives in a bbolt file of
// its own, <data_dir>/plans.db, so that a gateway rebooted with no network
// comes back to the last good plan.
//
// A plan is kept as the exact signed envelope bytes it arrived in. This
// package never parses them: the caller verifies the signature again when it
// loads a plan, so a file edited on disk cannot make the gateway run a plan
// the cloud did not sign.
//
// # Guarantees
//
// Every Set method is one bbolt transaction, committed and fsynced before it
// returns nil: a record that SetApplied accepted survives kill -9 and power
// loss. SetApplied makes a record current and keeps the one it replaces as
// history; anything older is overwritten in the same transaction, so the
// file holds at most two plans. Attempted only goes up, and is at least the
// version of the current plan.
//
// Only one process may have the file open: a second Open (from this or
// another process) waits Config.Timeout for the lock and then fails with
// ErrLocked, which means another edged is running on the same data_dir.
//
// # File format
//
// The file is a bbolt database with two buckets:
//
//	plans  "current":   the applied Record, JSON
//	       "previous":  the Record applied before it, JSON
//	meta   "format":    1 byte, 1
//	       "attempted": the highest attempted version, 8 bytes big-endian
//	       "status":    the last status document, as given
//	       "issued":    the newest plan signature time, Unix seconds, 8 bytes big-endian
//
// Beside it, <path>.version (WatermarkPath) holds the highest attempted
// version and the newest signature time again, as one text line with a
// CRC, replaced atomically (temp file, fsync, rename, fsync of the
// directory) before the bbolt file changes.
// Attempted and Issued are the larger of the two copies, so a damaged
// plans.db moved aside and started afresh still refuses replayed plans.
// Reset (for a verified reset plan) is the one write that lowers the
// attempted version: the watermark file first, then the bbolt file. A
// crash between the two leaves the higher version in effect (Open raises
// the watermark back to plans.db's), which refuses more, never less.
//
// Open reads and decodes all of it, so damage shows at Open as ErrCorrupt
// naming the file, rather than later. A damaged file is left where it is:
// whether to move it aside and start without a plan is the caller's choice.
//
// # Errors
//
// Errors start with "planstore: ", name the operation and the file, and wrap
// their cause with %w, e.g. "planstore: set applied version 7 in
// /data/plans.db: write /data/plans.db: no space left on device". Match them
// with errors.Is against the sentinels in errors.go. No bbolt type or error
// value appears in the API; bbolt's own errors are kept as text only.
package planstore
