package browser

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"
)

// scriptRun is what every browser script prints on its one line of output besides its own members:
// whether it got to the end, why not, and how long each step took.
type scriptRun struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
	Steps []struct {
		Step string `json:"step"`
		MS   int    `json:"ms"`
	} `json:"steps"`
}

// pageCheck is one accessibility check of a page by a script: axe-core's violations and by how many
// pixels the page is wider than the window.
type pageCheck struct {
	Name     string `json:"name"`
	Overflow int    `json:"overflow"`
	// BoxOverflow is how far a table scrolls sideways inside its box (scripts that measure it).
	BoxOverflow int `json:"boxOverflow"`
	Violations  []struct {
		ID     string   `json:"id"`
		Impact string   `json:"impact"`
		Help   string   `json:"help"`
		Nodes  []string `json:"nodes"`
	} `json:"violations"`
}

// checkPages reports every violation and overflow of checks, and a count other than want.
func checkPages(t *testing.T, checks []pageCheck, want int) {
	t.Helper()
	for _, c := range checks {
		for _, v := range c.Violations {
			t.Errorf("%s: axe %s (%s): %s at %v", c.Name, v.ID, v.Impact, v.Help, v.Nodes)
		}
		if c.Overflow > 1 {
			t.Errorf("%s: the page is %d px wider than the window", c.Name, c.Overflow)
		}
		if c.BoxOverflow > 1 {
			t.Errorf("%s: a table scrolls %d px sideways inside its box", c.Name, c.BoxOverflow)
		}
	}
	if len(checks) != want {
		t.Errorf("%d accessibility checks, want %d", len(checks), want)
	}
}

// runScript runs `node script args…` in this directory within timeout, with env added to the
// environment, and decodes its output line into out. The test stops, with the script's outputs and
// what more() adds (nil: nothing), unless the script ran to its end and said ok; its steps are logged.
func runScript(t *testing.T, timeout time.Duration, env []string, more func() string, out any, script string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	runErr := cmd.Run()
	line := bytes.TrimSpace(stdout.Bytes())
	var run scriptRun
	err := json.Unmarshal(line, &run)
	if err == nil {
		err = json.Unmarshal(line, out)
	}
	if err != nil || !run.OK || runErr != nil {
		extra := ""
		if more != nil {
			extra = "\n" + more()
		}
		t.Fatalf("%s: %v (ok=%v, error: %s; decoding: %v)\nstdout: %s\nstderr:\n%s%s", script, runErr, run.OK, run.Error, err, stdout.String(), stderr.String(), extra)
	}
	for _, s := range run.Steps {
		t.Logf("%6d ms  %s", s.MS, s.Step)
	}
}
