package server

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/sshlogin"
	"github.com/deskhub/deskhub/internal/store"
)

// The session surface's staged login (/v3/api/user/login…). Each login in progress is an attempt held
// in memory under a random stage token, which the client sends back (Authorization: Bearer or
// X-FASTX-TOKEN) with each next step. Provider "local" checks deskhub passwords; provider "ssh" relays
// every stage the host's sshd asks for (password, keyboard-interactive prompts, public key and its
// signature) and succeeds when the sshd accepts.

// attemptTTL is how long a login may sit between two steps.
const attemptTTL = 5 * time.Minute

type attempt struct {
	mu       sync.Mutex
	username string
	remote   string
	expires  time.Time
	stage    string // what the client must send next
	ssh      *sshlogin.Attempt
}

type loginAttempts struct {
	mu sync.Mutex
	m  map[string]*attempt
}

func newLoginAttempts() *loginAttempts { return &loginAttempts{m: map[string]*attempt{}} }

func (l *loginAttempts) add(a *attempt) string {
	tok := "stage_" + randomToken()
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	for k, old := range l.m { // sweep abandoned attempts
		if now.After(old.expires) {
			old.close()
			delete(l.m, k)
		}
	}
	l.m[tok] = a
	return tok
}

func (l *loginAttempts) get(tok string) *attempt {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.m[tok]
	if a != nil && time.Now().After(a.expires) {
		a.close()
		delete(l.m, tok)
		return nil
	}
	return a
}

func (l *loginAttempts) drop(tok string) {
	l.mu.Lock()
	a := l.m[tok]
	delete(l.m, tok)
	l.mu.Unlock()
	if a != nil {
		a.close()
	}
}

func (a *attempt) close() {
	if a.ssh != nil {
		_ = a.ssh.Close()
	}
}

func randomToken() string { return auth.RandomPassword() } // 128 random bits, base32

var errNoAttempt = httpapi.Errorf(http.StatusUnauthorized,
	"no login in progress for this stage token (it expired or was finished); start again with /v3/api/user/login")

// stageAnswer turns an sshlogin stage into the FastX stage object.
func (s *Server) stageAnswer(tok string, st sshlogin.Stage) fastx.LoginStage {
	out := fastx.LoginStage{Stage: st.Name, Token: tok, Host: s.hostname, Instruction: st.Instruction}
	switch st.Name {
	case "public-key-sign":
		out.Stage = fastx.StagePublicKey
		out.Data = base64.StdEncoding.EncodeToString(st.Data)
		out.Algorithm = st.Algorithm
	case fastx.StageKeyboardInteractive:
		for _, p := range st.Prompts {
			out.Prompts = append(out.Prompts, p.Text)
			out.Echo = append(out.Echo, p.Echo)
		}
		if len(out.Prompts) > 0 {
			out.Prompt = out.Prompts[0]
		}
	}
	return out
}

func (s *Server) sshOptions() (sshlogin.Options, error) {
	hk, err := sshlogin.KnownHosts(s.knownHostsPath())
	if err != nil {
		return sshlogin.Options{}, err
	}
	return sshlogin.Options{Addr: s.cfg.Auth.SSHAddr, HostKeyCallback: hk, ClientVersion: "SSH-2.0-deskhub"}, nil
}

func (s *Server) knownHostsPath() string {
	if s.cfg.Auth.SSHKnownHosts != "" {
		return s.cfg.Auth.SSHKnownHosts
	}
	return s.cfg.DataDir + "/ssh_known_hosts"
}

// v3Login starts a login.
func (s *Server) v3Login(c *httpapi.Call, r *fastx.LoginRequest) (fastx.LoginStage, error) {
	if r.ServerID != "" && r.ServerID != s.serverID {
		return fastx.LoginStage{}, httpapi.BadRequest("serverId", "member \"serverId\": no server %q here; /v3/api lists the servers", r.ServerID)
	}
	if len(r.Username) > 64 || strings.ContainsAny(r.Username, "\x00\r\n") {
		return fastx.LoginStage{}, httpapi.BadRequest("username", "member \"username\" is not a valid user name")
	}
	remote := remoteAddr(c.R)
	if err := s.auth.Throttle().Check(r.Username, remote); err != nil {
		return fastx.LoginStage{}, err
	}
	a := &attempt{username: r.Username, remote: remote, expires: time.Now().Add(attemptTTL)}
	if s.cfg.Auth.Provider == "local" {
		if r.Password != "" {
			return s.localPassword(c, a, r.Password)
		}
		a.stage = fastx.StagePassword
		tok := s.logins.add(a)
		return fastx.LoginStage{Stage: fastx.StagePassword, Token: tok, Host: s.hostname}, nil
	}
	opts, err := s.sshOptions()
	if err != nil {
		return fastx.LoginStage{}, err
	}
	sa, st, err := sshlogin.Start(context.WithoutCancel(c.Ctx), opts, r.Username, r.UsePK)
	if err != nil {
		return fastx.LoginStage{}, s.sshFailure(c, a, err)
	}
	a.ssh = sa
	if st.Name == fastx.StagePassword && r.Password != "" {
		if st, err = sa.Password(c.Ctx, r.Password); err != nil {
			return fastx.LoginStage{}, s.sshFailure(c, a, err)
		}
	}
	return s.sshAdvance(c, "", a, st)
}

