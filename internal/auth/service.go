package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/mail"
	"github.com/deskhub/deskhub/internal/store"
)

// Options configure the Service; New fills the zero values.
type Options struct {
	Store  store.Store
	Mailer mail.Sender
	Log    *slog.Logger
	// Now is the clock (tests move it).
	Now func() time.Time
	// CodeTTL is how long one-time codes stay valid (default 1 h).
	CodeTTL time.Duration
	// LoginTTL is the lifetime of login tokens (default 12 h).
	LoginTTL time.Duration
	// MaxTokenLifetime bounds token.create (default 365 days).
	MaxTokenLifetime time.Duration
	// PublicURL is where users reach deskhub, used in mails.
	PublicURL string
	Throttle  ThrottleOptions
	// Hashes is the queue password checks wait on (default: the process's shared one).
	Hashes *HashQueue
}

// Service is deskhub's account security: tokens, one-time codes, password checks with throttling.
type Service struct {
	opts     Options
	st       store.Store
	log      *slog.Logger
	throttle *Throttle
}

// New returns a Service.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = time.Hour
	}
	if o.LoginTTL == 0 {
		o.LoginTTL = 12 * time.Hour
	}
	if o.MaxTokenLifetime == 0 {
		o.MaxTokenLifetime = 365 * 24 * time.Hour
	}
	if o.Hashes == nil {
		o.Hashes = sharedHashes
	}
	s := &Service{opts: o, st: o.Store, log: o.Log.With("component", "auth")}
	s.throttle = NewThrottle(o.Throttle, o.Now)
	return s
}

// Options returns the options in force (defaults filled).
func (s *Service) Options() Options { return s.opts }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.opts.Now() }

// Throttle is the login throttle (shared by every login door).
func (s *Service) Throttle() *Throttle { return s.throttle }

// hashSecret is how tokens and codes are stored: SHA-256 of the secret (secrets are 128+ random bits,
// so a fast hash is enough; no salt is needed for unguessable inputs).
func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenPrefix marks deskhub tokens so that secret scanners can find leaked ones.
const tokenPrefix = "dh_"

// IssueToken makes a token for user of the given type and lifetime, stores its hash and returns the
// secret, which is never stored and shown only this once.
func (s *Service) IssueToken(ctx context.Context, st store.Store, userID int64, typ string, lifetime time.Duration) (string, store.Token, error) {
	if st == nil {
		st = s.st
	}
	secret := tokenPrefix + randomString(32) // 256 bits
	var id [6]byte
	_, _ = rand.Read(id[:])
	now := s.opts.Now().UTC()
	tok := store.Token{
		UserID:    userID,
		Name:      "tok-" + hex.EncodeToString(id[:]),
		Type:      typ,
		Hash:      hashSecret(secret),
		CreatedAt: now,
		ExpiresAt: now.Add(lifetime),
	}
	if err := st.CreateToken(ctx, &tok); err != nil {
		return "", store.Token{}, err
	}
	return secret, tok, nil
}

