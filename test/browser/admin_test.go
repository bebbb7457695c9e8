package browser

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/config"
)

type adminRun struct {
	AdminTabs           []string    `json:"adminTabs"`
	Listed              []string    `json:"listed"`
	SelfActions         []string    `json:"selfActions"`
	Created             string      `json:"created"`
	LockStatus          string      `json:"lockStatus"`
	LockedBadge         string      `json:"lockedBadge"`
	UnlockStatus        string      `json:"unlockStatus"`
	Mismatch            string      `json:"mismatch"`
	ResetStatus         string      `json:"resetStatus"`
	ResetDialogOpen     bool        `json:"resetDialogOpen"`
	AfterEscape         bool        `json:"afterEscape"`
	DeleteEnabledBefore bool        `json:"deleteEnabledBefore"`
	DeleteEnabledAfter  bool        `json:"deleteEnabledAfter"`
	DeleteStatus        string      `json:"deleteStatus"`
	ListedAfter         []string    `json:"listedAfter"`
	AuditPage1          []string    `json:"auditPage1"`
	AuditPage2          []string    `json:"auditPage2"`
	OlderEnabled        bool        `json:"olderEnabled"`
	AuditFiltered       []string    `json:"auditFiltered"`
	DarkBg              string      `json:"darkBg"`
	UserTabs            []string    `json:"userTabs"`
	UserSeesUsers       bool        `json:"userSeesUsers"`
	UserListStatus      int         `json:"userListStatus"`
	UserListMessage     string      `json:"userListMessage"`
	Foreign             []string    `json:"foreign"`
	Checks              []pageCheck `json:"checks"`
}

// infraCall POSTs body to /api/v1/<call> with token and answers the status.
func infraCall(t *testing.T, base, token, call string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/api/v1/"+call, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAdminUsersInChromium: in the web app, an administrator creates an account (keyboard only), locks
// and unlocks it, resets its password, deletes another account after typing its login (Escape cancels),
// and reads the audit log in pages and filtered by login; axe-core finds no serious or critical
// violation on the pages and dialogs (light at 1280 px, dark at 390 px, no sideways overflow). The new
// account logs in with the reset password and is neither offered the pages nor let in by the API
// (403). Screenshots go to docs/screenshots.
func TestAdminUsersInChromium(t *testing.T) {
	browserDeps(t)
	const admin, victim, password = "root", "bob", "correct horse battery staple"
	// The delete retires the account's Unix identity: a prefix of this test's own.
	base, _, _ := startDeskhubWith(t, []testAccount{{admin, password, true}, {victim, password, false}},
		func(c *config.Config) { c.Sessions.UserPrefix = "dhadmb-" })

	// Enough audit entries for two pages of 25: API tokens the administrator creates.
	token := loginToken(t, base, admin, password)
	for i := range 30 {
		if code := infraCall(t, base, token, "token.create", map[string]any{"token_lifetime": 3600 + i}); code != 200 {
			t.Fatalf("token.create: HTTP %d", code)
		}
	}

	var run adminRun
	runScript(t, 3*time.Minute, nil, nil, &run, "admin.mjs", base, admin, password, victim, screenshotDir(t))

	checkPages(t, run.Checks, 7)
	if !slices.Contains(run.AdminTabs, "admin-tab-users") || !slices.Contains(run.AdminTabs, "admin-tab-audit") {
		t.Errorf("administrator's tabs: %v", run.AdminTabs)
	}
	slices.Sort(run.Listed)
	if !slices.Equal(run.Listed, []string{"bob", "root"}) {
		t.Errorf("listed %v", run.Listed)
	}
	// An administrator cannot lock or delete himself from the page.
	if !slices.Contains(run.SelfActions, "lock:off") || !slices.Contains(run.SelfActions, "delete:off") {
		t.Errorf("own row's buttons: %v", run.SelfActions)
	}
	if run.LockedBadge != "locked" || !strings.Contains(run.LockStatus, "carol is locked") || !strings.Contains(run.UnlockStatus, "carol is unlocked") {
		t.Errorf("lock %q (badge %q), unlock %q", run.LockStatus, run.LockedBadge, run.UnlockStatus)
	}
	if !strings.Contains(run.Mismatch, "differ") || run.ResetDialogOpen {
		t.Errorf("password mismatch said %q; dialog still open after the reset: %v", run.Mismatch, run.ResetDialogOpen)
	}
	if !run.AfterEscape || run.DeleteEnabledBefore || !run.DeleteEnabledAfter {
		t.Errorf("delete dialog: bob kept after Escape %v, button enabled before typing %v, after %v", run.AfterEscape, run.DeleteEnabledBefore, run.DeleteEnabledAfter)
	}
	slices.Sort(run.ListedAfter)
	if !slices.Equal(run.ListedAfter, []string{"carol", "root"}) {
		t.Errorf("after the delete: %v", run.ListedAfter)
	}
	if infraLogin(t, base, victim, password) != http.StatusUnauthorized {
		t.Errorf("the deleted account still logs in")
	}

	// The audit log: the actions, newest first, two pages; filtered to carol's four.
	wantTop := []string{"admin.userDelete bob", "admin.userPasswordReset carol", "admin.userUnlock carol", "admin.userLock carol", "admin.userCreate carol"}
	if len(run.AuditPage1) != 25 || !slices.Equal(run.AuditPage1[:5], wantTop) || !run.OlderEnabled {
		t.Errorf("audit page 1 (%d, older enabled %v): %q", len(run.AuditPage1), run.OlderEnabled, run.AuditPage1)
	}
	// 30 token.create, the administrator's API login, the browser login, the five actions: 37 entries.
	if len(run.AuditPage2) != 37-25 || !strings.HasPrefix(run.AuditPage2[len(run.AuditPage2)-1], "user.login ") {
		t.Errorf("audit page 2 (%d entries): %q", len(run.AuditPage2), run.AuditPage2)
	}
	if !slices.Equal(run.AuditFiltered, wantTop[1:]) {
		t.Errorf("audit filtered by carol: %q", run.AuditFiltered)
	}
	if !strings.HasPrefix(run.DarkBg, "rgb(20, 22, 26)") {
		t.Errorf("dark theme background %s", run.DarkBg)
	}

	// carol: the password the administrator set; no admin pages, and 403 from the API.
	if strings.Contains(strings.Join(run.UserTabs, " "), "users") || strings.Contains(strings.Join(run.UserTabs, " "), "audit") || run.UserSeesUsers {
		t.Errorf("a user's tabs: %v (users page shown: %v)", run.UserTabs, run.UserSeesUsers)
	}
	if run.UserListStatus != 403 || !strings.Contains(run.UserListMessage, "administrators") {
		t.Errorf("admin.userList as a user: %d %q", run.UserListStatus, run.UserListMessage)
	}
	if len(run.Foreign) > 0 {
		t.Errorf("requests to elsewhere than deskhub: %v", run.Foreign)
	}
}

// loginToken logs in through user.login and answers the token.
func loginToken(t *testing.T, base, login, password string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"user_login": login, "user_password": password})
	resp, err := http.Post(base+"/api/v1/user.login", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Data struct {
			Attributes struct {
				Token string `json:"token"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Data.Attributes.Token == "" {
		t.Fatalf("user.login: HTTP %d, %v", resp.StatusCode, err)
	}
	return doc.Data.Attributes.Token
}