// sshAdvance records the next stage of an ssh attempt, or finishes it on success.
func (s *Server) sshAdvance(c *httpapi.Call, tok string, a *attempt, st sshlogin.Stage) (fastx.LoginStage, error) {
	if st.Name == fastx.StageSuccess {
		if tok != "" {
			s.logins.drop(tok)
		} else {
			a.close()
		}
		return s.loginSuccess(c, a, "ssh")
	}
	a.stage = st.Name
	a.expires = time.Now().Add(attemptTTL)
	if tok == "" {
		tok = s.logins.add(a)
	}
	return s.stageAnswer(tok, st), nil
}

func (s *Server) sshFailure(c *httpapi.Call, a *attempt, err error) error {
	a.close()
	switch {
	case errors.Is(err, sshlogin.ErrAuthFailed):
		s.auth.Throttle().Fail(a.username, a.remote)
		s.audit(c.Ctx, c, 0, a.username, "v3.login.failed", a.username, map[string]any{"provider": "ssh"})
		return httpapi.Errorf(http.StatusUnauthorized, "wrong user name or credentials")
	case errors.Is(err, sshlogin.ErrTimeout):
		return httpapi.Errorf(http.StatusRequestTimeout, "the login took too long; start again")
	case errors.Is(err, sshlogin.ErrWrongStage):
		return httpapi.Errorf(http.StatusConflict, "this login is not at that stage: %v", err)
	}
	return &httpapi.Error{Status: http.StatusBadGateway, Msg: "the SSH server could not be reached or refused the connection", Err: err}
}

func (s *Server) localPassword(c *httpapi.Call, a *attempt, password string) (fastx.LoginStage, error) {
	u, err := s.auth.CheckLoginPassword(c.Ctx, a.username, password, a.remote)
	if err != nil {
		s.audit(c.Ctx, c, 0, a.username, "v3.login.failed", a.username, map[string]any{"provider": "local"})
		return fastx.LoginStage{}, err
	}
	return s.issueStageToken(c, u, "local")
}

// loginSuccess finds (or, for host accounts, creates) the deskhub user and issues the API token.
func (s *Server) loginSuccess(c *httpapi.Call, a *attempt, provider string) (fastx.LoginStage, error) {
	s.auth.Throttle().Succeed(a.username, a.remote)
	var u store.User
	err := s.store.InTx(c.Ctx, func(tx store.Store) error {
		var err error
		u, err = tx.GetUserByLogin(c.Ctx, a.username)
		if errors.Is(err, store.ErrNotFound) {
			u = store.User{Login: a.username, Provider: "ssh"}
			return tx.CreateUser(c.Ctx, &u)
		}
		return err
	})
	if err != nil {
		return fastx.LoginStage{}, err
	}
	if u.Provider != "ssh" {
		// A deskhub account with the same name as a host account: the host vouched for the Unix user,
		// not for the deskhub account; refuse rather than merge them.
		return fastx.LoginStage{}, httpapi.Errorf(http.StatusConflict,
			"the host accepted %q, but a deskhub account of that name exists (provider %s); log in with that account's password", u.Login, u.Provider)
	}
	if u.Disabled {
		return fastx.LoginStage{}, httpapi.Errorf(http.StatusUnauthorized, "this account is disabled")
	}
	return s.issueStageToken(c, u, provider)
}

func (s *Server) issueStageToken(c *httpapi.Call, u store.User, provider string) (fastx.LoginStage, error) {
	secret, tok, err := s.auth.IssueToken(c.Ctx, nil, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "v3.login", tok.Name, map[string]any{"provider": provider})
	return fastx.LoginStage{Stage: fastx.StageSuccess, Token: secret, Host: s.hostname}, nil
}

// attemptFor finds the login in progress named by the request's stage token.
func (s *Server) attemptFor(c *httpapi.Call) (string, *attempt, error) {
	tok := bearerToken(c.R, httpapi.Session)
	a := s.logins.get(tok)
	if tok == "" || a == nil {
		return "", nil, errNoAttempt
	}
	return tok, a, nil
}

