package auth

import (
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

func TestBackoffGrowsAndIsBounded(t *testing.T) {
	b := newBackoffs(Backoff{FreeAttempts: 3, Initial: time.Second, Max: 8 * time.Second})
	now := time.Unix(1_000_000, 0)
	for range 3 {
		if w := b.wait(now, "user:bob"); w != 0 {
			t.Fatalf("back-off %v during the free attempts", w)
		}
		b.fail(now, "user:bob")
	}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		if w := b.wait(now, "user:bob"); w != want {
			t.Fatalf("back-off %v, want %v", w, want)
		}
		now = now.Add(b.wait(now, "user:bob")) // the back-off runs out
		b.fail(now, "user:bob")
	}
	if w := b.wait(now, "user:alice", "addr:127.0.0.1"); w != 0 {
		t.Fatalf("other keys back off %v", w)
	}
	b.succeed("user:bob")
	if w := b.wait(now, "user:bob"); w != 0 {
		t.Fatalf("back-off %v after a right password", w)
	}
}

func TestBackoffKeysAreBounded(t *testing.T) {
	b := newBackoffs(Backoff{FreeAttempts: 0, Initial: time.Hour, Max: time.Hour})
	now := time.Unix(1_000_000, 0)
	for i := range 3 * maxBackoffKeys {
		b.fail(now, "user:"+string(rune(0x4e00+i)))
	}
	if n := len(b.m); n > maxBackoffKeys {
		t.Fatalf("%d keys remembered, the most is %d", n, maxBackoffKeys)
	}
}

// TestWrongPasswordsBackOffPerAddressAndUser: 20 wrong passwords cost 3
// password checks; then the address and the user are refused unchecked,
// each on its own.
func TestWrongPasswordsBackOffPerAddressAndUser(t *testing.T) {
	addr, h := startBroker(t, Options{ACL: testACL(t), Backoff: Backoff{FreeAttempts: 3, Initial: time.Hour, Max: time.Hour}})
	for range 20 {
		if _, code := dialV5From(t, addr, "127.0.0.1", "guess", "bob", "guess"); code != packets.ErrBadUsernameOrPassword.Code {
			t.Fatalf("wrong password: CONNACK %#x", code)
		}
	}
	st := h.Stats()
	if st.PasswordChecks != 3 || st.BackoffRefused != 17 || st.AuthRefused != 20 {
		t.Fatalf("checks %d, refused unchecked %d, refused %d; want 3, 17, 20", st.PasswordChecks, st.BackoffRefused, st.AuthRefused)
	}
	tests := []struct {
		name, from, user, password string
		want                       byte
	}{
		{"bob's right password, same address", "127.0.0.1", "bob", "bob-pw", packets.ErrBadUsernameOrPassword.Code},
		{"bob's right password, another address", "127.0.0.2", "bob", "bob-pw", packets.ErrBadUsernameOrPassword.Code},
		{"another user, same address", "127.0.0.1", "admin", "admin-pw", packets.ErrBadUsernameOrPassword.Code},
		{"another user, another address", "127.0.0.3", "admin", "admin-pw", packets.CodeSuccess.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, code := dialV5From(t, addr, tt.from, "c", tt.user, tt.password); code != tt.want {
				t.Fatalf("CONNACK %#x, want %#x", code, tt.want)
			}
		})
	}
	if n := h.Stats().PasswordChecks; n != 4 {
		t.Fatalf("%d password checks, want 4 (3 guesses and admin's login)", n)
	}
}
