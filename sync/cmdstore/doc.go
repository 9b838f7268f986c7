// Package cmdstore is the gateway's durable memory of command ids: for each
// "<device>\x00<id>" the bytes of its result (JSON, opaque here), in a bbolt
// file (<data_dir>/commands.db) committed with fsync before Store returns.
// It is what lets a command redelivered after a reboot be answered instead
// of run again, and a command cut off by a crash be answered as
// interrupted.
//
// The file is bounded by count (MaxEntries, oldest first out) and by age
// (MaxAge; an entry past it is forgotten on read and removed on the next
// write). A file that does not open as a command store is moved aside
// (commands.db.corrupt-<time>) and a fresh one started: losing this memory
// only weakens the once-per-id promise for commands older than the file,
// which is logged.
//
// Layout: bucket "results" maps an 8-byte big-endian sequence (insertion
// order) to [8-byte unix-nano time][uvarint key length][key][result];
// bucket "index" maps the key to its sequence.
package cmdstore
