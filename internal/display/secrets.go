// Package display relays a browser's websocket to a session's RFB (VNC) server: one-time connect
// secrets, the websocket↔stream relay with per-session client accounting, and the RFB client→server
// filter that enforces view-only sharing.
package display

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/revoke"
)

// Grant is what a redeemed secret entitles its holder to: one display connection to a session, for as
// long as the credentials it was issued through (Deps) stand.
type Grant struct {
	SessionID string
	ViewOnly  bool
	UserID    int64
	Label     string      // who, for logs (user name, "share:<share id>"); never a secret
	Deps      revoke.Deps // the token, share and account the secret was issued through
}

// ErrSecret is returned for an unknown, already used or expired secret; the three look the same.
var ErrSecret = errors.New("display: invalid or expired connect secret")

// DefaultSecretTTL is the lifetime of a secret when NewSecrets is given ttl <= 0.
const DefaultSecretTTL = 30 * time.Second

const secretBytes = 32 // 256 bits

type secretEntry struct {
	hash    [sha256.Size]byte
	grant   Grant
	expires time.Time
}

// Secrets issues and redeems one-time display secrets. Only SHA-256 hashes of the secrets are kept,
// in memory; each secret can be redeemed once, before it expires. Safe for concurrent use.
type Secrets struct {
	ttl    time.Duration
	now    func() time.Time
	mu     sync.Mutex
	m      map[[sha256.Size]byte]*secretEntry
	issued int
}

// NewSecrets returns an empty store. ttl <= 0 means DefaultSecretTTL; now == nil means time.Now.
func NewSecrets(ttl time.Duration, now func() time.Time) *Secrets {
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	if now == nil {
		now = time.Now
	}
	return &Secrets{ttl: ttl, now: now, m: make(map[[sha256.Size]byte]*secretEntry)}
}

// Issue creates a secret for g and returns it (URL-safe base64, 43 characters).
func (s *Secrets) Issue(g Grant) string {
	var raw [secretBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		panic("display: crypto/rand failed: " + err.Error()) // never happens on Linux
	}
	secret := base64.RawURLEncoding.EncodeToString(raw[:])
	h := sha256.Sum256([]byte(secret))
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.issued++
	if s.issued%64 == 0 {
		s.sweepLocked(now)
	}
	s.m[h] = &secretEntry{hash: h, grant: g, expires: now.Add(s.ttl)}
	return secret
}

// Redeem consumes secret and returns its grant. Unknown, used and expired secrets all give ErrSecret.
func (s *Secrets) Redeem(secret string) (Grant, error) {
	if len(secret) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return Grant{}, ErrSecret
	}
	h := sha256.Sum256([]byte(secret))
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[h]
	if !ok {
		return Grant{}, ErrSecret
	}
	delete(s.m, h) // single use, whatever happens next
	// The map is keyed by the hash, so the lookup reveals nothing about the secret through timing;
	// the comparison of the stored hash is constant-time all the same.
	if subtle.ConstantTimeCompare(e.hash[:], h[:]) != 1 || !s.now().Before(e.expires) {
		return Grant{}, ErrSecret
	}
	return e.grant, nil
}

// Len reports how many unredeemed secrets are held (expired ones included until swept).
func (s *Secrets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Sweep forgets expired secrets. Issue calls it now and then; callers may call it on a timer.
func (s *Secrets) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *Secrets) sweepLocked(now time.Time) {
	for k, e := range s.m {
		if !now.Before(e.expires) {
			delete(s.m, k)
		}
	}
}