func (s *Server) v3LoginPassword(c *httpapi.Call, r *fastx.PasswordRequest) (fastx.LoginStage, error) {
	tok, a, err := s.attemptFor(c)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stage != fastx.StagePassword {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	if a.ssh == nil {
		s.logins.drop(tok)
		return s.localPassword(c, a, r.Password)
	}
	st, err := a.ssh.Password(c.Ctx, r.Password)
	if err != nil {
		s.logins.drop(tok)
		return fastx.LoginStage{}, s.sshFailure(c, a, err)
	}
	return s.sshAdvance(c, tok, a, st)
}

func wrongStage(want string) error {
	return httpapi.Errorf(http.StatusConflict, "this login is at the %q stage; answer that one", want)
}

func (s *Server) v3LoginKeyboard(c *httpapi.Call, r *fastx.KeyboardInteractiveRequest) (fastx.LoginStage, error) {
	tok, a, err := s.attemptFor(c)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stage != fastx.StageKeyboardInteractive || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	st, err := a.ssh.Answer(c.Ctx, r.Answer)
	if err != nil {
		s.logins.drop(tok)
		return fastx.LoginStage{}, s.sshFailure(c, a, err)
	}
	return s.sshAdvance(c, tok, a, st)
}

func (s *Server) v3LoginPublicKey(c *httpapi.Call, r *fastx.PublicKeyRequest) (fastx.LoginStage, error) {
	tok, a, err := s.attemptFor(c)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stage != fastx.StagePublicKey || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	pub, err := sshlogin.ParsePublicKey(decodeB64(r.PublicKey))
	if err != nil {
		return fastx.LoginStage{}, httpapi.BadRequest("publicKey", "member \"publicKey\": %v", err)
	}
	st, err := a.ssh.PublicKey(c.Ctx, pub)
	if err != nil {
		s.logins.drop(tok)
		return fastx.LoginStage{}, s.sshFailure(c, a, err)
	}
	return s.sshAdvance(c, tok, a, st)
}

func (s *Server) v3LoginSigned(c *httpapi.Call, r *fastx.SignatureRequest) (fastx.LoginStage, error) {
	tok, a, err := s.attemptFor(c)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stage != "public-key-sign" || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	sig, err := sshlogin.ParseWireSignature(decodeB64(r.Signature))
	if err != nil {
		return fastx.LoginStage{}, httpapi.BadRequest("signature", "member \"signature\": %v", err)
	}
	st, err := a.ssh.Signed(c.Ctx, sig)
	if err != nil {
		s.logins.drop(tok)
		return fastx.LoginStage{}, s.sshFailure(c, a, err)
	}
	return s.sshAdvance(c, tok, a, st)
}

func decodeB64(s string) []byte {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	b, _ := base64.RawStdEncoding.DecodeString(s)
	return b
}

func (s *Server) v3Profile(c *httpapi.Call, _ *httpapi.Empty) (fastx.Profile, error) {
	u, err := s.currentUser(c)
	if err != nil {
		return fastx.Profile{}, err
	}
	p := fastx.Profile{Token: bearerToken(c.R, httpapi.Session), Login: u.Login, Hostname: s.hostname,
		Provider: u.Provider, Authenticated: true, LoggedIn: true, Groups: []string{}, Email: u.Email}
	if first, last, ok := strings.Cut(u.Name, " "); ok {
		p.FirstName, p.LastName = first, last
	} else {
		p.FirstName = u.Name
	}
	if u.Provider == "ssh" {
		p.Groups = unixGroups(u.Login)
	} else if u.Admin {
		p.Groups = []string{"deskhub-admin"}
	}
	return p, nil
}

// unixGroups lists the host groups of a Unix user (empty when unknown).
func unixGroups(login string) []string {
	out := []string{}
	uu, err := user.Lookup(login)
	if err != nil {
		return out
	}
	ids, err := uu.GroupIds()
	if err != nil {
		return out
	}
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			out = append(out, g.Name)
		}
	}
	return out
}

func (s *Server) v3Logout(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	err := s.store.RevokeToken(c.Ctx, c.Principal.TokenID, time.Now())
	s.revoke.Kick()
	return fastx.Null{}, err
}

func (s *Server) v3Admin(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	if !c.Principal.Admin {
		return fastx.Null{}, httpapi.Errorf(http.StatusForbidden, "%s is not an administrator", c.Principal.Login)
	}
	return fastx.Null{}, nil
}

// v3Keepalive extends a login token to a full login lifetime from now (API tokens keep their expiry).
func (s *Server) v3Keepalive(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	return fastx.Null{}, s.auth.Keepalive(c.Ctx, bearerToken(c.R, httpapi.Session))
}
