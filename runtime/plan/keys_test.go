package plan

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyID(t *testing.T) {
	pub, _, id := GenerateKey()
	sum := sha256.Sum256(pub)
	if id != hex.EncodeToString(sum[:8]) || id != KeyID(pub) || len(id) != 16 || !isKeyID(id) {
		t.Fatalf("key id %q", id)
	}
	pub2, _, id2 := GenerateKey()
	if id2 == id || pub2.Equal(pub) {
		t.Fatal("two generated keys are the same")
	}
}

func TestKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pub, priv, id := GenerateKey()
	privPath, pubPath := filepath.Join(dir, "plan.key"), filepath.Join(dir, "plan.pub")
	if err := WritePrivateKey(privPath, priv); err != nil {
		t.Fatal(err)
	}
	if err := WritePublicKey(pubPath, pub); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{privPath: 0o600, pubPath: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
	text, _ := os.ReadFile(privPath)
	if !strings.HasPrefix(string(text), "-----BEGIN EDGED PLAN PRIVATE KEY-----\nKey-Id: "+id+"\n") {
		t.Fatalf("private key file:\n%s", text)
	}
	text, _ = os.ReadFile(pubPath)
	if !strings.HasPrefix(string(text), "-----BEGIN EDGED PLAN PUBLIC KEY-----\nKey-Id: "+id+"\n") {
		t.Fatalf("public key file:\n%s", text)
	}
	gotPriv, err := ReadPrivateKey(privPath)
	if err != nil || !gotPriv.Equal(priv) {
		t.Fatalf("private key back: %v", err)
	}
	gotPub, err := ReadPublicKey(pubPath)
	if err != nil || !gotPub.Equal(pub) {
		t.Fatalf("public key back: %v", err)
	}
	// Rewriting replaces the file and leaves no temporary files behind.
	pub2, priv2, _ := GenerateKey()
	if err := WritePrivateKey(privPath, priv2); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadPrivateKey(privPath); !got.Equal(priv2) || !got.Public().(ed25519.PublicKey).Equal(pub2) {
		t.Fatal("rewrite did not replace the key")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Fatalf("left behind: %v", entries)
	}
}

func TestWriteKeyErrors(t *testing.T) {
	_, priv, _ := GenerateKey()
	err := WritePrivateKey(filepath.Join(t.TempDir(), "missing", "plan.key"), priv)
	if err == nil || !strings.HasPrefix(err.Error(), "plan: write private key: ") {
		t.Fatal(err)
	}
	if _, err := ReadPublicKey(filepath.Join(t.TempDir(), "none.pub")); err == nil || !os.IsNotExist(unwrapAll(err)) {
		t.Fatal(err)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestParseKeyErrors(t *testing.T) {
	pub, priv, _ := GenerateKey()
	otherPub, _, otherID := GenerateKey()
	pubPEM, privPEM := EncodePublicKey(pub), EncodePrivateKey(priv)
	block := func(typ string, headers map[string]string, b []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: headers, Bytes: b})
	}
	tests := []struct {
		name    string
		data    []byte
		private bool
		err     string
	}{
		{"public ok", pubPEM, false, ""},
		{"public without header", block(publicKeyType, nil, pub), false, ""},
		{"public with trailing newlines", append(bytes.Clone(pubPEM), "\n\n"...), false, ""},
		{"private ok", privPEM, true, ""},
		{"empty", nil, false, `no "EDGED PLAN PUBLIC KEY" PEM block`},
		{"private given as public", privPEM, false, `a "EDGED PLAN PRIVATE KEY" PEM block, want "EDGED PLAN PUBLIC KEY"`},
		{"public given as private", pubPEM, true, `a "EDGED PLAN PUBLIC KEY" PEM block, want "EDGED PLAN PRIVATE KEY"`},
		{"two keys", append(bytes.Clone(pubPEM), EncodePublicKey(otherPub)...), false, "data after the PEM block: a key file holds one key"},
		{"short key", block(publicKeyType, nil, pub[:31]), false, `"EDGED PLAN PUBLIC KEY" block holds 31 bytes, want 32`},
		{"full private key instead of seed", block(privateKeyType, nil, priv), true, `"EDGED PLAN PRIVATE KEY" block holds 64 bytes, want 32`},
		{"wrong key id header", block(publicKeyType, map[string]string{"Key-Id": otherID}, pub), false,
			"Key-Id header says " + otherID + " but the key's id is " + KeyID(pub)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.private {
				_, err = ParsePrivateKey(tc.data)
			} else {
				_, err = ParsePublicKey(tc.data)
			}
			if got := errText(err); got != tc.err {
				t.Fatalf("error %q, want %q", got, tc.err)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
