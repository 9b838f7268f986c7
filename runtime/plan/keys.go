package plan

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PEM block types of the key files.
const (
	privateKeyType = "EDGED PLAN PRIVATE KEY"
	publicKeyType  = "EDGED PLAN PUBLIC KEY"
	keyIDHeader    = "Key-Id"
)

// KeyID is the id of a public key: the first 8 bytes of the sha256 of its
// 32 bytes, in lower-case hex (16 characters). Envelopes carry it so a
// gateway picks the key without trying each.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// GenerateKey makes a new signing key pair from crypto/rand and returns it
// with the public key's id.
func GenerateKey() (ed25519.PublicKey, ed25519.PrivateKey, string) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil { // crypto/rand does not fail (it crashes the program instead)
		panic("plan: generate key: " + err.Error())
	}
	return pub, priv, KeyID(pub)
}

// EncodePrivateKey is the PEM text of a private key file: the 32-byte seed
// in an "EDGED PLAN PRIVATE KEY" block with a Key-Id header.
func EncodePrivateKey(priv ed25519.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{
		Type:    privateKeyType,
		Headers: map[string]string{keyIDHeader: KeyID(priv.Public().(ed25519.PublicKey))},
		Bytes:   priv.Seed(),
	})
}

// EncodePublicKey is the PEM text of a public key file: the 32-byte key in
// an "EDGED PLAN PUBLIC KEY" block with a Key-Id header.
func EncodePublicKey(pub ed25519.PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{
		Type:    publicKeyType,
		Headers: map[string]string{keyIDHeader: KeyID(pub)},
		Bytes:   pub,
	})
}

// ParsePrivateKey reads the PEM text EncodePrivateKey writes.
func ParsePrivateKey(data []byte) (ed25519.PrivateKey, error) {
	seed, err := decodePEM(data, privateKeyType, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if err := checkKeyIDHeader(data, priv.Public().(ed25519.PublicKey)); err != nil {
		return nil, err
	}
	return priv, nil
}

// ParsePublicKey reads the PEM text EncodePublicKey writes, as found in a
// public key file or pasted into the daemon's config.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, err := decodePEM(data, publicKeyType, ed25519.PublicKeySize)
	if err != nil {
		return nil, err
	}
	pub := ed25519.PublicKey(b)
	if err := checkKeyIDHeader(data, pub); err != nil {
		return nil, err
	}
	return pub, nil
}

// decodePEM returns the bytes of the one PEM block of type typ in data.
func decodePEM(data []byte, typ string, size int) ([]byte, error) {
	block, rest := pem.Decode(data)
	switch {
	case block == nil:
		return nil, fmt.Errorf("no %q PEM block", typ)
	case block.Type != typ:
		return nil, fmt.Errorf("a %q PEM block, want %q", block.Type, typ)
	case len(bytes.TrimSpace(rest)) > 0:
		return nil, errors.New("data after the PEM block: a key file holds one key")
	case len(block.Bytes) != size:
		return nil, fmt.Errorf("%q block holds %d bytes, want %d", typ, len(block.Bytes), size)
	}
	return block.Bytes, nil
}

// checkKeyIDHeader refuses a Key-Id header that does not match the key: an
// edited or mixed-up file.
func checkKeyIDHeader(data []byte, pub ed25519.PublicKey) error {
	block, _ := pem.Decode(data)
	if id, ok := block.Headers[keyIDHeader]; ok && id != KeyID(pub) {
		return fmt.Errorf("%s header says %s but the key's id is %s", keyIDHeader, id, KeyID(pub))
	}
	return nil
}

// ReadPrivateKey reads a private key file.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: read private key: %w", err)
	}
	priv, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("plan: read private key %s: %w", path, err)
	}
	return priv, nil
}

// ReadPublicKey reads a public key file.
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("plan: read public key: %w", err)
	}
	pub, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("plan: read public key %s: %w", path, err)
	}
	return pub, nil
}

// WritePrivateKey writes a private key file readable by its owner only
// (0600), atomically: a temporary file in the same directory, synced, then
// renamed over path. It replaces a file already at path; callers that must
// not (keygen) check first.
func WritePrivateKey(path string, priv ed25519.PrivateKey) error {
	if err := writeAtomic(path, EncodePrivateKey(priv), 0o600); err != nil {
		return fmt.Errorf("plan: write private key: %w", err)
	}
	return nil
}

// WritePublicKey writes a public key file (0644) atomically, like
// WritePrivateKey.
func WritePublicKey(path string, pub ed25519.PublicKey) error {
	if err := writeAtomic(path, EncodePublicKey(pub), 0o644); err != nil {
		return fmt.Errorf("plan: write public key: %w", err)
	}
	return nil
}

// writeAtomic puts data at path with mode perm so that path holds either
// its old content or all of data, even across a power cut.
func writeAtomic(path string, data []byte, perm os.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*") // created 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
