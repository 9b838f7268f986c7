package plan

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

const minimalPlan = "version: 2\ngateway: {id: gw-01}\n"

func TestSignVerifyRoundTrip(t *testing.T) {
	pub, priv, id := GenerateKey()
	trust, err := NewTrust(pub)
	if err != nil {
		t.Fatal(err)
	}
	env := Sign(priv, []byte(minimalPlan))
	if env.KeyID != id || len(env.Signature) != ed25519.SignatureSize || string(env.Plan) != minimalPlan {
		t.Fatalf("%+v", env)
	}
	// Through the wire format and back.
	env, err = DecodeEnvelope(env.Encode())
	if err != nil {
		t.Fatal(err)
	}
	p, err := trust.Verify(env)
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 2 || p.Gateway.ID != "gw-01" {
		t.Fatalf("%+v", p)
	}
}

func TestSignCopiesThePlan(t *testing.T) {
	pub, priv, _ := GenerateKey()
	data := []byte(minimalPlan)
	env := Sign(priv, data)
	data[0] = 'V'
	trust, _ := NewTrust(pub)
	if _, err := trust.Verify(env); err != nil {
		t.Fatalf("changing the caller's slice changed the envelope: %v", err)
	}
}

func TestVerifyTampered(t *testing.T) {
	pub, priv, id := GenerateKey()
	trust, _ := NewTrust(pub)
	env := Sign(priv, []byte(minimalPlan))
	for i := range env.Plan {
		bad := env
		bad.Plan = []byte(minimalPlan)
		bad.Plan[i] ^= 0x01
		_, err := trust.Verify(bad)
		if !errors.Is(err, ErrBadSignature) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
		if want := "plan: signature by key " + id + " over 32 plan bytes: bad signature"; !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("%q does not start with %q", err, want)
		}
	}
	bad := env
	bad.Signature = append([]byte(nil), env.Signature...)
	bad.Signature[10] ^= 0x80
	if _, err := trust.Verify(bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature flipped: %v", err)
	}
	bad.Plan = append([]byte(minimalPlan), '\n')
	bad.Signature = env.Signature
	if _, err := trust.Verify(bad); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("byte appended: %v", err)
	}
	if _, err := trust.Verify(Envelope{Plan: env.Plan, Signature: env.Signature[:63], KeyID: id}); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("short signature: %v", err)
	}
}

func TestVerifyWrongKey(t *testing.T) {
	pub, _, trustedID := GenerateKey()
	_, other, otherID := GenerateKey()
	trust, _ := NewTrust(pub)
	env := Sign(other, []byte(minimalPlan))
	_, err := trust.Verify(env)
	want := `plan: key id "` + otherID + `": unknown signing key (trusted key ids: ` + trustedID + `)`
	if !errors.Is(err, ErrUnknownKey) || err.Error() != want {
		t.Fatalf("%v, want %s", err, want)
	}
	// Signed by another key but claiming the trusted key's id.
	env.KeyID = trustedID
	if _, err := trust.Verify(env); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("forged key id: %v", err)
	}
	none, _ := NewTrust()
	if _, err := none.Verify(env); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "trusted key ids: none") {
		t.Fatalf("no trusted keys: %v", err)
	}
}

func TestRotation(t *testing.T) {
	oldPub, oldPriv, oldID := GenerateKey()
	newPub, newPriv, newID := GenerateKey()
	trust, err := NewTrust(oldPub, newPub, oldPub)
	if err != nil {
		t.Fatal(err)
	}
	if ids := trust.IDs(); len(ids) != 2 || !(ids[0] == min(oldID, newID) && ids[1] == max(oldID, newID)) {
		t.Fatalf("ids %q", ids)
	}
	for name, priv := range map[string]ed25519.PrivateKey{"old": oldPriv, "new": newPriv} {
		if _, err := trust.Verify(Sign(priv, []byte(minimalPlan))); err != nil {
			t.Errorf("%s key: %v", name, err)
		}
	}
	// Each signature belongs to its own key only.
	env := Sign(oldPriv, []byte(minimalPlan))
	env.KeyID = newID
	if _, err := trust.Verify(env); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("old signature under the new id: %v", err)
	}
	// After rotation the old key is refused.
	after, _ := NewTrust(newPub)
	if _, err := after.Verify(Sign(oldPriv, []byte(minimalPlan))); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("old key after rotation: %v", err)
	}
}

func TestNewTrustRejectsBadKeys(t *testing.T) {
	if _, err := NewTrust(make(ed25519.PublicKey, 31)); err == nil || err.Error() != "plan: trusted key 0 is 31 bytes, an ed25519 public key is 32" {
		t.Fatal(err)
	}
}

func TestVerifyThenParse(t *testing.T) {
	pub, priv, _ := GenerateKey()
	trust, _ := NewTrust(pub)
	_, err := trust.Verify(Sign(priv, []byte("version: 1\n")))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "gateway: missing") {
		t.Fatalf("signed but invalid: %v", err)
	}
	big := make([]byte, MaxSize+1)
	if _, err := trust.Verify(Sign(priv, big)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("signed but too large: %v", err)
	}
}
