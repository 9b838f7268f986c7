package plan

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// testKey is a fixed key, so envelopes in tables and seeds are stable.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func TestEnvelopeEncode(t *testing.T) {
	env := SignAt(testKey, []byte(minimalPlan), time.Date(2026, 12, 6, 9, 0, 0, 999, time.FixedZone("CET", 3600)))
	got := string(env.Encode())
	want := `{"plan":"` + base64.StdEncoding.EncodeToString([]byte(minimalPlan)) + `","issued_at":"2026-12-06T08:00:00Z"` +
		`,"signature":"` + base64.StdEncoding.EncodeToString(env.Signature) + `","key_id":"` + env.KeyID + `"}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := DecodeEnvelope([]byte(got))
	if err != nil || !bytes.Equal(back.Plan, env.Plan) || !bytes.Equal(back.Signature, env.Signature) || back.KeyID != env.KeyID || !back.IssuedAt.Equal(env.IssuedAt) {
		t.Fatalf("%+v, %v", back, err)
	}
}

// TestIssuedAtIsSigned: the issue time is covered by the signature (moving
// it breaks it); an envelope from before issued_at (signature over the plan
// alone, no field) still verifies; a malformed issued_at is refused.
func TestIssuedAtIsSigned(t *testing.T) {
	trust, _ := NewTrust(testKey.Public().(ed25519.PublicKey))
	env := SignAt(testKey, []byte(minimalPlan), time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC))
	if _, err := trust.Verify(env); err != nil {
		t.Fatal(err)
	}
	moved := env
	moved.IssuedAt = env.IssuedAt.Add(time.Hour)
	if _, err := trust.Verify(moved); !errors.Is(err, ErrBadSignature) {
		t.Errorf("issued_at moved: %v, want ErrBadSignature", err)
	}
	legacy := Envelope{Plan: []byte(minimalPlan), Signature: ed25519.Sign(testKey, []byte(minimalPlan)), KeyID: env.KeyID}
	back, err := DecodeEnvelope(legacy.Encode())
	if err != nil || !back.IssuedAt.IsZero() || strings.Contains(string(legacy.Encode()), "issued_at") {
		t.Fatalf("legacy envelope: %+v %v", back, err)
	}
	if _, err := trust.Verify(back); err != nil {
		t.Errorf("legacy envelope: %v", err)
	}
	for _, bad := range []string{"2026-12-06T09:00:00+01:00", "2026-12-06T09:00:00.5Z", "yesterday", ""} {
		data := strings.Replace(string(env.Encode()), "2026-12-06T09:00:00Z", bad, 1)
		if _, err := DecodeEnvelope([]byte(data)); !errors.Is(err, ErrMalformedEnvelope) || !strings.Contains(err.Error(), "issued_at") {
			t.Errorf("issued_at %q: %v", bad, err)
		}
	}
}

func TestDecodeEnvelopeStrict(t *testing.T) {
	env := Sign(testKey, []byte(minimalPlan))
	p64 := base64.StdEncoding.EncodeToString(env.Plan)
	s64 := base64.StdEncoding.EncodeToString(env.Signature)
	id := env.KeyID
	obj := func(fields ...string) string { return "{" + strings.Join(fields, ",") + "}" }
	plan, sig, kid := `"plan":"`+p64+`"`, `"signature":"`+s64+`"`, `"key_id":"`+id+`"`
	tests := []struct {
		name string
		data string
		err  string // "" accepted; else the error's text after the sentinel
	}{
		{"canonical", obj(plan, sig, kid), ""},
		{"any field order, spaces", " {\n " + obj(kid, sig, plan)[1:] + " \n", ""},
		{"escaped name", obj(`"pl\u0061n":"`+p64+`"`, sig, kid), ""},
		{"empty", "", `not a JSON object {"plan":…,"signature":…,"key_id":…}`},
		{"array", "[]", `not a JSON object {"plan":…,"signature":…,"key_id":…}`},
		{"truncated", obj(plan, sig, kid)[:40], `not a JSON object {"plan":…,"signature":…,"key_id":…}: unexpected EOF`},
		{"unknown field", obj(plan, sig, kid, `"version":3`), `unknown field "version" (want plan, signature and key_id)`},
		{"name case differs", obj(`"Plan":"`+p64+`"`, sig, kid), `unknown field "Plan" (want plan, signature and key_id)`},
		{"repeated field", obj(plan, sig, kid, plan), `field "plan" appears twice`},
		{"trailing object", obj(plan, sig, kid) + "{}", "data after the JSON object"},
		{"trailing garbage", obj(plan, sig, kid) + "x", "data after the JSON object"},
		{"missing plan", obj(sig, kid), `missing field "plan" (want plan, signature and key_id)`},
		{"missing signature", obj(plan, kid), `missing field "signature" (want plan, signature and key_id)`},
		{"missing key_id", obj(plan, sig), `missing field "key_id" (want plan, signature and key_id)`},
		{"null field", obj(plan, `"signature":null`, kid), `field "signature" is null, want a string`},
		{"number field", obj(plan, sig, `"key_id":12`), `field "key_id" is a number, want a string`},
		{"object field", obj(`"plan":{"a":1}`, sig, kid), `field "plan" is a JSON object, want a string`},
		{"plan not base64", obj(`"plan":"not base64!"`, sig, kid), `field "plan" is not standard base64: illegal base64 data at input byte 3`},
		{"plan url base64", obj(`"plan":"`+strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte("??>>")))+`"`, sig, kid),
			`field "plan" is not standard base64: illegal base64 data at input byte 3`},
		{"plan unpadded", obj(`"plan":"`+strings.TrimRight(p64, "=")+`"`, sig, kid), `field "plan" is not standard base64: illegal base64 data at input byte 40`},
		{"plan with spare bits", obj(`"plan":"YR=="`, sig, kid), `field "plan" is not standard base64: illegal base64 data at input byte 2`},
		{"plan with line break", obj(`"plan":"`+p64[:8]+`\n`+p64[8:]+`"`, sig, kid), `field "plan" is not base64: it has a line break`},
		{"plan empty", obj(`"plan":""`, sig, kid), `field "plan" is empty`},
		{"signature short", obj(plan, `"signature":"`+base64.StdEncoding.EncodeToString(env.Signature[:63])+`"`, kid),
			`field "signature" holds 63 bytes, an ed25519 signature is 64`},
		{"signature not base64", obj(plan, `"signature":"%%%%"`, kid), `field "signature" is not standard base64: illegal base64 data at input byte 0`},
		{"key id short", obj(plan, sig, `"key_id":"abc"`), `field "key_id" is "abc", want 16 lower-case hex digits`},
		{"key id upper case", obj(plan, sig, `"key_id":"`+strings.ToUpper(id)+`"`), `field "key_id" is "` + strings.ToUpper(id) + `", want 16 lower-case hex digits`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEnvelope([]byte(tc.data))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Plan, env.Plan) || !bytes.Equal(got.Signature, env.Signature) || got.KeyID != id {
					t.Fatalf("%+v", got)
				}
				return
			}
			if !errors.Is(err, ErrMalformedEnvelope) {
				t.Fatalf("%v does not wrap ErrMalformedEnvelope", err)
			}
			if want := "malformed plan envelope: " + tc.err; err.Error() != want {
				t.Fatalf("error %q\nwant  %q", err, want)
			}
		})
	}
}

func TestDecodeEnvelopeSize(t *testing.T) {
	env := Sign(testKey, bytes.Repeat([]byte("#"), MaxSize))
	if _, err := DecodeEnvelope(env.Encode()); err != nil {
		t.Fatalf("a MaxSize plan: %v", err)
	}
	env = Sign(testKey, bytes.Repeat([]byte("#"), MaxSize+1))
	_, err := DecodeEnvelope(env.Encode())
	if !errors.Is(err, ErrTooLarge) || err.Error() != `plan envelope: field "plan" holds 1048577 bytes, over the limit of 1048576 (MaxSize): plan too large` {
		t.Fatalf("a plan of MaxSize+1: %v", err)
	}
	_, err = DecodeEnvelope(bytes.Repeat([]byte(" "), MaxEnvelopeSize+1))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "over the limit of") {
		t.Fatalf("an oversized envelope: %v", err)
	}
}

// FuzzDecodeEnvelope checks that decoding never panics, that every error
// wraps a sentinel, and that what it accepts has one spelling: encoding
// it again and decoding gives the same envelope, and the canonical form
// is a fixed point.
func FuzzDecodeEnvelope(f *testing.F) {
	env := Sign(testKey, []byte(minimalPlan))
	f.Add(env.Encode())
	f.Add(SignResetAt(testKey, []byte(minimalPlan), time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)).Encode())
	f.Add([]byte(`{"plan":"","signature":"","key_id":""}`))
	f.Add([]byte(`{"plan":"YQ==","signature":"YQ==","key_id":"0123456789abcdef","plan":"YQ=="}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := DecodeEnvelope(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedEnvelope) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error without a sentinel: %v", err)
			}
			return
		}
		if len(env.Plan) == 0 || len(env.Plan) > MaxSize || len(env.Signature) != ed25519.SignatureSize || !isKeyID(env.KeyID) {
			t.Fatalf("accepted %+v", env)
		}
		enc := env.Encode()
		back, err := DecodeEnvelope(enc)
		if err != nil {
			t.Fatalf("re-decoding %s: %v", enc, err)
		}
		if !bytes.Equal(back.Plan, env.Plan) || !bytes.Equal(back.Signature, env.Signature) || back.KeyID != env.KeyID || back.Reset != env.Reset || !back.IssuedAt.Equal(env.IssuedAt) {
			t.Fatalf("round trip changed %+v to %+v", env, back)
		}
		if again := back.Encode(); !bytes.Equal(again, enc) {
			t.Fatalf("encoding is not canonical: %s then %s", enc, again)
		}
	})
}
