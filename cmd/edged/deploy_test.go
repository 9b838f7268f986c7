package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// unitLines returns the key=value lines of a systemd unit file.
func unitLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") {
			out = append(out, l)
		}
	}
	return out
}

// TestSystemdUnitNeedsNoPiOnlyGroup: systemd refuses to start a unit whose
// SupplementaryGroups= names a group the host lacks (gpio, i2c and spi
// exist on Raspberry Pi OS only), so the unit names none; it grants the
// device nodes periph opens for I2C, SPI and GPIO, and nothing more (PWM's
// /dev/mem lives in the optional drop-in).
func TestSystemdUnitNeedsNoPiOnlyGroup(t *testing.T) {
	allowed := map[string]bool{}
	for _, l := range unitLines(t, "../../deploy/edged.service") {
		if strings.HasPrefix(l, "SupplementaryGroups=") {
			t.Errorf("deploy/edged.service: %q fails to start on a host without those groups", l)
		}
		if v, ok := strings.CutPrefix(l, "DeviceAllow="); ok {
			allowed[v] = true
		}
	}
	for _, want := range []string{"char-i2c rw", "char-spi rw", "char-gpiochip rw", "/dev/gpiomem rw"} {
		if !allowed[want] {
			t.Errorf("deploy/edged.service does not allow %s", want)
		}
	}
	if allowed["/dev/mem rw"] {
		t.Error("deploy/edged.service allows /dev/mem: that belongs in the PWM drop-in")
	}
	pwm := strings.Join(unitLines(t, "../../deploy/edged-pwm.conf"), "\n")
	if !strings.Contains(pwm, "DeviceAllow=/dev/mem rw") || !strings.Contains(pwm, "DeviceAllow=/dev/vcio rw") {
		t.Errorf("deploy/edged-pwm.conf does not grant what bcm283x PWM opens:\n%s", pwm)
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit with its
// PWM drop-in (ExecStart pointed at an executable that exists here): no
// unknown keys, no bad values.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this host")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../deploy/edged.service")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	unit := filepath.Join(dir, "edged.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/edged", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	pwm, err := os.ReadFile("../../deploy/edged-pwm.conf")
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(unit+".d", 0o755)
	if err := os.WriteFile(filepath.Join(unit+".d", "pwm.conf"), pwm, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
