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
//
// Reset keys (AddResetKeys) are a second, separate set: they sign reset
// plans (Envelope.Reset) and nothing else, and a reset plan signed by any
// other key is refused.
type Trust struct {
	keys  map[string]ed25519.PublicKey
	reset map[string]ed25519.PublicKey
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

// AddResetKeys adds keys that may sign reset plans, and only those. A key
// that is also a trusted (normal) key is an error: a reset key is kept
// offline, apart from the keys that sign every plan.
func (t *Trust) AddResetKeys(keys ...ed25519.PublicKey) error {
	if t.reset == nil {
		t.reset = make(map[string]ed25519.PublicKey, len(keys))
	}
	for i, k := range keys {
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("plan: reset key %d is %d bytes, an ed25519 public key is %d", i, len(k), ed25519.PublicKeySize)
		}
		id := KeyID(k)
		if _, ok := t.keys[id]; ok {
			return fmt.Errorf("plan: reset key %s is also a trusted key: make a separate reset key with `edged plan keygen` and keep it offline", id)
		}
		if old, ok := t.reset[id]; ok && !old.Equal(k) {
			return fmt.Errorf("plan: reset keys %s: two different keys share this id", id)
		}
		t.reset[id] = append(ed25519.PublicKey(nil), k...)
	}
	return nil
}

// IDs are the ids of the trusted keys, sorted.
func (t *Trust) IDs() []string { return sortedIDs(t.keys) }

// ResetIDs are the ids of the reset keys, sorted.
func (t *Trust) ResetIDs() []string { return sortedIDs(t.reset) }

func sortedIDs(m map[string]ed25519.PublicKey) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// Verify checks that env is signed by a trusted key and parses the plan.
// Errors wrap ErrUnknownKey (naming the id and the trusted ids),
// ErrBadSignature, or come from Parse (ErrTooLarge, ErrInvalid). It does
// not check the version: see CheckVersion. A reset envelope must be signed
// by a reset key, any other by a trusted key; the wrong kind of key is
// ErrUnknownKey.
func (t *Trust) Verify(env Envelope) (*Plan, error) {
	if env.Reset {
		pub, ok := t.reset[env.KeyID]
		if !ok {
			what := "none: list them in plans.reset_keys (edged plan verify: --reset-pub)"
			if len(t.reset) > 0 {
				what = strings.Join(t.ResetIDs(), ", ")
			}
			return nil, fmt.Errorf("plan: reset plan signed by key id %q, which is not a reset key: %w (reset key ids: %s; a normal trusted key cannot reset)", short(env.KeyID), ErrUnknownKey, what)
		}
		return verifyWith(pub, env)
	}
	pub, ok := t.keys[env.KeyID]
	if !ok {
		trusted := "none: list plan public keys in the daemon's config"
		if len(t.keys) > 0 {
			trusted = strings.Join(t.IDs(), ", ")
		}
		if _, isReset := t.reset[env.KeyID]; isReset {
			trusted += "; " + env.KeyID + " is a reset key, which signs reset plans only (edged plan sign --reset)"
		}
		return nil, fmt.Errorf("plan: key id %q: %w (trusted key ids: %s)", short(env.KeyID), ErrUnknownKey, trusted)
	}
	return verifyWith(pub, env)
}

func verifyWith(pub ed25519.PublicKey, env Envelope) (*Plan, error) {
	if len(env.Plan) > MaxSize {
		return nil, fmt.Errorf("plan: %d bytes, over the limit of %d (MaxSize): %w", len(env.Plan), MaxSize, ErrTooLarge)
	}
	if !ed25519.Verify(pub, env.SignedBytes(), env.Signature) {
		return nil, fmt.Errorf("plan: signature by key %s over %d plan bytes: %w (the plan was changed after signing, or signed by another key)", env.KeyID, len(env.Plan), ErrBadSignature)
	}
	return Parse(env.Plan)
}
