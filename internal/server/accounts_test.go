package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/store"
)

const testPassword = "correct horse battery"

// user creates an account in the store and logs it in through user.login; it returns the token.
func (h *harness) user(login string, admin bool) string {
	h.t.Helper()
	u, err := auth.NewLocalUser(login, login+"@example.org", testPassword, admin)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.s.store.CreateUser(context.Background(), &u); err != nil {
		h.t.Fatal(err)
	}
	return h.login(login, testPassword)
}

// login logs in through user.login and answers the token.
func (h *harness) login(login, password string) string {
	h.t.Helper()
	_, tok := h.loginAnswer(login, password)
	return tok
}

// loginAnswer logs in through user.login and answers the answer and its token.
func (h *harness) loginAnswer(login, password string) (jsonapi.One[vmm.TokenAttributes], string) {
	h.t.Helper()
	doc, err := h.client("").UserLogin(context.Background(), login, password)
	must(h.t, err)
	tok := doc.Data.Attributes.Token
	if !strings.HasPrefix(tok, "dh_") || len(tok) < 40 {
		h.t.Fatalf("login token %q", tok)
	}
	return doc, tok
}

func (h *harness) countUsers() int {
	n, err := h.s.store.CountUsers(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func register(login, email, pw, repeat, code string) vmm.UserRegisterRequest {
	return vmm.UserRegisterRequest{UserLogin: login, UserEmail: email, UserPassword: pw, UserPasswordRepeat: repeat, UserCode: code}
}

func TestRegisterInTwoSteps(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	anon := h.client("")
	_, err := anon.Register(ctx, register("carol", "carol@example.org", testPassword, testPassword, ""))
	must(t, err)
	if h.countUsers() != 0 {
		t.Fatal("step one created an account")
	}
	code := h.mail.Code(t, "carol@example.org")

	_, err = anon.Register(ctx, register("carol", "carol@example.org", testPassword, testPassword, "0f6a3b52-1c2d-4e5f-8a9b-0c1d2e3f4a5b"))
	wantErr(t, err, 400, "the code is wrong, used or expired")
	_, err = anon.Register(ctx, register("mallory", "carol@example.org", testPassword, testPassword, code))
	wantErr(t, err, 400, "another login or address")
	if h.countUsers() != 0 {
		t.Fatal("a refused step two created an account")
	}
	// The refused try above used the code up? No: a failed transaction leaves it unused.
	_, err = anon.Register(ctx, register("carol", "carol@example.org", testPassword, testPassword, code))
	must(t, err)
	if h.countUsers() != 1 {
		t.Fatal("no account after step two")
	}
	h.login("carol", testPassword)
	// A code works once.
	_, err = anon.Register(ctx, register("carol", "carol@example.org", testPassword, testPassword, code))
	wantErr(t, err, 409, "taken")
	_, err = anon.Register(ctx, register("dave", "dave@example.org", testPassword, testPassword, ""))
	must(t, err)
	code = h.mail.Code(t, "dave@example.org")
	h.clock.Advance(61 * time.Minute)
	_, err = anon.Register(ctx, register("dave", "dave@example.org", testPassword, testPassword, code))
	wantErr(t, err, 400, "expired")
	// Codes are stored hashed: the code's text is nowhere in the database.
	rows, err := h.s.store.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil || len(rows) == 0 {
		t.Fatalf("audit: %v %d", err, len(rows))
	}
}

// TestRegisterRejectsBadInput: the field at fault is named (its JSON pointer). The rules themselves are
// internal/account's and api/vmm's to test; here, that they reach the wire as a 400 with the pointer.
func TestRegisterRejectsBadInput(t *testing.T) {
	h := newHarness(t)
	typed := []struct {
		req   vmm.UserRegisterRequest
		field string
		msg   string
	}{
		{register("erin", "not-an-address", testPassword, testPassword, ""), "user_email", "not a valid address"},
		{register("erin", "erin@example.org", "short", "short", ""), "user_password", "at least 8"},
		{register("erin", "erin@example.org", testPassword, testPassword+"x", ""), "user_passwordRepeat", "must equal"},
		{register(strings.Repeat("e", 40), "erin@example.org", testPassword, testPassword, ""), "user_login", "1 to 32"},
		{register("Erin Smith", "erin@example.org", testPassword, testPassword, ""), "user_login", "lower-case"},
		{register("erin", "erin@example.org", strings.Repeat("p", 2000), strings.Repeat("p", 2000), ""), "user_password", "at most"},
	}
	for i, tc := range typed {
		_, err := h.client("").Register(context.Background(), tc.req)
		if e := wantErr(t, err, 400, tc.msg); e.Pointer != "/data/attributes/"+tc.field {
			t.Errorf("case %d: pointer %q, want field %s", i, e.Pointer, tc.field)
		}
	}
	// Bodies the SDK cannot send (an unknown member, a member of the wrong type, a missing one, broken
	// JSON): raw, since the malformed body is the point.
	raw := []struct {
		body  string
		field string
		msg   string
	}{
		{`{"user_login":"erin","user_email":"erin@example.org","user_password":"` + testPassword + `","user_passwordRepeat":"` + testPassword + `","admin":true}`, "admin", "not known"},
		{`{"user_login":7,"user_email":"erin@example.org","user_password":"x","user_passwordRepeat":"x"}`, "user_login", "must be a string"},
		{`{"user_email":"erin@example.org"}`, "user_login", "must not be empty"},
		{`{"user_login":"erin",`, "", "malformed JSON"},
	}
	for i, tc := range raw {
		r := h.call("POST", "/api/v1/user.register", "", tc.body).wantErr(t, 400, tc.msg)
		if ptr := r.str("errors", 0, "source", "pointer"); tc.field != "" && ptr != "/data/attributes/"+tc.field {
			t.Errorf("raw case %d: pointer %q, want field %s", i, ptr, tc.field)
		}
	}
	if h.countUsers() != 0 || h.mail.Count("erin@example.org") != 0 {
		t.Fatal("bad input created an account or sent a mail")
	}
}

func TestFeatureSwitches(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) {
		c.Features.DisableUserRegistration = true
		c.Features.DisableUserRecovery = true
		c.Features.DisableSSHKeyAdd = true
	})
	ctx := context.Background()
	c := h.client(h.user("frank", false))
	anon := h.client("")
	cfg, err := anon.InfraConfig(ctx)
	must(t, err)
	if !cfg.DisableUserRegistration {
		t.Fatal("config.get does not report the switch")
	}
	_, err = anon.Register(ctx, register("gina", "gina@example.org", testPassword, testPassword, ""))
	wantErr(t, err, 403, "registration is disabled")
	_, err = anon.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "frank@example.org"})
	wantErr(t, err, 403, "recovery is disabled")
	_, err = c.AddSSHKey(ctx, "k", newSSHKey(t))
	wantErr(t, err, 403, "adding SSH keys is disabled")
	if h.mail.Count("gina@example.org")+h.mail.Count("frank@example.org") != 0 {
		t.Fatal("a disabled feature sent mail")
	}
}

