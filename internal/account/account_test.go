package account

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/mail/mailtest"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"

	"crypto/ed25519"
	"crypto/rand"
)

type kicks struct{ n int }

func (k *kicks) Kick() { k.n++ }

type rig struct {
	s     *Service
	st    store.Store
	mail  *mailtest.Mailer
	kicks *kicks
}

func newRig(t *testing.T, mod ...func(*Options)) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, mail: &mailtest.Mailer{}, kicks: &kicks{}}
	o := Options{Store: st, Auth: auth.New(auth.Options{Store: st, Mailer: r.mail}), PublicURL: "http://localhost:8080",
		Revoke: r.kicks, Features: Features{WebAuthn: true}, Logins: LoginOptions{ServerID: "srv1", Hostname: "host1"}}
	for _, m := range mod {
		m(&o)
	}
	r.s = New(o)
	return r
}

// user adds a local account and answers its caller.
func (r *rig) user(t *testing.T, login string, admin bool) Caller {
	t.Helper()
	u, err := r.s.AddUser(context.Background(), Operator, NewUser{Login: login, Email: login + "@example.org", Password: "pw-long-enough", Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	return CallerOf(u, 0, "192.0.2.1")
}

// loggedIn is c with a fresh login token.
func (r *rig) loggedIn(t *testing.T, c Caller) Caller {
	t.Helper()
	in, err := r.s.Login(context.Background(), Caller{Remote: c.Remote}, c.Login, "pw-long-enough")
	if err != nil {
		t.Fatal(err)
	}
	c.TokenID = in.Token.ID
	return c
}

// wantFault checks that err is a fault of kind whose message contains msg.
func wantFault(t *testing.T, what string, err error, kind fault.Kind, msg string) {
	t.Helper()
	var f *fault.Error
	if !errors.As(err, &f) {
		t.Fatalf("%s: got %v, want a fault of kind %d", what, err, kind)
	}
	if f.Kind != kind || !strings.Contains(f.Msg, msg) {
		t.Fatalf("%s: got kind %d %q, want kind %d containing %q", what, f.Kind, f.Msg, kind, msg)
	}
}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	anon := Caller{Remote: "192.0.2.9"}
	ok := Registration{Login: "carol", Email: "carol@example.org", Password: "pw-long-enough"}
	bad := []struct {
		name string
		mod  func(*Registration)
		kind fault.Kind
		msg  string
	}{
		{"login", func(r *Registration) { r.Login = "Carol!" }, fault.Invalid, `member "user_login"`},
		{"email", func(r *Registration) { r.Email = "nope" }, fault.Invalid, `member "user_email"`},
		{"password", func(r *Registration) { r.Password = "short" }, fault.Invalid, `member "user_password"`},
		{"taken login", func(r *Registration) { r.Login = "alice" }, fault.Conflict, `the login "alice" is taken`},
		{"taken address", func(r *Registration) { r.Email = "alice@example.org" }, fault.Conflict, "exists already"},
		{"wrong code", func(r *Registration) { r.Code = "00000000-0000-4000-8000-000000000000" }, fault.Invalid, "the code is wrong"},
	}
	r := newRig(t)
	r.user(t, "alice", false)
	for _, c := range bad {
		reg := ok
		c.mod(&reg)
		_, err := r.s.Register(ctx, anon, reg)
		wantFault(t, c.name, err, c.kind, c.msg)
	}
	if status, err := r.s.Register(ctx, anon, ok); err != nil || status != StatusCodeSent {
		t.Fatalf("step one: %q %v", status, err)
	}
	code := r.mail.Code(t, ok.Email)
	other := ok
	other.Login, other.Code = "carol2", code
	_, err := r.s.Register(ctx, anon, other)
	wantFault(t, "code of another login", err, fault.Invalid, "another login or address")
	// The code was spent by the refused try (single use): ask again.
	if _, err := r.s.Register(ctx, anon, ok); err != nil {
		t.Fatal(err)
	}
	ok.Code = r.mail.Code(t, ok.Email)
	if status, err := r.s.Register(ctx, anon, ok); err != nil || status != StatusRegistered {
		t.Fatalf("step two: %q %v", status, err)
	}
	if _, err := r.s.Login(ctx, anon, "carol", "pw-long-enough"); err != nil {
		t.Fatalf("the new account cannot log in: %v", err)
	}

	off := newRig(t, func(o *Options) { o.Features.DisableRegistration = true })
	_, err = off.s.Register(ctx, anon, ok)
	wantFault(t, "registration off", err, fault.Forbidden, "registration is disabled")
}

func TestRecovery(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.loggedIn(t, r.user(t, "alice", false))
	anon := Caller{}
	for _, email := range []string{"nobody@example.org", "alice@example.org"} {
		if status, err := r.s.Recover(ctx, anon, Recovery{Email: email}); err != nil || status != StatusCodeSentIfAccount {
			t.Fatalf("%s: %q %v", email, status, err)
		}
	}
	if n := len(r.mail.Messages()); n != 1 {
		t.Fatalf("%d mails, want 1 (none for an unknown address)", n)
	}
	code := r.mail.Code(t, "alice@example.org")
	_, err := r.s.Recover(ctx, anon, Recovery{Email: "alice@example.org", Password: "x", Code: code})
	wantFault(t, "short password", err, fault.Invalid, `member "user_password"`)
	kicked := r.kicks.n
	if status, err := r.s.Recover(ctx, anon, Recovery{Email: "alice@example.org", Password: "another-long-one", Code: code}); err != nil || status != StatusPasswordSet {
		t.Fatalf("step two: %q %v", status, err)
	}
	if r.kicks.n == kicked {
		t.Error("recovery revoked tokens without telling the revoke registry")
	}
	toks, _ := r.s.Tokens(ctx, alice)
	for _, tok := range toks {
		if tok.RevokedAt.IsZero() {
			t.Errorf("token %s survived the recovery", tok.Name)
		}
	}
	if _, err := r.s.Login(ctx, anon, "alice", "another-long-one"); err != nil {
		t.Fatal(err)
	}
}

func TestPasswordChangeAndLock(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.loggedIn(t, r.user(t, "alice", false))
	other := r.loggedIn(t, alice) // a second login of alice's
	wantFault(t, "short", r.s.ChangePassword(ctx, alice, "short"), fault.Invalid, `member "user_password"`)
	if err := r.s.ChangePassword(ctx, alice, "a-new-long-password"); err != nil {
		t.Fatal(err)
	}
	toks, _ := r.s.Tokens(ctx, alice)
	for _, tok := range toks {
		if revoked := !tok.RevokedAt.IsZero(); revoked != (tok.ID == other.TokenID) {
			t.Errorf("token %d revoked=%v after the change made with token %d", tok.ID, revoked, alice.TokenID)
		}
	}

	// Lock: a code, then the change; locked, password changes are refused.
	if _, sent, err := r.s.LockPassword(ctx, alice, true, ""); err != nil || !sent {
		t.Fatalf("lock step one: %v %v", sent, err)
	}
	code := r.mail.Code(t, "alice@example.org")
	_, _, err := r.s.LockPassword(ctx, alice, false, code)
	wantFault(t, "code for the opposite change", err, fault.Invalid, "opposite change")
	r.s.LockPassword(ctx, alice, true, "")
	u, sent, err := r.s.LockPassword(ctx, alice, true, r.mail.Code(t, "alice@example.org"))
	if err != nil || sent || !u.PasswordLocked {
		t.Fatalf("lock step two: %+v %v %v", u, sent, err)
	}
	wantFault(t, "locked", r.s.ChangePassword(ctx, alice, "yet-another-password"), fault.Forbidden, "locked")

	// Host accounts keep their password on the host.
	host := store.User{Login: "hostie", Provider: store.ProviderSSH}
	if err := r.st.CreateUser(ctx, &host); err != nil {
		t.Fatal(err)
	}
	wantFault(t, "host account", r.s.ChangePassword(ctx, CallerOf(host, 0, ""), "a-long-password"), fault.Conflict, "lives on its host")
}

func TestEmailChange(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.user(t, "alice", false)
	r.user(t, "bob", false)
	cases := []struct {
		email string
		kind  fault.Kind
		msg   string
	}{
		{"not an address", fault.Invalid, `member "user_email"`},
		{"alice@example.org", fault.Invalid, "your address already"},
		{"bob@example.org", fault.Conflict, "exists already"},
	}
	for _, c := range cases {
		_, err := r.s.ChangeEmail(ctx, alice, c.email, "")
		wantFault(t, c.email, err, c.kind, c.msg)
	}
	if status, err := r.s.ChangeEmail(ctx, alice, "alice@new.example.org", ""); err != nil || status != StatusCodeSent {
		t.Fatal(status, err)
	}
	if status, err := r.s.ChangeEmail(ctx, alice, "alice@new.example.org", r.mail.Code(t, "alice@new.example.org")); err != nil || status != StatusEmailChanged {
		t.Fatal(status, err)
	}
	if u, _ := r.s.User(ctx, alice); u.Email != "alice@new.example.org" {
		t.Fatalf("address is %q", u.Email)
	}
}

func TestTokens(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.loggedIn(t, r.user(t, "alice", false))
	_, err := r.s.CreateToken(ctx, alice, 400*24*3600, false)
	wantFault(t, "too long", err, fault.Invalid, `member "token_lifetime" must be at most`)
	first, err := r.s.CreateToken(ctx, alice, 3600, false)
	if err != nil || !strings.HasPrefix(first.Secret, "dh_") || first.Token.Type != store.TokenSystemAPI {
		t.Fatalf("%+v %v", first, err)
	}
	second, err := r.s.CreateToken(ctx, alice, 3600, true)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	toks, _ := r.s.Tokens(ctx, alice)
	for _, tok := range toks {
		states[tok.Name] = auth.TokenState(tok, time.Now())
	}
	if states[first.Token.Name] != "revoked" || states[second.Token.Name] != "active" || len(states) != 3 {
		t.Fatalf("after revoke_all: %v", states)
	}
	wantFault(t, "unknown", r.s.RevokeToken(ctx, alice, "tok-nope"), fault.NotFound, `no token named "tok-nope"`)
	bob := r.user(t, "bob", false)
	wantFault(t, "another's", r.s.RevokeToken(ctx, bob, second.Token.Name), fault.NotFound, "no token named")
	if err := r.s.RevokeToken(ctx, alice, second.Token.Name); err != nil {
		t.Fatal(err)
	}
}

func TestSSHKeys(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.user(t, "alice", false)
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := ssh.NewPublicKey(pub)
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " alice@laptop"
	bad := []struct {
		name, key, msg string
	}{
		{"garbage", "ssh-ed25519 AAAA", "not an SSH public key"},
		{"two lines", line + "\n" + line, "one authorized_keys line"},
		{"options", `command="x" ` + line, "without options"},
	}
	for _, c := range bad {
		_, err := r.s.AddSSHKey(ctx, alice, "k", c.key)
		wantFault(t, c.name, err, fault.Invalid, c.msg)
	}
	_, err := r.s.AddSSHKey(ctx, alice, strings.Repeat("n", 129), line)
	wantFault(t, "long name", err, fault.Invalid, `member "key_name" is longer`)
	k, err := r.s.AddSSHKey(ctx, alice, " laptop ", line)
	if err != nil || k.Name != "laptop" || !strings.HasPrefix(k.Fingerprint, "SHA256:") {
		t.Fatalf("%+v %v", k, err)
	}
	_, err = r.s.AddSSHKey(ctx, alice, "again", line)
	wantFault(t, "duplicate", err, fault.Conflict, "added already")
	wantFault(t, "unknown", r.s.DeleteSSHKey(ctx, alice, k.ID+100), fault.NotFound, "no SSH key with id")
	if err := r.s.DeleteSSHKey(ctx, alice, k.ID); err != nil {
		t.Fatal(err)
	}
	off := newRig(t, func(o *Options) { o.Features.DisableSSHKeyAdd = true })
	_, err = off.s.AddSSHKey(ctx, off.user(t, "alice", false), "k", line)
	wantFault(t, "off", err, fault.Forbidden, "adding SSH keys is disabled")
}

func TestAdministration(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	root := r.user(t, "root1", true)
	bob := r.loggedIn(t, r.user(t, "bob", false))
	_, err := r.s.Users(ctx, bob)
	wantFault(t, "not an admin", err, fault.Forbidden, "not an administrator")
	_, err = r.s.AddUser(ctx, Operator, NewUser{Login: "bob", Email: "b2@example.org", Password: "pw-long-enough"})
	wantFault(t, "taken", err, fault.Conflict, "exists already")
	_, err = r.s.AddUser(ctx, Operator, NewUser{Login: "Bad", Email: "b2@example.org", Password: "pw-long-enough"})
	wantFault(t, "bad login", err, fault.Invalid, `login "Bad"`)

	kicked := r.kicks.n
	l, err := r.s.SetDisabled(ctx, Operator, "bob", true)
	if err != nil || l.Was || l.Revoked != 1 || !l.User.Disabled || r.kicks.n == kicked {
		t.Fatalf("lock: %+v %v (kicks %d→%d)", l, err, kicked, r.kicks.n)
	}
	if _, err := r.s.Login(ctx, Caller{}, "bob", "pw-long-enough"); err == nil {
		t.Fatal("a locked account logs in")
	}
	if l, err = r.s.SetDisabled(ctx, Operator, "bob", false); err != nil || !l.Was || l.User.Disabled {
		t.Fatalf("unlock: %+v %v", l, err)
	}
	_, err = r.s.SetDisabled(ctx, Operator, "nobody", true)
	wantFault(t, "unknown", err, fault.NotFound, `no account with login "nobody"`)

	if _, _, err := r.s.SetPassword(ctx, Operator, "bob", "short"); err == nil {
		t.Fatal("a short password was set")
	}
	if u, revoked, err := r.s.SetPassword(ctx, Operator, "bob", "brand-new-password"); err != nil || u.Login != "bob" || revoked != 0 {
		t.Fatalf("passwd: %v %d %v", u, revoked, err)
	}

	_, err = r.s.DeleteUser(ctx, Operator, root.Login, true)
	wantFault(t, "last admin", err, fault.Conflict, "last active administrator")
	_, err = r.s.DeleteUser(ctx, Operator, "bob", false)
	wantFault(t, "unconfirmed", err, fault.Invalid, "add --yes")
	d, err := r.s.DeleteUser(ctx, Operator, "bob", true)
	if err != nil || d.User.Login != "bob" || d.Tokens != 1 {
		t.Fatalf("delete: %+v %v", d, err)
	}
}

func TestStagedLoginLocal(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	r.user(t, "alice", false)
	from := Caller{Remote: "192.0.2.5"}

	_, err := r.s.StartLogin(ctx, from, LoginStart{ServerID: "elsewhere", Username: "alice"})
	wantFault(t, "other server", err, fault.Invalid, `member "serverId": no server "elsewhere" here`)
	_, err = r.s.StartLogin(ctx, from, LoginStart{Username: "al\nice"})
	wantFault(t, "bad name", err, fault.Invalid, `member "username" is not a valid user name`)

	st, err := r.s.StartLogin(ctx, from, LoginStart{Username: "alice"})
	if err != nil || st.Stage != fastx.StagePassword || !strings.HasPrefix(st.Token, "stage_") || st.Host != "host1" {
		t.Fatalf("start: %+v %v", st, err)
	}
	_, err = r.s.AnswerKeyboard(ctx, from, st.Token, []string{"x"})
	wantFault(t, "wrong stage", err, fault.Conflict, `at the "password" stage`)
	_, err = r.s.AnswerPassword(ctx, from, st.Token, "wrong password")
	wantFault(t, "wrong password", err, fault.Unauthorized, "wrong login or password")
	_, err = r.s.AnswerPassword(ctx, from, st.Token, "pw-long-enough")
	wantFault(t, "spent stage token", err, fault.Unauthorized, "no login in progress")

	st, _ = r.s.StartLogin(ctx, from, LoginStart{Username: "alice"})
	done, err := r.s.AnswerPassword(ctx, from, st.Token, "pw-long-enough")
	if err != nil || done.Stage != fastx.StageSuccess || !strings.HasPrefix(done.Token, "dh_") {
		t.Fatalf("answer: %+v %v", done, err)
	}
	// The password in the first call skips the stage.
	if done, err = r.s.StartLogin(ctx, from, LoginStart{Username: "alice", Password: "pw-long-enough"}); err != nil || done.Stage != fastx.StageSuccess {
		t.Fatalf("one step: %+v %v", done, err)
	}
	tok, u, err := r.s.auth.Verify(ctx, done.Token)
	if err != nil || u.Login != "alice" || tok.Type != store.TokenUserLogin {
		t.Fatalf("the token: %+v %+v %v", tok, u, err)
	}
}

func TestWebAuthnRules(t *testing.T) {
	ctx := context.Background()
	r := newRig(t)
	alice := r.user(t, "alice", false)
	cases := []struct {
		name string
		rig  *rig
		c    Caller
		r    NewCredential
		kind fault.Kind
		msg  string
	}{
		{"off", newRig(t, func(o *Options) { o.Features.WebAuthn = false }), alice, NewCredential{Login: "alice"}, fault.Forbidden, "WebAuthn is disabled"},
		{"IP address", newRig(t, func(o *Options) { o.PublicURL = "http://127.0.0.1:8080" }), alice, NewCredential{Login: "alice"}, fault.Unavailable, "must name a host"},
		{"anonymous", r, Caller{}, NewCredential{Login: "alice"}, fault.Unauthorized, "log in to add a passkey"},
		{"another's", r, alice, NewCredential{Login: "bob"}, fault.Forbidden, "only to your own account"},
		{"register taken", r, Caller{}, NewCredential{Login: "alice", Email: "a2@example.org", Register: true}, fault.Conflict, "is taken"},
		{"register bad login", r, Caller{}, NewCredential{Login: "A!", Email: "a2@example.org", Register: true}, fault.Invalid, `member "user_login"`},
		{"not a credential", r, alice, NewCredential{Login: "alice", Credential: []byte(`{"id":1}`)}, fault.Invalid, `member "credential" is not a PublicKeyCredential`},
	}
	for _, c := range cases {
		_, err := c.rig.s.MakeCredential(ctx, c.c, c.r)
		wantFault(t, c.name, err, c.kind, c.msg)
	}
	step, err := r.s.MakeCredential(ctx, alice, NewCredential{Login: "alice"})
	if err != nil || step.Ceremony == nil || step.Ceremony.Challenge == "" || !strings.Contains(string(step.Ceremony.Options), `"rp"`) {
		t.Fatalf("begin: %+v %v", step, err)
	}
	_, err = r.s.BeginPasskeyLogin(ctx, Caller{Remote: "192.0.2.7"}, "alice")
	wantFault(t, "no passkey yet", err, fault.NotFound, "no passkey is registered")
	_, err = r.s.FinishPasskeyLogin(ctx, Caller{}, "alice", nil)
	wantFault(t, "no credential", err, fault.Invalid, `member "credential" is required`)
}
