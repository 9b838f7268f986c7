package main

import "testing"

func TestSuggest(t *testing.T) {
	tests := []struct {
		word string
		want string
	}{
		{"statsu", "status"},
		{"stauts", "status"},
		{"plna", "plan"},
		{"devics", "devices"},
		{"bme28", ""}, // not a command
		{"x", ""},
		{"frobnicate", ""},
		{"run", "run"},
	}
	for _, tc := range tests {
		if got := suggest(tc.word, commandNames); got != tc.want {
			t.Errorf("suggest(%q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if got := suggest("bme28", []string{"bme280", "sht3x", "ads1115"}); got != "bme280" {
		t.Errorf("suggest(bme28, kinds) = %q", got)
	}
}
