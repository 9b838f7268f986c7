// Package mqttload is the harness of the gateway-to-cloud benchmark: a load
// generator of sensor messages (Publish), a counting subscriber on the cloud
// broker (Collector), a mosquitto gateway bridged to the cloud the way users
// run it today (StartBridge), and scenarios that run the same measurement
// against any gateway given its URL and hooks (Throughput, KillAfterAck,
// Outage).
//
// Every message carries a unique id, ID(client, i) = client*1e9 + i, by
// default as its decimal payload. The collector decodes the ids a cloud
// message carries with a user function, since one cloud message may batch
// several readings, and counts unique ids, duplicates and decode errors. A
// message is "lost" when its publish was acknowledged (PUBACK at QoS 1) by
// the gateway and its id never reached the cloud.
//
// Ids stay below 2^53, so they survive a trip through a float64 reading
// value.
//
// The harness only connects to loopback addresses: Publish, NewCollector
// and StartBridge refuse any other host. Every wait is bounded by a context,
// an idle time or a timeout.
package mqttload
