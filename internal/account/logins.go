package account

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/sshlogin"
	"github.com/deskhub/deskhub/internal/store"
)

// The session surface's staged login (/v3/api/user/login…). Each login in progress is an attempt held
// in memory under a random stage token, which the client sends back with each next step. Provider
// store.ProviderLocal checks deskhub passwords; store.ProviderSSH relays every stage the host's sshd
// asks for (password, keyboard-interactive prompts, public key and its signature) and succeeds when the
// sshd accepts.

// LoginOptions configure the staged login.
type LoginOptions struct {
	// Provider is store.ProviderLocal (default) or store.ProviderSSH.
	Provider string
	// ServerID and Hostname name this host in the stages.
	ServerID, Hostname string
	// SSHAddr is the sshd of the ssh provider; SSHKnownHosts its known_hosts file, read at each login.
	SSHAddr, SSHKnownHosts string
}

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

type attempts struct {
	mu sync.Mutex
	m  map[string]*attempt
}

func newAttempts() *attempts { return &attempts{m: map[string]*attempt{}} }

func (l *attempts) add(a *attempt) string {
	tok := "stage_" + auth.RandomPassword() // 128 random bits, base32
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

func (l *attempts) get(tok string) *attempt {
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

func (l *attempts) drop(tok string) {
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

var errNoAttempt = fault.New(fault.Unauthorized,
	"no login in progress for this stage token (it expired or was finished); start again with /v3/api/user/login")

// stageAnswer turns an sshlogin stage into the FastX stage object.
func (s *Service) stageAnswer(tok string, st sshlogin.Stage) fastx.LoginStage {
	out := fastx.LoginStage{Stage: st.Name, Token: tok, Host: s.o.Logins.Hostname, Instruction: st.Instruction}
	switch st.Name {
	case sshlogin.StagePublicKeySign:
		out.Stage = fastx.StagePublicKey
		out.Data = encodeB64(st.Data)
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

func (s *Service) sshOptions() (sshlogin.Options, error) {
	hk, err := sshlogin.KnownHosts(s.o.Logins.SSHKnownHosts)
	if err != nil {
		return sshlogin.Options{}, err
	}
	return sshlogin.Options{Addr: s.o.Logins.SSHAddr, HostKeyCallback: hk, ClientVersion: "SSH-2.0-deskhub"}, nil
}

// LoginStart is the first step of a staged login.
type LoginStart struct {
	ServerID string // "" or this host's
	Username string
	Password string // optional: answers the password stage at once
	UsePK    bool   // ssh: offer a public key first
}

// StartLogin starts a staged login: it answers the next stage, or success with the token.
func (s *Service) StartLogin(ctx context.Context, c Caller, r LoginStart) (fastx.LoginStage, error) {
	if r.ServerID != "" && r.ServerID != s.o.Logins.ServerID {
		return fastx.LoginStage{}, fault.Memberf("serverId", ": no server %q here; /v3/api lists the servers", r.ServerID)
	}
	if len(r.Username) > 64 || strings.ContainsAny(r.Username, "\x00\r\n") {
		return fastx.LoginStage{}, fault.Memberf("username", "is not a valid user name")
	}
	if err := s.auth.Throttle().Check(r.Username, c.Remote); err != nil {
		return fastx.LoginStage{}, err
	}
	a := &attempt{username: r.Username, remote: c.Remote, expires: time.Now().Add(attemptTTL)}
	if s.o.Logins.Provider == store.ProviderLocal {
		if r.Password != "" {
			return s.localPassword(ctx, c, a, r.Password)
		}
		a.stage = fastx.StagePassword
		tok := s.logins.add(a)
		return fastx.LoginStage{Stage: fastx.StagePassword, Token: tok, Host: s.o.Logins.Hostname}, nil
	}
	opts, err := s.sshOptions()
	if err != nil {
		return fastx.LoginStage{}, err
	}
	sa, st, err := sshlogin.Start(context.WithoutCancel(ctx), opts, r.Username, r.UsePK)
	if err != nil {
		return fastx.LoginStage{}, s.sshFailure(ctx, c, a, err)
	}
	a.ssh = sa
	if st.Name == fastx.StagePassword && r.Password != "" {
		if st, err = sa.Password(ctx, r.Password); err != nil {
			return fastx.LoginStage{}, s.sshFailure(ctx, c, a, err)
		}
	}
	return s.sshAdvance(ctx, c, "", a, st)
}

// sshAdvance records the next stage of an ssh attempt, or finishes it on success.
func (s *Service) sshAdvance(ctx context.Context, c Caller, tok string, a *attempt, st sshlogin.Stage) (fastx.LoginStage, error) {
	if st.Name == fastx.StageSuccess {
		if tok != "" {
			s.logins.drop(tok)
		} else {
			a.close()
		}
		return s.loginSuccess(ctx, c, a)
	}
	a.stage = st.Name
	a.expires = time.Now().Add(attemptTTL)
	if tok == "" {
		tok = s.logins.add(a)
	}
	return s.stageAnswer(tok, st), nil
}

func (s *Service) sshFailure(ctx context.Context, c Caller, a *attempt, err error) error {
	a.close()
	switch {
	case errors.Is(err, sshlogin.ErrAuthFailed):
		s.auth.Throttle().Fail(a.username, a.remote)
		s.Audit(ctx, c.trying(a.username), "v3.login.failed", a.username, map[string]any{"provider": store.ProviderSSH})
		return fault.New(fault.Unauthorized, "wrong user name or credentials")
	case errors.Is(err, sshlogin.ErrTimeout):
		return fault.New(fault.RequestTimeout, "the login took too long; start again")
	case errors.Is(err, sshlogin.ErrWrongStage):
		return fault.Conflictf("this login is not at that stage: %v", err)
	}
	return fault.Wrap(fault.BadGateway, err, "the SSH server could not be reached or refused the connection")
}

func (s *Service) localPassword(ctx context.Context, c Caller, a *attempt, password string) (fastx.LoginStage, error) {
	u, err := s.auth.CheckLoginPassword(ctx, a.username, password, a.remote)
	if err != nil {
		s.Audit(ctx, c.trying(a.username), "v3.login.failed", a.username, map[string]any{"provider": store.ProviderLocal})
		return fastx.LoginStage{}, err
	}
	return s.issueStageToken(ctx, c, u, store.ProviderLocal)
}

// loginSuccess finds (or, for host accounts, creates) the deskhub user and issues the API token.
func (s *Service) loginSuccess(ctx context.Context, c Caller, a *attempt) (fastx.LoginStage, error) {
	s.auth.Throttle().Succeed(a.username, a.remote)
	var u store.User
	err := s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		u, err = tx.GetUserByLogin(ctx, a.username)
		if errors.Is(err, store.ErrNotFound) {
			u = store.User{Login: a.username, Provider: store.ProviderSSH}
			return tx.CreateUser(ctx, &u)
		}
		return err
	})
	if err != nil {
		return fastx.LoginStage{}, err
	}
	if u.Provider != store.ProviderSSH {
		// A deskhub account with the same name as a host account: the host vouched for the Unix user,
		// not for the deskhub account; refuse rather than merge them.
		return fastx.LoginStage{}, fault.Conflictf(
			"the host accepted %q, but a deskhub account of that name exists (provider %s); log in with that account's password", u.Login, u.Provider)
	}
	if u.Disabled {
		return fastx.LoginStage{}, fault.New(fault.Unauthorized, "this account is disabled")
	}
	return s.issueStageToken(ctx, c, u, store.ProviderSSH)
}

func (s *Service) issueStageToken(ctx context.Context, c Caller, u store.User, provider string) (fastx.LoginStage, error) {
	secret, tok, err := s.auth.IssueToken(ctx, nil, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	s.Audit(ctx, c.as(u), "v3.login", tok.Name, map[string]any{"provider": provider})
	return fastx.LoginStage{Stage: fastx.StageSuccess, Token: secret, Host: s.o.Logins.Hostname}, nil
}

// attempt is the login in progress named by stage token tok, locked (unlock it when done).
func (s *Service) attempt(tok string) (*attempt, error) {
	a := s.logins.get(tok)
	if tok == "" || a == nil {
		return nil, errNoAttempt
	}
	a.mu.Lock()
	return a, nil
}

// advance goes on after an ssh attempt's answer: to its next stage, or, when the sshd refused, out.
func (s *Service) advance(ctx context.Context, c Caller, tok string, a *attempt, st sshlogin.Stage, err error) (fastx.LoginStage, error) {
	if err != nil {
		s.logins.drop(tok)
		return fastx.LoginStage{}, s.sshFailure(ctx, c, a, err)
	}
	return s.sshAdvance(ctx, c, tok, a, st)
}

func wrongStage(want string) error {
	return fault.Conflictf("this login is at the %q stage; answer that one", want)
}

// AnswerPassword answers the password stage of the login named by stage token tok.
func (s *Service) AnswerPassword(ctx context.Context, c Caller, tok, password string) (fastx.LoginStage, error) {
	a, err := s.attempt(tok)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	defer a.mu.Unlock()
	if a.stage != fastx.StagePassword {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	if a.ssh == nil {
		s.logins.drop(tok)
		return s.localPassword(ctx, c, a, password)
	}
	st, err := a.ssh.Password(ctx, password)
	return s.advance(ctx, c, tok, a, st, err)
}

// AnswerKeyboard answers a keyboard-interactive round.
func (s *Service) AnswerKeyboard(ctx context.Context, c Caller, tok string, answers []string) (fastx.LoginStage, error) {
	a, err := s.attempt(tok)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	defer a.mu.Unlock()
	if a.stage != fastx.StageKeyboardInteractive || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	st, err := a.ssh.Answer(ctx, answers)
	return s.advance(ctx, c, tok, a, st, err)
}

// AnswerPublicKey offers a public key (SSH wire format).
func (s *Service) AnswerPublicKey(ctx context.Context, c Caller, tok string, key []byte) (fastx.LoginStage, error) {
	a, err := s.attempt(tok)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	defer a.mu.Unlock()
	if a.stage != fastx.StagePublicKey || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	pub, err := sshlogin.ParsePublicKey(key)
	if err != nil {
		return fastx.LoginStage{}, fault.Memberf("publicKey", ": %v", err)
	}
	st, err := a.ssh.PublicKey(ctx, pub)
	return s.advance(ctx, c, tok, a, st, err)
}

// AnswerSignature answers the public-key-sign stage with the signature (SSH wire format).
func (s *Service) AnswerSignature(ctx context.Context, c Caller, tok string, sig []byte) (fastx.LoginStage, error) {
	a, err := s.attempt(tok)
	if err != nil {
		return fastx.LoginStage{}, err
	}
	defer a.mu.Unlock()
	if a.stage != sshlogin.StagePublicKeySign || a.ssh == nil {
		return fastx.LoginStage{}, wrongStage(a.stage)
	}
	parsed, err := sshlogin.ParseWireSignature(sig)
	if err != nil {
		return fastx.LoginStage{}, fault.Memberf("signature", ": %v", err)
	}
	st, err := a.ssh.Signed(ctx, parsed)
	return s.advance(ctx, c, tok, a, st, err)
}

func encodeB64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
