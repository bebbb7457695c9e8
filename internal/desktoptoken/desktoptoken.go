// Package desktoptoken issues and checks desktop-scoped tokens: the bearer secrets abcdesktop's
// browser code sends as "ABCAuthorization: Bearer <token>" to reach one desktop's agent at
// /spawner/<endpoint> and /broadcast. A token names one session and carries its holder's role (owner,
// granter or viewer); it is short-lived (at most Options.MaxTTL), revocable, stored only as its SHA-256
// hash (a lasting code of the codes table), and it stands only while the credential it was issued
// through stands (the owner's token and account, or the share key). It is no deskhub token: the
// surfaces' own authentication never accepts it.
package desktoptoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/store"
)

// Purpose is the purpose of desktop tokens among the store's codes.
const Purpose = "desktop"

// Prefix starts every desktop token (secret scanners can spot leaks; deskhub's own tokens start with
// "dh_").
const Prefix = "dhd_"

// Roles a token carries.
const (
	Owner   = "owner"   // the session's owner (or an administrator)
	Granter = "granter" // a holder of a granter share key
	Viewer  = "viewer"  // a holder of a viewer share key: the agent's reading endpoints only
)

// Grant is what a desktop token stands for.
type Grant struct {
	ID        int64  // the code's id
	Session   string // the one session it reaches
	Role      string // Owner, Granter or Viewer
	UserID    int64  // the account it was issued to (0: a share key's holder)
	TokenID   int64  // the deskhub token it was issued through (0: a share key)
	ShareID   string // the share key it was issued through ("" for the owner)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// Name is the token's public id (for listing and revoking; the secret is never shown again).
func (g Grant) Name() string { return "dt-" + strconv.FormatInt(g.ID, 10) }

// CanWrite tells whether the holder may call the agent's writing endpoints (viewers may not).
func (g Grant) CanWrite() bool { return g.Role == Owner || g.Role == Granter }

// Deps are the credentials the token stands on: itself, and what it was issued through.
func (g Grant) Deps() revoke.Deps {
	return revoke.Deps{UserID: g.UserID, TokenID: g.TokenID, ShareID: g.ShareID, Desktop: g.ID}
}

// data is what the code row keeps besides the hash.
type data struct {
	Session string `json:"session"`
	Role    string `json:"role"`
	TokenID int64  `json:"token_id,omitempty"`
	ShareID string `json:"share_id,omitempty"`
}

// Options configure a Service.
type Options struct {
	Store  store.Store
	Revoke *revoke.Registry
	Now    func() time.Time // default time.Now
	// MaxTTL is the longest (and default) lifetime of a token.
	MaxTTL time.Duration
}

// Service issues, checks and revokes desktop tokens.
type Service struct{ o Options }

// New returns a Service.
func New(o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = time.Hour
	}
	return &Service{o: o}
}

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Issue makes a token for g (Session, Role, UserID, TokenID, ShareID) living ttl (0, or more than the
// maximum: the maximum). It answers the secret, shown once, and the grant.
func (s *Service) Issue(ctx context.Context, g Grant, ttl time.Duration) (string, Grant, error) {
	if g.Session == "" || (g.Role != Owner && g.Role != Granter && g.Role != Viewer) {
		return "", Grant{}, errors.New("desktoptoken: a grant needs a session and a role")
	}
	if ttl <= 0 || ttl > s.o.MaxTTL {
		ttl = s.o.MaxTTL
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Grant{}, err
	}
	secret := Prefix + base64.RawURLEncoding.EncodeToString(b[:])
	d, _ := json.Marshal(data{Session: g.Session, Role: g.Role, TokenID: g.TokenID, ShareID: g.ShareID})
	now := s.o.Now().UTC()
	c := store.Code{UserID: g.UserID, Purpose: Purpose, Hash: hash(secret), Data: string(d), CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.o.Store.CreateCode(ctx, &c); err != nil {
		return "", Grant{}, err
	}
	return secret, grant(c), nil
}

func grant(c store.Code) Grant {
	var d data
	_ = json.Unmarshal([]byte(c.Data), &d)
	return Grant{ID: c.ID, Session: d.Session, Role: d.Role, UserID: c.UserID, TokenID: d.TokenID, ShareID: d.ShareID,
		CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt}
}

// errUnknown is the one answer to a token that does not stand, whatever the reason.
var errUnknown = fault.New(fault.Unauthorized, "the desktop token is not valid (wrong, expired or revoked): ask for a new one")

// Verify answers the grant of a token that stands: known, not revoked, not expired, and issued through
// credentials that still stand. Anything else is a 401.
func (s *Service) Verify(ctx context.Context, secret string) (Grant, error) {
	if !strings.HasPrefix(secret, Prefix) || len(secret) > 128 {
		return Grant{}, errUnknown
	}
	c, err := s.o.Store.FindCode(ctx, Purpose, hash(secret), s.o.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return Grant{}, errUnknown
	}
	if err != nil {
		return Grant{}, err
	}
	g := grant(c)
	if s.o.Revoke != nil {
		if err := s.o.Revoke.Check(ctx, g.Deps()); errors.Is(err, revoke.ErrRevoked) {
			return Grant{}, errUnknown
		} else if err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

// List answers the standing tokens of a session.
func (s *Service) List(ctx context.Context, session string) ([]Grant, error) {
	codes, err := s.o.Store.ListCodes(ctx, Purpose, s.o.Now().UTC())
	if err != nil {
		return nil, err
	}
	var out []Grant
	for _, c := range codes {
		if g := grant(c); g.Session == session {
			out = append(out, g)
		}
	}
	return out, nil
}

// Revoke revokes the session's token named name ("": every token of the session) and ends at once what
// depends on them (the registry is kicked). It answers how many it revoked; a name the session does not
// have is a 404.
func (s *Service) Revoke(ctx context.Context, session, name string) (int, error) {
	gs, err := s.List(ctx, session)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, g := range gs {
		if name != "" && g.Name() != name {
			continue
		}
		if err := s.o.Store.UseCode(ctx, g.ID, s.o.Now().UTC()); err != nil && !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		n++
	}
	if name != "" && n == 0 {
		return 0, fault.New(fault.NotFound, "session %s has no desktop token %s", session, name)
	}
	s.o.Revoke.Kick()
	return n, nil
}
