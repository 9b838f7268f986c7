// Package progress draws download progress on a terminal: one line,
// redrawn in place with a carriage return, ended with a newline when the
// download completes. Bar is the drawing func; Bytes formats sizes.
package progress
