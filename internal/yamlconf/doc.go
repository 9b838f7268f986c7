// Package yamlconf decodes YAML configuration strictly into Go structs and
// reports every problem with the field path a user can find in the file
// (`devices[2].interval: "5 sec" is not a duration, use e.g. 500ms, 10s, 5m`).
//
// Unknown keys, duplicate keys, wrong types and unparsable values are all
// errors; decoding goes on after a problem so that one run lists them all.
// It also holds Size, the "256Mi"-style byte size used across edged's files.
package yamlconf
