// Package outbox is the durable log of edged: readings are appended, made
// durable and numbered, and read oldest first by their consumers. Without
// cursors it is a queue with one consumer, which deletes what it delivered
// with Ack. With named cursors (SetCursors) every consumer — each route,
// each service subscription, the local re-publish — reads through its own
// durable position and acks its own progress, and a reading is deleted once
// every cursor has passed it or a cap drops it.
//
// # Guarantees
//
// When Append returns nil its readings are committed to the bbolt file and,
// with the default Config.Fsync, fsynced: they survive kill -9 and power
// loss. Each reading gets a seq from a per-file counter that only goes up,
// even after every reading was acked and the file reopened, so the cloud can
// detect gaps and drop duplicates. Readings are stored and returned in seq
// order; one Append call is one transaction and gets contiguous seqs.
//
// Ack deletes readings. After a crash an acked reading can come back (it is
// sent twice; delivery is at-least-once) but an appended reading is never
// missing, unless a cap dropped it, which Stats.Dropped counts.
//
// # Cursors
//
// SetCursors makes the file's cursors exactly the names it is given, in one
// transaction: a new name starts at the oldest stored reading (FromOldest,
// a route) or after the newest (FromNewest, a service); a name left out is
// removed and holds nothing back any more. Cursors are stored in the file
// and restored by Open. While there are cursors, Outbox.Ack is refused
// (ErrCursors) and each consumer uses its *Cursor, which is a
// forwarder.Store: Peek returns readings at or after its position, Ack
// marks seqs done in any order. A cursor's position (Next) moves over the
// longest run of done readings; readings no longer stored (holes an older
// release's out-of-order Ack left) count as done. Seqs acked beyond a gap
// wait in memory until the gap is acked, so that memory is bounded by what
// the consumer has in flight. Cursor acks ride the group commit like
// Outbox.Ack, and Ack returns once the new position is committed.
//
// Readings are deleted from the front only: those below every cursor's
// Next, and those the caps drop. A reading a cap drops before a cursor
// passed it is counted in that cursor's Dropped and the cursor moves past
// it; the warning names the cursors and their counts.
//
// After kill -9 or power loss each cursor resumes at its durable Next: it
// may see again readings it acked whose position was not yet committed
// (at-least-once per cursor), never skips one, and no reading at or past a
// cursor's durable Next is deleted except by a cap. A commit that fails
// moves no cursor. A cursor entry of the wrong length restarts that cursor
// at the oldest stored reading; one with an invalid name is ignored; both
// are logged at error.
//
// # Group commit
//
// One writer goroutine owns all writes. Append and Ack queue their request
// and wait; the writer puts everything queued into one bbolt transaction,
// commits (one fsync pair), releases every waiter and starts the next commit
// with whatever queued meanwhile. After a commit it briefly waits for the
// callers it just released to return with their next request, bounded by
// half a commit and 5ms, so the batch size tracks the number of concurrent
// callers (without it, it settles at half of them). Cursor acks and
// SetCursors join the same batches, but that wait counts only Append and
// Outbox.Ack callers: a consumer comes back only once there is more to read.
// At most Config.MaxBatch readings from different calls share a transaction;
// beyond a few full batches waiting, Append blocks (back-pressure).
//
// Peek reads in its own read-only transaction and never waits for the
// writer. Changed gives a forwarder a channel to wait on instead of polling.
//
// # File format
//
// The file is a bbolt database with these buckets:
//
//	readings  key: seq, 8 bytes big-endian   value: a record (codec.go)
//	meta      "format": 1 byte, 1
//	          "state":  next seq, count, bytes, dropped (4 × uint64 BE)
//	cursors   key: cursor name               value: next, acked, dropped (3 × uint64 BE)
//
// The cursors bucket is created by the first SetCursors; a file without it
// (older releases) has no cursors. Cursor entries are written in the same
// transaction as the readings they concern.
//
// A record is a version byte, the time in unix nanoseconds and the value's
// float64 bits (8 bytes big-endian each), then device, metric, unit and
// source as uvarint-length strings. Version 1 records (written before
// Reading.Source existed, no source string) still decode, with Source "", so
// a file from an older release drains after an upgrade. Version 3 is version
// 2 plus one flags byte (bit 0: Reading.Simulated; bit 1: a byte with
// Reading.Hops follows), written only for flagged readings (simulated, or a
// service's emit with Hops > 0), so a device's real readings stay version 2;
// a record without the hops byte decodes with Hops 0. An older release
// cannot read a record with the hops byte (it counts it undecodable and
// drops it). The meta state is rewritten in the transaction
// that changes the readings, so Open reads it and both ends of the readings
// bucket instead of scanning: opening a file of a million readings costs the
// same as an empty one.
//
// A file bbolt rejects, that faults or panics while being opened, or whose
// outbox buckets are missing or malformed, is renamed to
// <path>.corrupt-<unix time> (logged at error) and a new empty file is
// started, so a damaged file never stops the daemon. A lock held by another
// process (ErrLocked) or a permission or I/O error is returned instead.
//
// # Caps
//
// Config.MaxBytes caps the stored bytes (key plus value). Config.MaxAge caps
// the age by Reading.Time. Both delete from the front (oldest seq first) in
// the same transaction as the append that crossed them, at Open and, for
// age, once a minute while idle; the count is persisted in Stats.Dropped and
// logged at warn at most every 10s. The file itself can be larger than
// MaxBytes by the bbolt page overhead and free pages, which bbolt reuses but
// does not return to the file system.
//
// # Errors
//
// Errors name the operation and the file and wrap the cause with %w, e.g.
// "outbox: append 512 readings: write /data/outbox.db: no space left on
// device". A failed append leaves the Outbox usable and is counted in
// Stats.AppendErrors; later appends succeed once the cause is gone. No bbolt
// type appears in the API.
package outbox
