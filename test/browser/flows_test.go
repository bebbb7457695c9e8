package browser

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/config"
)

type flowsRun struct {
	Registered string `json:"registered"`
	EmailShown string `json:"emailShown"`
	Lock       struct {
		State         string `json:"state"`
		Button        string `json:"button"`
		FormDisabled  bool   `json:"formDisabled"`
		ChangeRefused struct {
			Status int    `json:"status"`
			Detail string `json:"detail"`
		} `json:"changeRefused"`
	} `json:"lock"`
	Token       string `json:"token"`
	OtherBefore string `json:"otherBefore"`
	OtherAfter  string `json:"otherAfter"`
	OtherCall   int    `json:"otherCall"`
	CookieAfter string `json:"cookieAfter"`
	Recovered   string `json:"recovered"`
}

// TestAccountFlowsInChromium: in the web app, with mails delivered to deskhub's outbox — register an
// account with the mailed code (the page signs it in), change its email with the code mailed to the new
// address, lock password changes with the mailed code (the page shows them locked and disables the
// password form; the server refuses a change with 403), log out in one tab while a second tab and a
// second browser holding the same cookie are signed in (the tab shows the login, the second browser is
// signed out and its calls answer 401, the token no longer works), then recover the password with the
// mailed code and log in with the new password (the old one no longer works).
func TestAccountFlowsInChromium(t *testing.T) {
	browserDeps(t)
	var dataDir string
	base, _, _ := startDeskhubWith(t, nil, func(c *config.Config) { dataDir = c.DataDir })
	const login, password, newPassword = "carol", "carol's first long password", "carol's recovered long password"
	email, newEmail := "carol@example.org", "carol.new@example.org"
	cfg := map[string]string{"base": base, "outbox": filepath.Join(dataDir, "outbox"), "shots": screenshotDir(t),
		"login": login, "email": email, "newEmail": newEmail, "password": password, "newPassword": newPassword}
	cfgPath := filepath.Join(t.TempDir(), "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var run flowsRun
	runScript(t, 2*time.Minute, nil, nil, &run, "flows.mjs", cfgPath)

	if run.Registered != login {
		t.Errorf("registered and signed in as %q, want %q", run.Registered, login)
	}
	if run.EmailShown != newEmail {
		t.Errorf("profile shows email %q after the change, want %q", run.EmailShown, newEmail)
	}
	if !strings.Contains(run.Lock.State, "locked") || !strings.Contains(run.Lock.Button, "Unlock") || !run.Lock.FormDisabled {
		t.Errorf("after the lock the page shows %+v", run.Lock)
	}
	if run.Lock.ChangeRefused.Status != http.StatusForbidden || !strings.Contains(run.Lock.ChangeRefused.Detail, "locked") {
		t.Errorf("password change while locked: %+v, want 403 saying it is locked", run.Lock.ChangeRefused)
	}
	if run.OtherBefore != login || run.OtherAfter != "signed-out" || run.OtherCall != http.StatusUnauthorized || run.CookieAfter != "" {
		t.Errorf("logout everywhere: second browser was %q, then %q, its call answered %d; cookie after logout %q",
			run.OtherBefore, run.OtherAfter, run.OtherCall, run.CookieAfter)
	}
	if status, _ := userGet(t, base, run.Token); status != http.StatusUnauthorized {
		t.Errorf("user.get with the logged-out token: %d, want 401", status)
	}
	if run.Recovered != login {
		t.Errorf("after the recovery signed in as %q", run.Recovered)
	}
	if code := infraLogin(t, base, login, newPassword); code != http.StatusOK {
		t.Errorf("user.login with the recovered password: %d", code)
	}
	if code := infraLogin(t, base, login, password); code != http.StatusUnauthorized {
		t.Errorf("user.login with the first password: %d, want 401", code)
	}
}