func TestRecovery(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	old := h.client(h.user("hank", false))
	anon := h.client("")
	// Raw: the two answers must be the same bytes, not only decode alike (no account enumeration).
	a := h.call("POST", "/api/v1/user.recovery", "", `{"user_email":"hank@example.org"}`).want(t, 200)
	b := h.call("POST", "/api/v1/user.recovery", "", `{"user_email":"nobody@example.org"}`).want(t, 200)
	if a.Raw != b.Raw {
		t.Fatalf("recovery answers tell accounts apart: %s vs %s", a.Raw, b.Raw)
	}
	if h.mail.Count("nobody@example.org") != 0 {
		t.Fatal("mail to an address without account")
	}
	code := h.mail.Code(t, "hank@example.org")
	_, err := anon.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "hank@example.org", UserCode: code,
		UserPassword: "new password 1", UserPasswordRepeat: "new password 2"})
	wantErr(t, err, 400, "must equal")
	_, err = anon.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "hank@example.org", UserCode: code,
		UserPassword: "new password 1", UserPasswordRepeat: "new password 1"})
	must(t, err)
	_, err = anon.UserLogin(ctx, "hank", testPassword)
	wantErr(t, err, 401, "")
	h.login("hank", "new password 1")
	_, err = old.User(ctx)
	wantErr(t, err, 401, "not valid")
}

