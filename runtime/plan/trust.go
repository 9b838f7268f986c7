package plan

import (
	"crypto/ed25519"
	"fmt"
	"sort"
	"strings"
)

// Trust is the set of public keys whose plans a gateway accepts. To rotate
// keys, list the old and the new one until no plan signed by the old one
// is still wanted, then drop it.
type Trust struct {
	keys map[string]ed25519.PublicKey
}

// NewTrust trusts the given keys. A key listed twice counts once; a key that
// is not 32 bytes is an error. With no keys, every plan is refused.
func NewTrust(keys ...ed25519.PublicKey) (*Trust, error) {
	t := &Trust{keys: make(map[string]ed25519.PublicKey, len(keys))}
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("plan: trusted key %d is %d bytes, an ed25519 public key is %d", i, len(k), ed25519.PublicKeySize)
		}
		id := KeyID(k)
		if old, ok := t.keys[id]; ok && !old.Equal(k) {
			return nil, fmt.Errorf("plan: trusted keys %s: two different keys share this id", id)
		}
		t.keys[id] = append(ed25519.PublicKey(nil), k...)
	}
	return t, nil
}

// IDs are the ids of the trusted keys, sorted.
func (t *Trust) IDs() []string {
	ids := make([]string, 0, len(t.keys))
	for id := range t.keys {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Verify checks that env is signed by a trusted key and parses the plan.
// Errors wrap ErrUnknownKey (naming the id and the trusted ids),
// ErrBadSignature, or come from Parse (ErrTooLarge, ErrInvalid). It does
// not check the version: see CheckVersion.
func (t *Trust) Verify(env Envelope) (*Plan, error) {
	pub, ok := t.keys[env.KeyID]
	if !ok {
		trusted := "none: list plan public keys in the daemon's config"
		if len(t.keys) > 0 {
			trusted = strings.Join(t.IDs(), ", ")
		}
		return nil, fmt.Errorf("plan: key id %q: %w (trusted key ids: %s)", short(env.KeyID), ErrUnknownKey, trusted)
	}
	if len(env.Plan) > MaxSize {
		return nil, fmt.Errorf("plan: %d bytes, over the limit of %d (MaxSize): %w", len(env.Plan), MaxSize, ErrTooLarge)
	}
	if !ed25519.Verify(pub, env.SignedBytes(), env.Signature) {
		return nil, fmt.Errorf("plan: signature by key %s over %d plan bytes: %w (the plan was changed after signing, or signed by another key)", env.KeyID, len(env.Plan), ErrBadSignature)
	}
	return Parse(env.Plan)
}
