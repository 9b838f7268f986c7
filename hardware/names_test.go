package hardware

import "testing"

func TestDevicePaths(t *testing.T) {
	tests := []struct{ got, want string }{
		{i2cDevice(1), "/dev/i2c-1"},
		{i2cDevice(0), "/dev/i2c-0"},
		{spiDevice(0, 1), "/dev/spidev0.1"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
