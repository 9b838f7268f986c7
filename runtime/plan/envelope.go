package plan

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// MaxEnvelopeSize is the largest envelope DecodeEnvelope reads: a plan of
// MaxSize bytes in base64 plus room for the signature, key id and JSON.
const MaxEnvelopeSize = (MaxSize+2)/3*4 + 1024

// Envelope is a signed plan as it travels: the exact plan bytes, the time
// it was signed, the ed25519 signature over both and the id of the key that
// made it.
type Envelope struct {
	// Plan is the plan's YAML, byte for byte as signed.
	Plan []byte
	// IssuedAt is when the plan was signed, to the second, in UTC. It is
	// signed with the plan (see SignedBytes). Zero in an envelope signed
	// before issued_at existed: the signature then covers Plan alone.
	IssuedAt time.Time
	// Signature is the 64-byte ed25519 signature of SignedBytes.
	Signature []byte
	// KeyID names the signing key (see KeyID).
	KeyID string
	// Reset marks a reset plan: signed by a reset key (Trust's reset
	// keys, kept offline), it may carry a version below the one a gateway
	// has seen and lowers the gateway's version watermark to its own. It
	// is signed (see SignedBytes) and needs an IssuedAt.
	Reset bool
}

// Sign signs the exact plan bytes and the current time with priv (from
// GenerateKey or ReadPrivateKey) and returns the envelope to publish. It
// does not check the plan: run Parse first.
func Sign(priv ed25519.PrivateKey, plan []byte) Envelope {
	return SignAt(priv, plan, time.Now())
}

// SignAt is Sign with the issue time given (truncated to the second).
func SignAt(priv ed25519.PrivateKey, plan []byte, at time.Time) Envelope {
	e := Envelope{Plan: bytes.Clone(plan), IssuedAt: at.UTC().Truncate(time.Second), KeyID: KeyID(priv.Public().(ed25519.PublicKey))}
	e.Signature = ed25519.Sign(priv, e.SignedBytes())
	return e
}

// SignResetAt signs plan as a reset plan (see Envelope.Reset) at the given
// time (truncated to the second). priv should be a reset key.
func SignResetAt(priv ed25519.PrivateKey, plan []byte, at time.Time) Envelope {
	e := Envelope{Plan: bytes.Clone(plan), IssuedAt: at.UTC().Truncate(time.Second), KeyID: KeyID(priv.Public().(ed25519.PublicKey)), Reset: true}
	e.Signature = ed25519.Sign(priv, e.SignedBytes())
	return e
}

// SignedBytes are the bytes the signature covers: with an issue time,
// "edged-plan-v2\nissued_at:<RFC 3339>\n" followed by the plan; for a
// reset plan "edged-plan-reset-v1\nissued_at:<RFC 3339>\n" followed by the
// plan (another first line, so no normal signature is ever a reset's);
// without an issue time (an envelope from before issued_at), the plan
// alone.
func (e Envelope) SignedBytes() []byte {
	if e.IssuedAt.IsZero() && !e.Reset {
		return e.Plan
	}
	magic := "edged-plan-v2"
	if e.Reset {
		magic = "edged-plan-reset-v1"
	}
	head := magic + "\nissued_at:" + e.IssuedAt.UTC().Format(time.RFC3339) + "\n"
	return append([]byte(head), e.Plan...)
}

// Encode is the envelope's JSON:
// {"plan":"<base64>","issued_at":"<RFC 3339>","signature":"<base64>","key_id":"<hex>"},
// standard base64 with padding; issued_at is left out when zero. A reset
// plan has "kind":"reset" after issued_at.
func (e Envelope) Encode() []byte {
	var issued, kind string
	if !e.IssuedAt.IsZero() {
		issued = e.IssuedAt.UTC().Format(time.RFC3339)
	}
	if e.Reset {
		kind = kindReset
	}
	b, err := json.Marshal(struct {
		Plan      string `json:"plan"`
		IssuedAt  string `json:"issued_at,omitempty"`
		Kind      string `json:"kind,omitempty"`
		Signature string `json:"signature"`
		KeyID     string `json:"key_id"`
	}{base64.StdEncoding.EncodeToString(e.Plan), issued, kind, base64.StdEncoding.EncodeToString(e.Signature), e.KeyID})
	if err != nil { // strings always marshal
		panic("plan: encode envelope: " + err.Error())
	}
	return b
}

// envelopeFields are the required fields of an envelope; issued_at and
// kind are optional.
var envelopeFields = []string{"plan", "signature", "key_id"}

// kindReset is the value of an envelope's "kind" field for a reset plan.
const kindReset = "reset"

