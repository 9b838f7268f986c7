package auth

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// maxPBKDF2Iterations bounds the work one login may cost.
const maxPBKDF2Iterations = 10_000_000

// mosquittoHash is a hash in mosquitto's own formats, as mosquitto_passwd
// writes them: "$7$<iterations>$<salt>$<hash>" (PBKDF2-HMAC-SHA512, the
// default since mosquitto 2.0) or "$6$<salt>$<hash>" (one SHA-512 of
// password then salt), salt and hash in standard base64.
type mosquittoHash struct {
	iterations int // 0 for $6$
	salt, sum  []byte
}

// parseMosquittoHash parses a $6$ or $7$ hash.
func parseMosquittoHash(h string) (mosquittoHash, error) {
	var m mosquittoHash
	parts := strings.Split(h, "$")
	switch {
	case strings.HasPrefix(h, "$7$") && len(parts) == 5:
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 || n > maxPBKDF2Iterations {
			return m, fmt.Errorf("mosquitto $7$ hash has %q iterations, not 1 to %d", parts[2], maxPBKDF2Iterations)
		}
		m.iterations = n
		parts = parts[3:]
	case strings.HasPrefix(h, "$6$") && len(parts) == 4:
		parts = parts[2:]
	default:
		return m, errors.New("mosquitto hash is not $6$salt$hash or $7$iterations$salt$hash")
	}
	var err error
	if m.salt, err = base64.StdEncoding.DecodeString(parts[0]); err != nil || len(m.salt) == 0 {
		return m, errors.New("mosquitto hash has a salt that is not base64")
	}
	if m.sum, err = base64.StdEncoding.DecodeString(parts[1]); err != nil || len(m.sum) != sha512.Size {
		return m, errors.New("mosquitto hash has a hash that is not 64 bytes of base64")
	}
	return m, nil
}

// matches reports whether password gives the hash.
func (m mosquittoHash) matches(password string) bool {
	var sum []byte
	if m.iterations == 0 {
		s := sha512.Sum512(append([]byte(password), m.salt...))
		sum = s[:]
	} else {
		var err error
		if sum, err = pbkdf2.Key(sha512.New, password, m.salt, m.iterations, sha512.Size); err != nil {
			return false
		}
	}
	return subtle.ConstantTimeCompare(sum, m.sum) == 1
}
