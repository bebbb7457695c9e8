// Package auth holds deskhub's account security: password hashing (argon2id), and later tokens,
// one-time codes, WebAuthn and the SSH login stages.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters (RFC 9106's second recommended option, with 64 MiB of memory).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
)

// Password length bounds, in characters and bytes.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 1024
)

// argonSlots bounds how many argon2id computations run at once: each takes 64 MiB, so a flood of
// logins queues here instead of exhausting memory (and the cores are saturated by this many anyway).
var argonSlots = make(chan struct{}, max(2, runtime.NumCPU()))

func argonKey(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
	argonSlots <- struct{}{}
	defer func() { <-argonSlots }()
	return argon2.IDKey(pw, salt, time, memory, threads, keyLen)
}

// ErrMismatch is returned by VerifyPassword for a wrong password.
var ErrMismatch = errors.New("password does not match")

// CheckPassword reports why a new password is unacceptable, or nil.
func CheckPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return errors.New("password must be valid UTF-8")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("password must have at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		return fmt.Errorf("password must have at most %d bytes", MaxPasswordLen)
	}
	return nil
}

// HashPassword returns an argon2id hash of pw in the PHC string format:
// $argon2id$v=19$m=65536,t=3,p=2$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argonKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash made by HashPassword: nil on a match, ErrMismatch on a wrong
// password, another error for a malformed hash.
func VerifyPassword(hash, pw string) error {
	p, err := parseHash(hash)
	if err != nil {
		return err
	}
	key := argonKey([]byte(pw), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	if subtle.ConstantTimeCompare(key, p.key) != 1 {
		return ErrMismatch
	}
	return nil
}

type argonParams struct {
	time, memory uint32
	threads      uint8
	salt, key    []byte
}

// parseHash decodes a PHC argon2id string, refusing parameters that would make verification
// unreasonably expensive (a damaged or hostile hash must not eat the machine).
func parseHash(hash string) (argonParams, error) {
	var p argonParams
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, errors.New("password hash: not an argon2id PHC string")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return p, fmt.Errorf("password hash: unsupported version %q", parts[2])
	}
	var threads uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &threads); err != nil || n != 3 {
		return p, fmt.Errorf("password hash: bad parameters %q", parts[3])
	}
	if p.memory < 8 || p.memory > 1<<20 || p.time < 1 || p.time > 16 || threads < 1 || threads > 16 {
		return p, fmt.Errorf("password hash: parameters out of range %q", parts[3])
	}
	p.threads = uint8(threads)
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(p.salt) < 8 {
		return p, errors.New("password hash: bad salt")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(p.key) < 16 || len(p.key) > 64 {
		return p, errors.New("password hash: bad key")
	}
	return p, nil
}
