package mqttload

import (
	"slices"
	"testing"
)

func TestIDSplit(t *testing.T) {
	for _, tc := range []struct{ client, i int }{{0, 0}, {3, 17}, {ProbeClient, 999_999_999}, {MaxClient, 5}} {
		id := ID(tc.client, tc.i)
		if c, i := SplitID(id); c != tc.client || i != tc.i {
			t.Errorf("SplitID(ID(%d, %d)) = %d, %d", tc.client, tc.i, c, i)
		}
		if id >= 1<<53 {
			t.Errorf("ID(%d, %d) = %d: not exact in a float64", tc.client, tc.i, id)
		}
	}
}

func TestIDSet(t *testing.T) {
	tests := []struct {
		name    string
		a, b    []int64
		missing []int64
	}{
		{"empty", nil, nil, nil},
		{"disjoint clients", []int64{ID(1, 0), ID(1, 64), ID(2, 5)}, []int64{ID(3, 0)}, []int64{ID(1, 0), ID(1, 64), ID(2, 5)}},
		{"some received", []int64{ID(0, 1), ID(0, 2), ID(0, 200), ID(4, 63)}, []int64{ID(0, 2), ID(4, 63), ID(9, 9)}, []int64{ID(0, 1), ID(0, 200)}},
		{"all received", []int64{ID(7, 1000)}, []int64{ID(7, 1000), ID(7, 1)}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var a, b IDSet
			for _, id := range tc.a {
				if !a.Add(id) || a.Add(id) {
					t.Fatalf("Add(%d) twice: want true then false", id)
				}
			}
			for _, id := range tc.b {
				b.Add(id)
			}
			if a.Len() != len(tc.a) {
				t.Errorf("Len = %d, want %d", a.Len(), len(tc.a))
			}
			if got := a.Missing(&b); !slices.Equal(got, tc.missing) {
				t.Errorf("Missing = %v, want %v", got, tc.missing)
			}
			if got := a.CountMissing(&b); got != len(tc.missing) {
				t.Errorf("CountMissing = %d, want %d", got, len(tc.missing))
			}
			u := a.Clone()
			u.AddSet(&b)
			for _, id := range append(slices.Clone(tc.a), tc.b...) {
				if !u.Has(id) {
					t.Errorf("union lacks %d", id)
				}
			}
			want := len(tc.a) + len(tc.b) - (len(tc.a) - len(tc.missing))
			if u.Len() != want {
				t.Errorf("union Len = %d, want %d", u.Len(), want)
			}
			if got := u.IDs(); !slices.IsSorted(got) || len(got) != u.Len() {
				t.Errorf("IDs = %v: not sorted or wrong length", got)
			}
		})
	}
	var s IDSet
	if s.Add(-1) || s.Add(ID(MaxClient+1, 0)) || s.Len() != 0 {
		t.Error("negative or out-of-range ids were added")
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{URL: "mqtt://127.0.0.1:1883", PerClient: 1}, true},
		{"tcp ipv6 loopback", Options{URL: "tcp://[::1]:1883"}, true},
		{"remote host", Options{URL: "mqtt://10.0.0.1:1883"}, false},
		{"host name", Options{URL: "mqtt://localhost:1883"}, false},
		{"no port", Options{URL: "mqtt://127.0.0.1"}, false},
		{"tls scheme", Options{URL: "ssl://127.0.0.1:8883"}, false},
		{"qos 2", Options{URL: "mqtt://127.0.0.1:1883", QoS: 2}, false},
		{"too many clients", Options{URL: "mqtt://127.0.0.1:1883", FirstClient: MaxClient}, false},
		{"window", Options{URL: "mqtt://127.0.0.1:1883", MaxInflight: 70000}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.setDefaults()
			if err := o.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestBridgeConfig(t *testing.T) {
	lines := bridgeConfig("127.0.0.1:1884", []string{"sensors/#", "x/+"}, WithMaxQueuedMessages(0), WithBridgeConfig("keepalive_interval 5"))
	for _, want := range []string{"max_queued_messages 0", "max_inflight_messages 20", "autosave_interval 1800",
		"connection cloud", "address 127.0.0.1:1884", "topic sensors/# out 1", "topic x/+ out 1", "cleansession false",
		"bridge_protocol_version mqttv311", "try_private false", "start_type automatic", "restart_timeout 1", "keepalive_interval 5"} {
		if !slices.Contains(lines, want) {
			t.Errorf("config lacks %q:\n%v", want, lines)
		}
	}
	if i, j := slices.Index(lines, "max_queued_messages 0"), slices.Index(lines, "connection cloud"); i > j {
		t.Error("global options must come before the bridge section")
	}
}
