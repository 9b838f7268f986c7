// Package layering holds no code: its test keeps the dependency directions
// of docs/ARCHITECTURE.md true, by listing every package's imports with
// `go list -deps` and failing on a forbidden pair.
package layering