func TestLoginTokenAndLogout(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	tok := h.user("ivan", true)
	doc, _ := h.loginAnswer("ivan", testPassword)
	users, err := client.Included[vmm.UserAttributes](doc.Included, vmm.TypeUser)
	if err != nil || len(users) != 1 || doc.Data.Type != vmm.TypeLogin || doc.Data.ID != users[0].ID ||
		doc.Data.Attributes.TokenType != "user.login" || users[0].Attributes.UserLogin != "ivan" || !users[0].Attributes.UserAdmin {
		t.Fatalf("login answer: %+v (%v)", doc, err)
	}
	c := h.client(tok)
	me, err := c.User(ctx)
	must(t, err)
	if me.Data.Attributes.UserLogin != "ivan" || me.Data.Attributes.UserEmail != "ivan@example.org" {
		t.Fatalf("user.get: %+v", me)
	}
	// Raw: the hash must be nowhere in the bytes, whatever member would carry it.
	if raw := h.call("POST", "/api/v1/user.get", tok, "{}").want(t, 200).Raw; strings.Contains(raw, "argon2") {
		t.Fatal("user.get leaks the password hash")
	}
	anon := h.client("")
	_, err = anon.UserLogin(ctx, "ivan", "wrong password")
	wantErr(t, err, 401, "wrong login or password")
	_, err = anon.UserLogin(ctx, "nobody", "wrong password")
	wantErr(t, err, 401, "wrong login or password")
	must(t, c.UserLogout(ctx))
	_, err = h.client(tok).User(ctx)
	wantErr(t, err, 401, "not valid")
	_, err = anon.User(ctx)
	wantErr(t, err, 401, "needs a token")
	_, err = h.client("dh_forged").User(ctx)
	wantErr(t, err, 401, "not valid")
	_, err = h.client("", "Authorization", "Basic aXZhbjp4").User(ctx)
	wantErr(t, err, 401, "Bearer")
}

func TestTokens(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	login := h.client(h.user("judy", false))
	mk := func(life time.Duration, revokeAll bool) (*client.Client, string) {
		doc, err := login.CreateToken(ctx, life, revokeAll)
		must(t, err)
		if a := doc.Data.Attributes; a.TokenType != "system.api" || a.TokenStatus != "active" {
			t.Fatalf("token.create: %+v", doc)
		}
		return h.client(doc.Data.Attributes.Token), doc.Data.Attributes.TokenName
	}
	api1, name1 := mk(time.Hour, false)
	api2, _ := mk(time.Minute, false)
	_, err := api1.User(ctx)
	must(t, err)
	list, err := login.ListTokens(ctx)
	must(t, err)
	if len(list.Data) != 3 {
		t.Fatalf("token.get lists %d tokens, want 3: %+v", len(list.Data), list)
	}
	// Raw: no secret anywhere in the bytes, whatever member would carry it.
	if raw := h.call("POST", "/api/v1/token.get", login.Token(), "{}").want(t, 200).Raw; strings.Contains(raw, api1.Token()) || strings.Contains(raw, `"token":`) {
		t.Fatal("token.get shows secrets")
	}
	// Expiry works at once.
	h.clock.Advance(61 * time.Second)
	_, err = api2.User(ctx)
	wantErr(t, err, 401, "not valid")
	// Revocation works at once.
	must(t, login.RevokeToken(ctx, name1))
	_, err = api1.User(ctx)
	wantErr(t, err, 401, "not valid")
	wantErr(t, login.RevokeToken(ctx, "tok-000000000000"), 404, "no token named")
	list, err = login.ListTokens(ctx)
	must(t, err)
	states := map[string]string{}
	for _, r := range list.Data {
		states[r.Attributes.TokenName] = r.Attributes.TokenStatus
	}
	if states[name1] != "revoked" {
		t.Fatalf("states %v", states)
	}
	// token_revoke_all revokes the other API tokens, not the login token.
	api3, _ := mk(time.Hour, false)
	api4, _ := mk(time.Hour, true)
	_, err = api3.User(ctx)
	wantErr(t, err, 401, "not valid")
	_, err = api4.User(ctx)
	must(t, err)
	_, err = login.User(ctx)
	must(t, err)
	// Bounds (internal/account tests them; here, that they answer 400).
	_, err = login.CreateToken(ctx, 0, false)
	wantErr(t, err, 400, "positive")
	_, err = login.CreateToken(ctx, 400*24*time.Hour, false)
	wantErr(t, err, 400, "at most")
	// Raw: a lifetime of the wrong JSON type, which the SDK cannot send (a numeric string is taken).
	h.call("POST", "/api/v1/token.create", login.Token(), `{"token_lifetime":"ten"}`).wantErr(t, 400, "must be an integer")
	// Tokens are stored hashed.
	rows, err := h.s.store.ListTokens(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range rows {
		if strings.Contains(string(tok.Hash), api4.Token()) || len(tok.Hash) != 32 {
			t.Fatal("token stored in the clear")
		}
	}
}

func newSSHKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " test@deskhub"
}

