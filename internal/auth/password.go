// Package auth holds deskhub's credential mechanics: password hashing (argon2id) behind a bounded hash
// queue, the login throttle, tokens and one-time codes (issue, verify, consume). It decides nothing
// about accounts: internal/account owns the account transactions (registration, recovery, password and
// email changes, tokens, SSH keys, WebAuthn, staged logins) and calls auth for the credentials.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
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

// sharedHashes bounds the process's argon2id computations: each takes 64 MiB and keeps argonThreads
// cores busy, so a flood of logins waits its turn here (in order, within a wait limit) instead of
// exhausting memory and making every login slow at once.
var sharedHashes = NewHashQueue(HashQueueOptions{})

// argonKey computes an argon2id key at its turn in the given line of q; admit (nil: none) may refuse
// the caller then.
func argonKey(ctx context.Context, q *HashQueue, line string, admit func() error, pw, salt []byte, p argonParams, keyLen uint32) ([]byte, error) {
	var key []byte
	err := q.Do(ctx, line, admit, func() { key = argon2.IDKey(pw, salt, p.time, p.memory, p.threads, keyLen) })
	return key, err
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
// It waits its turn on the process's hash queue (a 503 error when that is too long).
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key, err := argonKey(context.Background(), sharedHashes, "", nil, []byte(pw), salt,
		argonParams{time: argonTime, memory: argonMemory, threads: argonThreads}, argonKeyLen)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// VerifyPassword checks pw against a hash made by HashPassword: nil on a match, ErrMismatch on a wrong
// password, another error for a malformed hash (or a 503 when the hash queue is too long).
func VerifyPassword(hash, pw string) error {
	return verifyPassword(context.Background(), sharedHashes, "", nil, hash, pw)
}

// verifyPassword is VerifyPassword at its turn in the given line of q, if admit (nil: none) lets it in.
func verifyPassword(ctx context.Context, q *HashQueue, line string, admit func() error, hash, pw string) error {
	p, err := parseHash(hash)
	if err != nil {
		return err
	}
	key, err := argonKey(ctx, q, line, admit, []byte(pw), p.salt, p, uint32(len(p.key)))
	if err != nil {
		return err
	}
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
