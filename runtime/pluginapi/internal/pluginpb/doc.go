// Package pluginpb is the Go code protoc generates from
// runtime/pluginapi/pluginapi.proto (`make proto`). Only runtime/pluginapi
// imports it: the contract's users see plain Go types, never these.
package pluginpb