func TestSSHKeys(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.client(h.user("kate", false))
	b := h.client(h.user("liam", false))
	key := newSSHKey(t)
	doc, err := a.AddSSHKey(ctx, "laptop", key)
	must(t, err)
	if at := doc.Data.Attributes; !strings.HasPrefix(at.KeyFingerprint, "SHA256:") || at.KeyPublic != key {
		t.Fatalf("ssh-key.add: %+v", doc)
	}
	id := doc.Data.Attributes.KeyID
	_, err = a.AddSSHKey(ctx, "again", key)
	wantErr(t, err, 409, "added already")
	_, err = b.AddSSHKey(ctx, "shared", key)
	must(t, err)
	for _, bad := range []string{"ssh-rsa AAAAnotbase64", "hello", key + "\n" + key, `command="x" ` + key} {
		_, err = a.AddSSHKey(ctx, "bad", bad)
		wantErr(t, err, 400, "key_public")
	}
	if keys, err := a.ListSSHKeys(ctx); err != nil || len(keys.Data) != 1 {
		t.Fatalf("kate has %d keys (%v)", len(keys.Data), err)
	}
	// Another user's key answers exactly like a missing one.
	other := wantErr(t, b.DeleteSSHKey(ctx, id), 404, "")
	gone := wantErr(t, a.DeleteSSHKey(ctx, 999999), 404, "")
	if strings.Replace(other.Message, fmt.Sprint(id), "999999", 1) != gone.Message {
		t.Fatalf("another's key %q vs missing %q", other.Message, gone.Message)
	}
	must(t, a.DeleteSSHKey(ctx, id))
	if keys, err := a.ListSSHKeys(ctx); err != nil || len(keys.Data) != 0 {
		t.Fatalf("key not deleted (%v)", err)
	}
}

// changePassword is user.passwordChange with both members.
func changePassword(c *client.Client, pw string) error {
	_, err := c.ChangePassword(context.Background(), pw)
	return err
}

func TestPasswordChangeAndLock(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.client(h.user("mia", false))
	other := h.client(h.login("mia", testPassword))
	must(t, changePassword(c, "second password"))
	_, err := c.User(ctx)
	must(t, err)
	_, err = other.User(ctx)
	wantErr(t, err, 401, "not valid") // other sessions end
	h.login("mia", "second password")

	// Lock: step one mails a code, step two locks.
	_, err = c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: true})
	must(t, err)
	code := h.mail.Code(t, "mia@example.org")
	_, err = c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: false, UserCode: code})
	wantErr(t, err, 400, "opposite change")
	doc, err := c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: true, UserCode: code})
	must(t, err)
	if !doc.Data.Attributes.UserPasswordLocked {
		t.Fatalf("not locked: %+v", doc)
	}
	wantErr(t, changePassword(c, "third password"), 403, "locked")
	h.login("mia", "second password")
	// Recovery (with a code) still works on a locked account.
	anon := h.client("")
	_, err = anon.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "mia@example.org"})
	must(t, err)
	code = h.mail.Code(t, "mia@example.org")
	_, err = anon.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "mia@example.org", UserCode: code,
		UserPassword: "fourth password", UserPasswordRepeat: "fourth password"})
	must(t, err)
	c = h.client(h.login("mia", "fourth password"))
	// Unlock with a code, then changes work again.
	_, err = c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: false})
	must(t, err)
	code = h.mail.Code(t, "mia@example.org")
	_, err = c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: false, UserCode: code})
	must(t, err)
	must(t, changePassword(c, "fifth password"))
	wantErr(t, changePassword(c, "sixth"), 400, "at least 8")
}

func TestEmailChange(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	c := h.client(h.user("nina", false))
	h.user("omar", false)
	change := func(email, code string) error {
		_, err := c.ChangeEmail(ctx, vmm.UserEmailChangeRequest{UserEmail: email, UserCode: code})
		return err
	}
	wantErr(t, change("omar@example.org", ""), 409, "exists already")
	wantErr(t, change("bad@", ""), 400, "user_email")
	must(t, change("nina@new.example.org", ""))
	code := h.mail.Code(t, "nina@new.example.org")
	wantErr(t, change("nina@other.example.org", code), 400, "another account or address")
	must(t, change("nina@new.example.org", code))
	if me, err := c.User(ctx); err != nil || me.Data.Attributes.UserEmail != "nina@new.example.org" {
		t.Fatalf("address not changed: %+v, %v", me, err)
	}
}

