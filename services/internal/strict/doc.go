// Package strict decodes a service's YAML or JSON configuration into its
// Config struct and refuses anything it does not understand: an unknown or
// repeated key, a value of the wrong type, a duration without a unit. Every
// problem is reported with the field path a user finds in the file
// (rules[2].when.abvoe: unknown key: did you mean "above"?), all of them in
// one error so a single run lists them all.
//
// The final decode is go.yaml.in/yaml/v3 with KnownFields; the walk before
// it only exists to name paths.
package strict
