// Package browser holds end-to-end tests that drive deskhub's pages in headless Chromium (Debian's
// chromium, driven by playwright-core from Node). scripts/browser-deps.sh installs both when missing; a
// failed install fails the tests unless DESKHUB_SKIP_BROWSER=1.
package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/server"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// browserDeps runs scripts/browser-deps.sh; a failure fails the test (skipped only by DESKHUB_SKIP_BROWSER=1).
func browserDeps(t *testing.T) {
	t.Helper()
	if os.Getenv("DESKHUB_SKIP_BROWSER") == "1" {
		t.Skip("DESKHUB_SKIP_BROWSER=1: browser tests skipped")
	}
	script, err := filepath.Abs("../../scripts/browser-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "bash", script)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("scripts/browser-deps.sh failed (set DESKHUB_SKIP_BROWSER=1 to skip the browser tests): %v\n%s", err, out.String())
	}
}

// startDeskhub serves deskhub on a free loopback port with its public URL on localhost (a secure
// context for WebAuthn) and an account login/password.
func startDeskhub(t *testing.T, login, password string, tune ...func(*config.Config)) (string, *server.Server, func() []byte) {
	t.Helper()
	return startDeskhubWith(t, []testAccount{{login, password, false}}, tune...)
}

// testAccount is an account startDeskhubWith creates.
type testAccount struct {
	login, password string
	admin           bool
}

// startDeskhubWith is startDeskhub with several accounts; credentials lists the first one's passkeys.
func startDeskhubWith(t *testing.T, accounts []testAccount, tune ...func(*config.Config)) (string, *server.Server, func() []byte) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = ln.Addr().String()
	cfg.PublicURL = fmt.Sprintf("http://localhost:%d", port)
	cfg.Hostname = "deskhub-browser-test"
	cfg.ShutdownGrace = 2 * time.Second
	for _, f := range tune {
		f(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var u store.User
	for i, a := range accounts {
		nu, err := auth.NewLocalUser(a.login, a.login+"@example.org", a.password, a.admin)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateUser(ctx, &nu); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			u = nu
		}
	}
	srv, err := server.New(server.Options{Config: cfg, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		st.Close()
	})
	credentials := func() []byte {
		creds, err := st.ListCredentials(context.Background(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(creds)
		if len(creds) == 0 {
			return nil
		}
		return b
	}
	return cfg.PublicURL, srv, credentials
}

type passkeyRun struct {
	PasswordToken            string `json:"passwordToken"`
	PasskeyToken             string `json:"passkeyToken"`
	Whoami                   string `json:"whoami"`
	ListedPasskeys           int    `json:"listedPasskeys"`
	AuthenticatorCredentials int    `json:"authenticatorCredentials"`
	ResidentKey              bool   `json:"residentKey"`
	ProfileLogin             string `json:"profileLogin"`
	APIToken                 string `json:"apiToken"`
	TokenShownAfterDone      bool   `json:"tokenShownAfterDone"`
	APITokensAfterRevoke     int    `json:"apiTokensAfterRevoke"`
	SSHKeys                  int    `json:"sshKeys"`
	SSHKeysAfter             int    `json:"sshKeysAfter"`
	CookieAfterLogout        string `json:"cookieAfterLogout"`
	LoginFieldBeforePasskey  string `json:"loginFieldBeforePasskey"`
	MS                       int    `json:"ms"`
}

// infraLogin calls user.login and answers its status.
func infraLogin(t *testing.T, base, login, password string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user_login": login, "user_password": password})
	resp, err := http.Post(base+"/api/v1/user.login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// userGet calls user.get with token and returns the status and the login answered.
func userGet(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/user.get", strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			Attributes struct {
				UserLogin string `json:"user_login"`
			} `json:"attributes"`
		} `json:"data"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&doc)
	return resp.StatusCode, doc.Data.Attributes.UserLogin
}

// TestPasskeyInChromium: in the web app, log in with a password, and on the account page add a passkey
// with Chromium's virtual authenticator, create an API token (shown once; it works) and revoke it (it no
// longer works), add and remove an SSH key, change the password (the new one logs in, the old one not);
// log out, and log in with the passkey without typing a login name; the cookie's token it gets works on
// user.get.
func TestPasskeyInChromium(t *testing.T) {
	browserDeps(t)
	const login, password = "alice", "correct horse battery staple"
	base, _, credentials := startDeskhub(t, login, password)

	const newPassword = "a brand new password for alice"
	var run passkeyRun
	runScript(t, 90*time.Second, nil, nil, &run, "passkey.mjs", base, login, password, newPassword, screenshotDir(t))

	if credentials() == nil {
		t.Fatal("no WebAuthn credential stored for the account")
	}
	if run.ListedPasskeys != 1 || run.AuthenticatorCredentials != 1 || !run.ResidentKey {
		t.Fatalf("listed %d passkeys, authenticator holds %d (resident: %v)", run.ListedPasskeys, run.AuthenticatorCredentials, run.ResidentKey)
	}
	if run.Whoami != login || run.PasskeyToken == "" || run.PasskeyToken == run.PasswordToken {
		t.Fatalf("passkey login: whoami %q, token %q", run.Whoami, run.PasskeyToken)
	}
	if status, got := userGet(t, base, run.PasskeyToken); status != 200 || got != login {
		t.Fatalf("user.get with the passkey token: %d %q", status, got)
	}
	if status, _ := userGet(t, base, run.PasswordToken); status != http.StatusUnauthorized {
		t.Fatalf("user.get with the password token after logout: %d, want 401", status)
	}
	if run.ProfileLogin != login || run.CookieAfterLogout != "" || run.LoginFieldBeforePasskey != "" {
		t.Errorf("profile login %q, cookie after logout %q, login field before the passkey login %q", run.ProfileLogin, run.CookieAfterLogout, run.LoginFieldBeforePasskey)
	}
	// The API token was shown once, and revoked from the page.
	if run.APIToken == "" || run.TokenShownAfterDone || run.APITokensAfterRevoke != 0 {
		t.Errorf("API token %q, still shown after Done %v, active API tokens after revoke %d", run.APIToken, run.TokenShownAfterDone, run.APITokensAfterRevoke)
	}
	if status, _ := userGet(t, base, run.APIToken); status != http.StatusUnauthorized {
		t.Errorf("user.get with the revoked API token: %d, want 401", status)
	}
	if run.SSHKeys != 1 || run.SSHKeysAfter != 0 {
		t.Errorf("SSH keys: %d after adding, %d after removing", run.SSHKeys, run.SSHKeysAfter)
	}
	// The password changed: the new one logs in, the old one does not.
	if code := infraLogin(t, base, login, newPassword); code != 200 {
		t.Errorf("user.login with the new password: %d", code)
	}
	if code := infraLogin(t, base, login, password); code != http.StatusUnauthorized {
		t.Errorf("user.login with the old password: %d, want 401", code)
	}
}
