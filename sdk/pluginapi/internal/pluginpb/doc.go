// Package pluginpb is the Go code protoc generates from
// sdk/pluginapi/pluginapi.proto (`make proto`). Only sdk/pluginapi
// imports it: the contract's users see plain Go types, never these.
package pluginpb
