// Package account is deskhub's account service: registration (two steps, with a mailed code),
// recovery, email and password changes, the password lock, tokens, SSH keys, the WebAuthn ceremonies,
// the session surface's staged login (local passwords, or the host's sshd through internal/sshlogin),
// and the administration of accounts (add, list, lock, unlock, passwd, delete). Every transaction on an
// account is written here once; internal/server's handlers and `deskhub user …` are adapters over it.
//
// Why a package apart from internal/auth: auth is the credential mechanics (argon2id behind the hash
// queue, the throttle, token and code secrets) that knows nothing about what an account may do;
// account decides that and calls auth for the credentials. Both return internal/fault errors and
// import neither net/http nor internal/httpapi (see imports_test.go).
//
// Caller is the one type that says who is calling, used by accounts, sessions (internal/session) and
// infrastructure (internal/infra) alike; audit entries are made from it.
package account

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Caller is who is calling: an authenticated account (UserID set), or nobody yet (a registration, a
// login), and from where.
type Caller struct {
	UserID   int64
	Login    string
	Admin    bool
	Provider string // store.ProviderLocal or store.ProviderSSH
	TokenID  int64  // the token the caller came with: what it is granted dies with it
	// Remote is the client's address without the port ("" on the command line): the key of
	// per-address login throttling, and recorded with audit entries.
	Remote string
}

// Operator is the administrator at the command line (`deskhub user …`).
var Operator = Caller{Login: "deskhub user", Admin: true}

// CallerOf is the caller u, authenticated with token tokenID, from remote.
func CallerOf(u store.User, tokenID int64, remote string) Caller {
	return Caller{UserID: u.ID, Login: u.Login, Admin: u.Admin, Provider: u.Provider, TokenID: tokenID, Remote: remote}
}

// as is c acting as account u (who a registration or a login turned out to be).
func (c Caller) as(u store.User) Caller {
	return Caller{UserID: u.ID, Login: u.Login, Admin: u.Admin, Provider: u.Provider, TokenID: c.TokenID, Remote: c.Remote}
}

// Features switch account calls off.
type Features struct {
	DisableRegistration bool
	DisableRecovery     bool
	DisableSSHKeyAdd    bool
	WebAuthn            bool
}

// Kicker is told after credentials were revoked in this process (internal/revoke's Registry), so that
// what depended on them ends at once.
type Kicker interface{ Kick() }

// Options configure the Service.
type Options struct {
	Store store.Store
	// Auth issues and checks credentials (required).
	Auth     *auth.Service
	Log      *slog.Logger
	Features Features
	// PublicURL is where users reach deskhub: its host is the WebAuthn relying party.
	PublicURL string
	// Revoke is kicked after in-process revocations (nil: nobody to tell).
	Revoke Kicker
	// Logins configure the session surface's staged login.
	Logins LoginOptions
}

// Service is the account service.
type Service struct {
	o      Options
	st     store.Store
	auth   *auth.Service
	log    *slog.Logger
	rp     *relyingParty
	logins *attempts
}

// New returns a Service.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Logins.Provider == "" {
		o.Logins.Provider = store.ProviderLocal
	}
	return &Service{o: o, st: o.Store, auth: o.Auth, log: o.Log.With("component", "account"),
		rp: newRelyingParty(o.PublicURL), logins: newAttempts()}
}

func (s *Service) kick() {
	if s.o.Revoke != nil {
		s.o.Revoke.Kick()
	}
}

// Audit records a security event done by c; a failure to record is logged, not fatal.
func (s *Service) Audit(ctx context.Context, c Caller, action, target string, detail map[string]any) {
	e := store.AuditEntry{At: time.Now().UTC(), UserID: c.UserID, Actor: c.Login, Action: action, Target: target,
		RemoteAddr: c.Remote}
	if detail != nil {
		b, _ := json.Marshal(detail)
		e.Detail = string(b)
	}
	if err := s.st.AppendAudit(ctx, &e); err != nil {
		s.log.Warn("audit log", "action", action, "error", err)
	}
}

// User is the caller's account.
func (s *Service) User(ctx context.Context, c Caller) (store.User, error) {
	return s.st.GetUser(ctx, c.UserID)
}

// Keepalive extends a login token to a full login lifetime from now (API tokens keep their expiry).
func (s *Service) Keepalive(ctx context.Context, secret string) error {
	return s.auth.Keepalive(ctx, secret)
}

// Now is the clock of tokens and codes.
func (s *Service) Now() time.Time { return s.auth.Now() }

func errFeatureOff(what string) error {
	return fault.New(fault.Forbidden, "%s is disabled on this server", what)
}

// badMember is a 400 about member, or nil when err is nil.
func badMember(member string, err error) error {
	if err == nil {
		return nil
	}
	return fault.Memberf(member, ": %v", err)
}

func checkNewPassword(pw string) error {
	return badMember("user_password", auth.CheckPassword(pw))
}
