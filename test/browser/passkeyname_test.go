package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

type passkeyNameRun struct {
	OK            bool     `json:"ok"`
	Error         string   `json:"error"`
	AfterAdd      []string `json:"afterAdd"`
	RenameField   string   `json:"renameFieldFocusable"`
	RenameStatus  string   `json:"renameStatus"`
	AfterRename   []string `json:"afterRename"`
	Refused       string   `json:"refused"`
	UnnamedStatus string   `json:"unnamedStatus"`
	UnnamedLabel  string   `json:"unnamedLabel"`
	Final         []string `json:"final"`
	Foreign       []string `json:"foreign"`
	Checks        []struct {
		Name       string `json:"name"`
		Overflow   int    `json:"overflow"`
		Violations []struct {
			ID     string   `json:"id"`
			Impact string   `json:"impact"`
			Help   string   `json:"help"`
			Nodes  []string `json:"nodes"`
		} `json:"violations"`
	} `json:"checks"`
	Steps []struct {
		Step string `json:"step"`
		MS   int    `json:"ms"`
	} `json:"steps"`
}

// TestPasskeyNamesInChromium: on the account page, a passkey added with a name is listed by it and
// stored with it; the keyboard renames it; a name the server refuses is said and changes nothing; an
// empty name shows "Unnamed passkey"; axe-core finds no serious or critical violation (light at
// 1280 px, dark at 390 px, no sideways overflow). Screenshots go to docs/screenshots.
func TestPasskeyNamesInChromium(t *testing.T) {
	browserDeps(t)
	const login, password = "alice", "correct horse battery staple"
	base, _, credentials := startDeskhub(t, login, password)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", "passkeyname.mjs", base, login, password, screenshotDir(t))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	runErr := cmd.Run()
	var run passkeyNameRun
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &run); err != nil || !run.OK || runErr != nil {
		t.Fatalf("passkeyname.mjs: %v (ok=%v, error: %s)\nstdout: %s\nstderr:\n%s", runErr, run.OK, run.Error, stdout.String(), stderr.String())
	}
	for _, s := range run.Steps {
		t.Logf("%6d ms  %s", s.MS, s.Step)
	}
	for _, c := range run.Checks {
		for _, v := range c.Violations {
			t.Errorf("%s: axe %s (%s): %s at %v", c.Name, v.ID, v.Impact, v.Help, v.Nodes)
		}
		if c.Overflow > 1 {
			t.Errorf("%s: the page is %d px wider than the window", c.Name, c.Overflow)
		}
	}
	if len(run.Checks) != 3 {
		t.Errorf("%d accessibility checks, want 3", len(run.Checks))
	}
	if !slices.Equal(run.AfterAdd, []string{"Work laptop"}) || run.RenameField != "Work laptop" {
		t.Errorf("after adding: %v; the rename field started with %q", run.AfterAdd, run.RenameField)
	}
	if !slices.Equal(run.AfterRename, []string{"Home key"}) || !strings.Contains(run.Refused, "credential_name") {
		t.Errorf("after renaming: %v (said %q); refused name said %q", run.AfterRename, run.RenameStatus, run.Refused)
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
