package plan

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestResetEnvelope: a reset envelope carries "kind":"reset" through the
// wire format; the flag is signed (dropping or adding it breaks the
// signature), a reset needs issued_at, and kind has one value.
func TestResetEnvelope(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	env := SignResetAt(testKey, []byte(minimalPlan), at)
	enc := env.Encode()
	if !strings.Contains(string(enc), `"issued_at":"2026-12-06T09:00:00Z","kind":"reset"`) {
		t.Fatalf("encoded reset envelope: %s", enc)
	}
	back, err := DecodeEnvelope(enc)
	if err != nil || !back.Reset || !back.IssuedAt.Equal(at) {
		t.Fatalf("decoded: %+v %v", back, err)
	}
	trust, _ := NewTrust()
	if err := trust.AddResetKeys(testKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Verify(back); err != nil {
		t.Fatalf("reset by a reset key: %v", err)
	}
	// The same signature with the flag dropped is a normal plan's that
	// the key never made, and the reverse.
	plain := back
	plain.Reset = false
	normal, _ := NewTrust(testKey.Public().(ed25519.PublicKey))
	if _, err := normal.Verify(plain); !errors.Is(err, ErrBadSignature) {
		t.Errorf("reset signature used for a normal plan: %v, want bad signature", err)
	}
	flipped := SignAt(testKey, []byte(minimalPlan), at)
	flipped.Reset = true
	if _, err := trust.Verify(flipped); !errors.Is(err, ErrBadSignature) {
		t.Errorf("normal signature used for a reset plan: %v, want bad signature", err)
	}
	for _, c := range []struct{ name, json, has string }{
		{"other kind", strings.Replace(string(enc), `"kind":"reset"`, `"kind":"rollback"`, 1), `"kind" is "rollback"`},
		{"reset without issued_at", strings.Replace(string(enc), `"issued_at":"2026-12-06T09:00:00Z",`, "", 1), `needs "issued_at"`},
	} {
		if _, err := DecodeEnvelope([]byte(c.json)); !errors.Is(err, ErrMalformedEnvelope) || !strings.Contains(err.Error(), c.has) {
			t.Errorf("%s: %v, want malformed saying %q", c.name, err, c.has)
		}
	}
}

// TestResetKeysAreSeparate: a normal trusted key cannot sign a reset, a
// reset key cannot sign a normal plan, and one key cannot be both.
func TestResetKeysAreSeparate(t *testing.T) {
	pub, priv, _ := GenerateKey()
	rpub, rpriv, rid := GenerateKey()
	trust, _ := NewTrust(pub)
	if err := trust.AddResetKeys(rpub); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if _, err := trust.Verify(SignResetAt(priv, []byte(minimalPlan), at)); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "not a reset key") || !strings.Contains(err.Error(), rid) {
		t.Errorf("reset signed by a trusted key: %v", err)
	}
	if _, err := trust.Verify(SignAt(rpriv, []byte(minimalPlan), at)); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "reset plans only") {
		t.Errorf("normal plan signed by a reset key: %v", err)
	}
	if _, err := trust.Verify(SignResetAt(rpriv, []byte(minimalPlan), at)); err != nil {
		t.Errorf("reset by the reset key: %v", err)
	}
	if got := trust.ResetIDs(); len(got) != 1 || got[0] != rid {
		t.Errorf("ResetIDs %v", got)
	}
	if err := trust.AddResetKeys(pub); err == nil || !strings.Contains(err.Error(), "also a trusted key") {
		t.Errorf("a trusted key as reset key: %v", err)
	}
}