func TestLoginThrottling(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.user("pete", false)
	anon := h.client("")
	login := func(user, pw string) error {
		_, err := anon.UserLogin(ctx, user, pw)
		return err
	}
	for range 3 {
		wantErr(t, login("pete", "wrong password"), 401, "")
	}
	wantErr(t, login("pete", "wrong password"), 401, "") // the 4th failure starts the backoff
	if e := wantErr(t, login("pete", testPassword), 429, "too many failed logins"); e.RetryAfter <= 0 {
		t.Fatalf("no Retry-After: %+v", e)
	}
	// Another address is held back too while the account is backing off.
	h.remote = "192.0.2.99:1"
	wantErr(t, login("pete", testPassword), 429, "")
	h.clock.Advance(3 * time.Second)
	h.login("pete", testPassword)
	// Per address: one address failing against many accounts is held back.
	h.remote = "198.51.100.7:2"
	for i := range 4 {
		wantErr(t, login(fmt.Sprintf("ghost%d", i), "x-wrong-x"), 401, "")
	}
	wantErr(t, login("pete", testPassword), 429, "")
}

// TestAuthorizationTable sends every account call of the infrastructure surface, and the session
// surface's user calls, as anonymous, user A, user B and an administrator; a resource of another user
// answers like a missing one. Each row is one SDK call made with the caller's client; the session
// surface's login stages get the caller's token as their stage token (what the raw table sent: a
// bearer token where a stage token belongs, which is no login in progress).
func TestAuthorizationTable(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a := h.user("alice", false)
	b := h.user("bob", false)
	admin := h.user("root", true)
	key, err := h.client(a).AddSSHKey(ctx, "a", newSSHKey(t))
	must(t, err)
	keyA := key.Data.Attributes.KeyID
	tok, err := h.client(a).CreateToken(ctx, time.Hour, false)
	must(t, err)
	tokA := tok.Data.Attributes.TokenName
	newKey := newSSHKey(t)

	ignore := func(_ any, err error) error { return err }
	type row struct {
		name string
		call func(c *client.Client) error
		// status for anonymous, alice (owner), bob (other user), admin
		anon, owner, other, admin int
	}
	rows := []row{
		{"user.get", func(c *client.Client) error { return ignore(c.User(ctx)) }, 401, 200, 200, 200},
		{"token.get", func(c *client.Client) error { return ignore(c.ListTokens(ctx)) }, 401, 200, 200, 200},
		{"token.create", func(c *client.Client) error { return ignore(c.CreateToken(ctx, time.Minute, false)) }, 401, 200, 200, 200},
		{"token.revoke", func(c *client.Client) error { return c.RevokeToken(ctx, tokA) }, 401, 200, 404, 404},
		{"ssh-key.get", func(c *client.Client) error { return ignore(c.ListSSHKeys(ctx)) }, 401, 200, 200, 200},
		{"ssh-key.add", func(c *client.Client) error { return ignore(c.AddSSHKey(ctx, "x", newKey)) }, 401, 200, 200, 200},
		{"ssh-key.delete", func(c *client.Client) error { return c.DeleteSSHKey(ctx, keyA) }, 401, 200, 404, 404},
		{"user.emailChange", func(c *client.Client) error {
			return ignore(c.ChangeEmail(ctx, vmm.UserEmailChangeRequest{UserEmail: "fresh@example.org"}))
		}, 401, 200, 200, 200},
		{"user.passwordLock", func(c *client.Client) error {
			return ignore(c.LockPassword(ctx, vmm.UserPasswordLockRequest{UserPasswordLocked: true}))
		}, 401, 200, 200, 200},
		{"user.passwordChange", func(c *client.Client) error { return ignore(c.ChangePassword(ctx, testPassword)) }, 401, 200, 200, 200},
		{"user.credentialGet", func(c *client.Client) error { return ignore(c.ListCredentials(ctx)) }, 401, 200, 200, 200},
		{"user.login", func(c *client.Client) error { return ignore(c.UserLogin(ctx, "alice", testPassword)) }, 200, 200, 200, 200},
		{"user.recovery", func(c *client.Client) error {
			return ignore(c.Recover(ctx, vmm.UserRecoveryRequest{UserEmail: "alice@example.org"}))
		}, 200, 200, 200, 200},
		{"config.get", func(c *client.Client) error { return ignore(c.InfraConfig(ctx)) }, 200, 200, 200, 200},
		{"/v3/api/user/profile", func(c *client.Client) error { return ignore(c.UserProfile(ctx)) }, 401, 200, 200, 200},
		{"/v3/api/user/admin", func(c *client.Client) error {
			if ok, err := c.IsAdmin(ctx); err != nil || ok {
				return err
			}
			return &client.Error{Status: 403} // IsAdmin answers the 403 as false
		}, 401, 403, 403, 200},
		{"/v3/api/user/keepalive", func(c *client.Client) error { return c.Keepalive(ctx) }, 401, 200, 200, 200},
		{"/v3/api/user/login", func(c *client.Client) error {
			return ignore(c.Login(ctx, fastx.LoginRequest{Username: "alice", Password: testPassword}))
		}, 200, 200, 200, 200},
		// No login in progress, whoever asks.
		{"/v3/api/user/login/password", func(c *client.Client) error { return ignore(c.LoginPassword(ctx, c.Token(), testPassword)) }, 401, 401, 401, 401},
		{"/v3/api/user/login/keyboard-interactive", func(c *client.Client) error {
			return ignore(c.LoginKeyboardInteractive(ctx, c.Token(), "x"))
		}, 401, 401, 401, 401},
		{"/v3/api/user/login/public-key", func(c *client.Client) error { return ignore(c.LoginPublicKey(ctx, c.Token(), "AAAA")) }, 401, 401, 401, 401},
		{"/v3/api/user/login/public-key/signed", func(c *client.Client) error { return ignore(c.LoginSigned(ctx, c.Token(), "AAAA")) }, 401, 401, 401, 401},
		{"user.register", func(c *client.Client) error { // step one: a mailed code
			return ignore(c.Register(ctx, register("newbie", "newbie@example.org", testPassword, testPassword, "")))
		}, 200, 200, 200, 200},
		{"user.credentialMake", func(c *client.Client) error { // only alice adds her passkeys
			return ignore(c.CredentialMake(ctx, vmm.UserCredentialMakeRequest{UserLogin: "alice"}))
		}, 401, 200, 403, 403},
		{"user.assertionGet", func(c *client.Client) error { return ignore(c.AssertionGet(ctx, "nobody")) }, 404, 404, 404, 404}, // no passkey: like an unknown login
		{"user.assertionVerify", func(c *client.Client) error {
			return ignore(c.AssertionVerify(ctx, vmm.UserAssertionVerifyRequest{UserLogin: "alice", Credential: []byte(`{"id":"x"}`)}))
		}, 400, 400, 400, 400},
		{"user.credentialDelete", func(c *client.Client) error { return ignore(c.DeleteCredentials(ctx, "")) }, 401, 200, 200, 200},
	}
	who := []struct {
		name string
		tok  string
	}{{"anonymous", ""}, {"other", b}, {"admin", admin}, {"owner", a}}
	for i, r := range rows {
		h.remote = fmt.Sprintf("198.51.100.%d:1", i+1) // a fresh address per row: failures of one row must not throttle the next
		path := r.name
		if !strings.HasPrefix(path, "/") {
			path = "/api/v1/" + path
		}
		if !h.s.implemented(path) {
			t.Logf("%s is not implemented yet; skipped in the table", path)
			continue
		}
		want := map[string]int{"anonymous": r.anon, "owner": r.owner, "other": r.other, "admin": r.admin}
		for _, w := range who {
			err := r.call(h.client(w.tok))
			got := client.StatusCode(err)
			if err == nil {
				got = 200
			} else if got == 0 {
				t.Errorf("%s as %s: %v", r.name, w.name, err)
				continue
			}
			if got != want[w.name] {
				t.Errorf("%s as %s: %d, want %d: %v", r.name, w.name, got, want[w.name], err)
			}
		}
	}
	// Logout last: it ends each caller's own token only.
	wantErr(t, h.client("").UserLogout(ctx), 401, "")
	must(t, h.client(b).UserLogout(ctx))
	_, err = h.client(a).User(ctx)
	must(t, err)
	_, err = h.client(b).User(ctx)
	wantErr(t, err, 401, "")
}