// TokenState is "active", "revoked" or "expired" at now.
func TokenState(t store.Token, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// ErrBadToken answers a token that is unknown, revoked or expired.
var ErrBadToken = fault.New(fault.Unauthorized, "the token is not valid (unknown, revoked or expired); log in again")

// Verify checks a token secret and returns the token and its user.
func (s *Service) Verify(ctx context.Context, secret string) (store.Token, store.User, error) {
	if len(secret) > 256 {
		return store.Token{}, store.User{}, ErrBadToken
	}
	// One read for the token and its account (was two round trips per request).
	tok, u, err := s.st.GetTokenUser(ctx, hashSecret(secret))
	if errors.Is(err, store.ErrNotFound) {
		return store.Token{}, store.User{}, ErrBadToken
	} else if err != nil {
		return store.Token{}, store.User{}, err
	}
	now := s.opts.Now()
	if TokenState(tok, now) != "active" {
		return store.Token{}, store.User{}, ErrBadToken
	}
	if u.Disabled {
		return store.Token{}, store.User{}, fault.New(fault.Unauthorized, "this account is disabled")
	}
	// Record use at most once a minute: a write per request would cost more than the request.
	if now.Sub(tok.LastUsedAt) > time.Minute {
		if err := s.st.TouchToken(ctx, tok.ID, now); err != nil {
			s.log.Warn("recording token use", "error", err)
		}
	}
	return tok, u, nil
}

// Keepalive extends a login token to a full login lifetime from now; API tokens keep their expiry.
func (s *Service) Keepalive(ctx context.Context, secret string) error {
	tok, err := s.st.GetTokenByHash(ctx, hashSecret(secret))
	if err != nil {
		return ErrBadToken
	}
	if tok.Type != store.TokenUserLogin {
		return nil
	}
	return s.st.ExtendToken(ctx, tok.ID, s.opts.Now().UTC().Add(s.opts.LoginTTL))
}

// CheckLoginPassword checks login and password for a login door, with throttling per account and per
// client address. Unknown account and wrong password fail alike (and take alike long): both wait their
// turn in the address's line of the hash queue, then hash. The throttle is asked on arrival and again
// when the turn comes, before any hashing: a flood of concurrent tries from one address all pass the
// first check (none has failed yet), but once the first few have failed the rest are refused at their
// turn, unhashed, and the line per address keeps them from delaying other addresses' logins meanwhile.
func (s *Service) CheckLoginPassword(ctx context.Context, login, password, remote string) (store.User, error) {
	if err := s.throttle.Check(login, remote); err != nil {
		return store.User{}, err
	}
	u, err := s.st.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.User{}, err
	}
	hash := u.PasswordHash
	if err != nil || hash == "" || u.Provider != store.ProviderLocal {
		hash = dummyHash // same work as a real check, so timing does not tell accounts apart
	}
	admit := func() error { return s.throttle.Check(login, remote) }
	verr := verifyPassword(ctx, s.opts.Hashes, "addr:"+remote, admit, hash, password)
	var refused *fault.Error
	if errors.As(verr, &refused) || ctx.Err() != nil && errors.Is(verr, ctx.Err()) {
		return store.User{}, verr // throttled or queue full (429/503): not a guess, not a failure
	}
	if err != nil || verr != nil || u.Disabled || u.PasswordHash == "" || u.Provider != store.ProviderLocal {
		s.throttle.Fail(login, remote)
		s.log.Info("login failed", "login", login, "remote", remote)
		return store.User{}, fault.New(fault.Unauthorized, "wrong login or password")
	}
	s.throttle.Succeed(login, remote)
	return u, nil
}

// dummyHash is checked in place of a missing account's hash. Only its parameters matter (they set the
// work, the same as a real hash's); no password matches its all-zero key in practice, and a match would
// still be refused. It is written out rather than computed: computing it at package initialisation
// cost every deskhub process, the desktop agent and each CLI command included, 64 MiB of argon2 memory
// and a quarter of a second.
var dummyHash = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
	base64.RawStdEncoding.EncodeToString(make([]byte, saltLen)), base64.RawStdEncoding.EncodeToString(make([]byte, argonKeyLen)))

// Code purposes.
const (
	CodeRegister     = "register"
	CodeRecovery     = "recovery"
	CodeEmail        = "email"
	CodePasswordLock = "password-lock"
)

// IssueCode makes a one-time code (a UUID, as the seed says), stores its hash and mails it to email.
// The mail goes out after the code is stored; a mail failure deletes nothing but is reported.
func (s *Service) IssueCode(ctx context.Context, purpose string, userID int64, email, data, subject, body string) error {
	code := newUUID()
	now := s.opts.Now().UTC()
	c := store.Code{UserID: userID, Purpose: purpose, Hash: hashSecret(code), Email: email, Data: data,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.CodeTTL)}
	if err := s.st.CreateCode(ctx, &c); err != nil {
		return err
	}
	msg := mail.Message{To: email, Subject: subject,
		Body: fmt.Sprintf("%s\n\nYour code: %s\n\nIt works once, until %s.\n\n-- deskhub %s\n",
			body, code, c.ExpiresAt.Format(time.RFC1123), s.opts.PublicURL)}
	if err := s.opts.Mailer.Send(ctx, msg); err != nil {
		return fault.Wrap(fault.BadGateway, err, "the mail with your code could not be sent; try again later")
	}
	return nil
}

// ConsumeCode uses up a code of the given purpose; a wrong, used or expired one is a 400.
func (s *Service) ConsumeCode(ctx context.Context, st store.Store, purpose, code string) (store.Code, error) {
	if st == nil {
		st = s.st
	}
	c, err := st.ConsumeCode(ctx, purpose, hashSecret(strings.ToLower(strings.TrimSpace(code))), s.opts.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return store.Code{}, fault.Invalidf("user_code", "the code is wrong, used or expired; ask for a new one")
	}
	return c, err
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
