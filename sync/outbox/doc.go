// Package outbox is the durable store-and-forward queue of edged: readings
// are appended, made durable and numbered, read oldest first by the uplink
// forwarder and deleted once the cloud broker has acknowledged them.
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
// # Group commit
//
// One writer goroutine owns all writes. Append and Ack queue their request
// and wait; the writer puts everything queued into one bbolt transaction,
// commits (one fsync pair), releases every waiter and starts the next commit
// with whatever queued meanwhile. After a commit it briefly waits for the
// callers it just released to return with their next request, bounded by
// half a commit and 5ms, so the batch size tracks the number of concurrent
// callers (without it, it settles at half of them).
// At most Config.MaxBatch readings from different calls share a transaction;
// beyond a few full batches waiting, Append blocks (back-pressure).
//
// Peek reads in its own read-only transaction and never waits for the
// writer. Changed gives a forwarder a channel to wait on instead of polling.
//
// # File format
//
// The file is a bbolt database with two buckets:
//
//	readings  key: seq, 8 bytes big-endian   value: a record (codec.go)
//	meta      "format": 1 byte, 1
//	          "state":  next seq, count, bytes, dropped (4 × uint64 BE)
//
// A record is a version byte, the time in unix nanoseconds and the value's
// float64 bits (8 bytes big-endian each), then device, metric, unit and
// source as uvarint-length strings. Version 1 records (written before
// Reading.Source existed, no source string) still decode, with Source "", so
// a file from an older release drains after an upgrade. Version 3 is version
// 2 plus one flags byte (bit 0: Reading.Simulated), written only for flagged
// readings, so real readings stay version 2. The meta state is rewritten in the transaction
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