// DecodeEnvelope reads an envelope strictly: one JSON object with exactly
// the fields plan, signature and key_id (and optionally issued_at and
// kind, "reset" being its one value), each a string, each once, names
// matched exactly; nothing after the object; plan and signature in
// standard padded base64, the plan at most MaxSize bytes, the signature 64
// bytes, the key id 16 lower-case hex digits. Errors wrap
// ErrMalformedEnvelope or, for size, ErrTooLarge, and say which field.
func DecodeEnvelope(data []byte) (Envelope, error) {
	var env Envelope
	if len(data) > MaxEnvelopeSize {
		return env, fmt.Errorf("plan envelope: %d bytes, over the limit of %d: %w", len(data), MaxEnvelopeSize, ErrTooLarge)
	}
	fields, err := envelopeStrings(data)
	if err != nil {
		return env, fmt.Errorf("%w: %w", ErrMalformedEnvelope, err)
	}
	malformed := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformedEnvelope, fmt.Sprintf(format, args...))
	}
	for _, name := range envelopeFields {
		if _, ok := fields[name]; !ok {
			return env, malformed("missing field %q (want plan, signature and key_id)", name)
		}
	}
	if env.Plan, err = decodeBase64("plan", fields["plan"]); err != nil {
		return env, fmt.Errorf("%w: %w", ErrMalformedEnvelope, err)
	}
	switch {
	case len(env.Plan) == 0:
		return env, malformed(`field "plan" is empty`)
	case len(env.Plan) > MaxSize:
		return env, fmt.Errorf("plan envelope: field \"plan\" holds %d bytes, over the limit of %d (MaxSize): %w", len(env.Plan), MaxSize, ErrTooLarge)
	}
	if env.Signature, err = decodeBase64("signature", fields["signature"]); err != nil {
		return env, fmt.Errorf("%w: %w", ErrMalformedEnvelope, err)
	}
	if len(env.Signature) != ed25519.SignatureSize {
		return env, malformed("field \"signature\" holds %d bytes, an ed25519 signature is %d", len(env.Signature), ed25519.SignatureSize)
	}
	env.KeyID = fields["key_id"]
	if !isKeyID(env.KeyID) {
		return env, malformed("field \"key_id\" is %q, want 16 lower-case hex digits", short(env.KeyID))
	}
	if v, ok := fields["issued_at"]; ok {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil || t.Format(time.RFC3339) != v || t.Location() != time.UTC {
			return env, malformed("field \"issued_at\" is %q, want an RFC 3339 UTC time to the second such as 2026-12-06T09:00:00Z", short(v))
		}
		env.IssuedAt = t
	}
	if v, ok := fields["kind"]; ok {
		if v != kindReset {
			return env, malformed("field \"kind\" is %q, want \"reset\" or no kind field", short(v))
		}
		if env.IssuedAt.IsZero() {
			return env, malformed("a reset plan (\"kind\":\"reset\") needs \"issued_at\"")
		}
		env.Reset = true
	}
	return env, nil
}

// envelopeStrings reads one JSON object of known string fields.
func envelopeStrings(data []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, notJSONObject(err)
	}
	fields := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSONObject(err)
		}
		name, _ := tok.(string) // keys are always strings
		known := name == "issued_at" || name == "kind"
		for _, f := range envelopeFields {
			known = known || f == name
		}
		if !known {
			return nil, fmt.Errorf("unknown field %q (want plan, signature and key_id)", short(name))
		}
		if _, dup := fields[name]; dup {
			return nil, fmt.Errorf("field %q appears twice", name)
		}
		if tok, err = dec.Token(); err != nil {
			return nil, notJSONObject(err)
		}
		s, ok := tok.(string)
		if !ok {
			if d, isDelim := tok.(json.Delim); isDelim && (d == '{' || d == '[') {
				return nil, fmt.Errorf("field %q is a JSON %s, want a string", name, map[json.Delim]string{'{': "object", '[': "array"}[d])
			}
			return nil, fmt.Errorf("field %q is %v, want a string", name, tokenText(tok))
		}
		fields[name] = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, notJSONObject(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	return fields, nil
}

func notJSONObject(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return errors.New(`not a JSON object {"plan":…,"signature":…,"key_id":…}`)
	}
	return fmt.Errorf(`not a JSON object {"plan":…,"signature":…,"key_id":…}: %w`, err)
}

func tokenText(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprint(v)
	case float64:
		return "a number"
	default:
		return fmt.Sprintf("%v", v)
	}
}

// decodeBase64 decodes standard padded base64 and nothing else: no line
// breaks, no spare bits, so every envelope has one spelling.
func decodeBase64(field, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("field %q is not base64: it has a line break", field)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("field %q is not standard base64: %w", field, err)
	}
	return b, nil
}

func isKeyID(s string) bool {
	if len(s) != 16 {
		return false
	}
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}
