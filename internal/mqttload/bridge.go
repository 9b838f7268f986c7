package mqttload

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/edged-gateway/edged/internal/mosquittotest"
)

// Defaults of the bridged gateway: mosquitto's own defaults, restated
// because mosquittotest raises them for its benchmarks.
const (
	// DefaultBridgeMaxQueued is mosquitto's max_queued_messages: per
	// client, so for the bridge too, QoS 1 messages above it are dropped
	// silently.
	DefaultBridgeMaxQueued = 1000
	// DefaultBridgeMaxInflight is mosquitto's max_inflight_messages.
	DefaultBridgeMaxInflight = 20
	// DefaultAutosaveInterval is mosquitto's autosave_interval in seconds:
	// with persistence on, the in-memory database is written every 30
	// minutes and on a clean exit, so kill -9 loses what changed since.
	DefaultAutosaveInterval = 1800
)

// BridgeOption adjusts the gateway mosquitto of StartBridge.
type BridgeOption func(*bridgeOptions)

type bridgeOptions struct {
	maxQueued   int
	maxInflight int
	autosave    int
	extra       []string
}

// WithMaxQueuedMessages sets max_queued_messages (0: no limit).
func WithMaxQueuedMessages(n int) BridgeOption {
	return func(o *bridgeOptions) { o.maxQueued = n }
}

// WithMaxInflightMessages sets max_inflight_messages (0: no limit).
func WithMaxInflightMessages(n int) BridgeOption {
	return func(o *bridgeOptions) { o.maxInflight = n }
}

// WithAutosaveInterval sets autosave_interval in seconds (0: save only on
// exit).
func WithAutosaveInterval(seconds int) BridgeOption {
	return func(o *bridgeOptions) { o.autosave = seconds }
}

// WithBridgeConfig appends lines to the bridge's section of mosquitto.conf
// (after the `connection cloud` block), e.g. "keepalive_interval 10".
func WithBridgeConfig(lines ...string) BridgeOption {
	return func(o *bridgeOptions) { o.extra = append(o.extra, lines...) }
}

// StartBridge starts a gateway mosquitto, as users run it today, bridged
// to the cloud broker at cloudAddr (127.0.0.1:PORT): persistence on,
// `connection cloud` with `topic <t> out 1` for each of topics,
// cleansession false, MQTT 3.1.1, try_private false, automatic start,
// restart_timeout 1, and mosquitto's defaults for queue and in-flight
// limits and autosave_interval unless options change them. The remote
// client id is made unique so that several gateways can share one cloud.
// It stops with the test.
func StartBridge(tb testing.TB, cloudAddr string, topics []string, opts ...BridgeOption) *mosquittotest.Broker {
	tb.Helper()
	if err := checkLoopbackHost(cloudAddr); err != nil {
		tb.Fatalf("mqttload: StartBridge: %v", err)
	}
	if len(topics) == 0 {
		tb.Fatal("mqttload: StartBridge: no topics to bridge")
	}
	return mosquittotest.Start(tb, mosquittotest.WithPersistence(), mosquittotest.WithConfig(bridgeConfig(cloudAddr, topics, opts...)...))
}

// bridgeConfig renders the lines StartBridge appends to mosquittotest's
// configuration (after its listener line).
func bridgeConfig(cloudAddr string, topics []string, opts ...BridgeOption) []string {
	o := bridgeOptions{maxQueued: DefaultBridgeMaxQueued, maxInflight: DefaultBridgeMaxInflight, autosave: DefaultAutosaveInterval}
	for _, opt := range opts {
		opt(&o)
	}
	lines := []string{
		// Global options; mosquitto takes the last value, so these
		// override the generous limits mosquittotest writes first.
		"max_queued_messages " + strconv.Itoa(o.maxQueued),
		"max_inflight_messages " + strconv.Itoa(o.maxInflight),
		"autosave_interval " + strconv.Itoa(o.autosave),
		"connection cloud",
		"address " + cloudAddr,
		fmt.Sprintf("remote_clientid mqttload-gw-%d-%d", os.Getpid(), prefixSeq.Add(1)),
	}
	for _, t := range topics {
		lines = append(lines, "topic "+t+" out 1")
	}
	lines = append(lines,
		"cleansession false",
		"bridge_protocol_version mqttv311",
		"try_private false",
		"start_type automatic",
		"restart_timeout 1",
	)
	return append(lines, o.extra...)
}
