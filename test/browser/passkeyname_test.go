package browser

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

type passkeyNameRun struct {
	AfterAdd      []string    `json:"afterAdd"`
	RenameField   string      `json:"renameFieldFocusable"`
	RenameStatus  string      `json:"renameStatus"`
	AfterRename   []string    `json:"afterRename"`
	Refused       string      `json:"refused"`
	AfterCancel   string      `json:"afterCancel"`
	UnnamedStatus string      `json:"unnamedStatus"`
	UnnamedLabel  string      `json:"unnamedLabel"`
	Final         []string    `json:"final"`
	Foreign       []string    `json:"foreign"`
	Checks        []pageCheck `json:"checks"`
}

// TestPasskeyNamesInChromium: on the account page, a passkey added with a name is listed by it and
// stored with it; the keyboard renames it; a name the server refuses is said and changes nothing (and
// its error goes with the form's Cancel); an
// empty name shows "Unnamed passkey"; axe-core finds no serious or critical violation (light at
// 1280 px, dark at 390 px, no sideways overflow). Screenshots go to docs/screenshots.
func TestPasskeyNamesInChromium(t *testing.T) {
	browserDeps(t)
	const login, password = "alice", "correct horse battery staple"
	base, _, credentials := startDeskhub(t, login, password)

	var run passkeyNameRun
	runScript(t, 2*time.Minute, nil, nil, &run, "passkeyname.mjs", base, login, password, screenshotDir(t))
	checkPages(t, run.Checks, 3)
	if !slices.Equal(run.AfterAdd, []string{"Work laptop"}) || run.RenameField != "Work laptop" {
		t.Errorf("after adding: %v; the rename field started with %q", run.AfterAdd, run.RenameField)
	}
	if !slices.Equal(run.AfterRename, []string{"Home key"}) || !strings.Contains(run.Refused, "credential_name") {
		t.Errorf("after renaming: %v (said %q); refused name said %q", run.AfterRename, run.RenameStatus, run.Refused)
	}
	if strings.Contains(run.AfterCancel, "credential_name") {
		t.Errorf("after Cancel the refused name's error is still shown: %q", run.AfterCancel)
	}
	if run.UnnamedLabel != "Unnamed passkey" || !slices.Equal(run.Final, []string{"Phone"}) {
		t.Errorf("unnamed label %q; final names %v", run.UnnamedLabel, run.Final)
	}
	var creds []struct{ Name string }
	if err := json.Unmarshal(credentials(), &creds); err != nil || len(creds) != 1 || creds[0].Name != "Phone" {
		t.Errorf("stored credentials: %+v (%v)", creds, err)
	}
	if len(run.Foreign) > 0 {
		t.Errorf("requests to elsewhere than deskhub: %v", run.Foreign)
	}
}
