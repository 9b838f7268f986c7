// Package plan reads, signs and verifies orchestration plans: the YAML
// documents the cloud pushes to tell a gateway which devices to poll, which
// services to run and how to sync.
//
// # Format
//
// A plan is one YAML document of at most MaxSize bytes (1 MiB; larger plans
// are rejected before they are parsed):
//
//	version: 7                 # whole number ≥ 1; a gateway applies only a newer one
//	gateway: {id: gw-01}       # or {labels: {site: plant-3, role: boiler}}
//	devices: [...]             # kept raw: the daemon checks them with its config code
//	services:                  # kept raw, but for name, depends_on, url and sha256
//	  - {name: db, url: https://…/db, sha256: 9f86…}
//	  - {name: api, kind: rules, depends_on: [db]}
//	sync: {...}                # kept raw
//
// Parse decodes strictly (unknown keys fail, with a did-you-mean) and returns
// every problem with its field path: service names missing or repeated,
// depends_on naming a service the plan lacks, depends_on cycles (named in
// order, `services: depends_on cycle: a → b → c → a`), an artifact url
// whose scheme is not http, https or file, a url without a sha256, a sha256
// that is not 64 hex digits. Plan.Order gives the services' start order.
//
// # Signing
//
// Plans are signed with ed25519: a detached signature over the exact bytes
// of the YAML file, so what the operator signed is what the gateway parses.
// A key's id is the first 8 bytes of the sha256 of its 32-byte public key,
// in lower-case hex (16 characters). Key files are PEM: "EDGED PLAN PRIVATE
// KEY" holds the 32-byte seed (written with mode 0600), "EDGED PLAN PUBLIC
// KEY" the 32-byte public key; both carry a Key-Id header.
//
// # Envelope
//
// On MQTT (`<prefix>/<gateway>/plan`, retained, QoS 1) a plan travels as
//
//	{"plan":"<base64 of the YAML bytes>","signature":"<base64>","key_id":"<16 hex>"}
//
// in standard base64 with padding. DecodeEnvelope rejects unknown, repeated
// or missing fields, trailing data and envelopes over MaxEnvelopeSize.
//
// A reset plan (Envelope.Reset, SignResetAt) has "kind":"reset" and a
// signature over "edged-plan-reset-v1\nissued_at:<time>\n" and the plan,
// so no normal signature is a reset's. Only a reset key
// (Trust.AddResetKeys) signs it, and a reset key signs nothing else; the
// orchestrator applies it whatever its version, once, right after it was
// signed, and lowers the gateway's version watermark to its version.
//
// # Verification
//
// A Trust holds the public keys the gateway accepts (rotation: list the old
// and the new key until every plan is signed by the new one). Trust.Verify
// checks the key id and the signature and then parses; CheckVersion refuses
// a plan whose version is not greater than the one applied, so a replayed
// or stale retained message changes nothing.
package plan
