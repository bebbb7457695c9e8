package server

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/config"
)

var (
	agentBinOnce sync.Once
	agentBin     string
	agentBinErr  error
)

// agentBinary builds deskhub once into a directory the desktops' users can execute from.
func agentBinary(t *testing.T) string {
	t.Helper()
	agentBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskhub-agent-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			agentBinErr = err
			return
		}
		agentBin = filepath.Join(dir, "deskhub")
		if out, err := exec.Command("go", "build", "-o", agentBin, "../../cmd/deskhub").CombinedOutput(); err != nil {
			agentBinErr = err
			t.Logf("%s", out)
		}
	})
	if agentBinErr != nil {
		t.Fatalf("building deskhub for the agent: %v", agentBinErr)
	}
	return agentBin
}

// TestAgentProxy: every desktop runs `deskhub agent`; the broker proxies /spawner/{id}/… to it for the
// session's owner only.
func TestAgentProxy(t *testing.T) {
	bin := agentBinary(t)
	h := desktopHarness(t, func(c *config.Config, _ *Options) { c.Sessions.AgentCommand = []string{bin, "agent"} })
	owner := h.user("ada", false)
	other := h.user("bo", false)
	id := h.call("POST", "/v3/api/session/start", owner, map[string]any{"command": "xterm"}).want(t, 200).str("result", "id")
	var r reply
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = h.call("GET", "/spawner/"+id+"/version", owner, nil)
		if r.Status == 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r.Status != 200 || r.get("code") != 200.0 || r.str("data", "version") == "" {
		t.Fatalf("agent version through the broker: %d %s", r.Status, r.Raw)
	}
	about := h.call("GET", "/spawner/"+id+"/about", owner, nil, "Accept-Language", "de-DE").want(t, 200)
	if about.str("data", "language") != "de" || about.str("data", "clientipaddr") != "192.0.2.10" {
		t.Fatalf("about: %s", about.Raw)
	}
	h.call("GET", "/spawner/"+id+"/getSettings", owner, nil).want(t, 200)
	// Not built in the agent yet: its 501 comes through in the agent envelope.
	if pl := h.call("GET", "/spawner/"+id+"/getwindowslist", owner, nil); pl.Status != 501 || pl.get("code") != 501.0 {
		t.Fatalf("planned endpoint through the proxy: %d %s", pl.Status, pl.Raw)
	}
	// Another user's session answers like a missing one; no token is refused.
	h.call("GET", "/spawner/"+id+"/version", other, nil).want(t, 404)
	h.call("GET", "/spawner/nope/version", other, nil).want(t, 404)
	h.call("GET", "/spawner/"+id+"/version", "", nil).want(t, 401)
	// The agent is restarted when it dies.
	display := h.call("POST", "/v3/api/session/list", owner, "{}").str("result", 0, "display")
	pid := agentPID(t, bin, display)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new agent", func() bool {
		p := agentPIDOrZero(bin, display)
		return p != 0 && p != pid && h.call("GET", "/spawner/"+id+"/version", owner, nil).Status == 200
	})
	h.call("POST", "/v3/api/session/terminate", owner, map[string]any{"id": id}).want(t, 200)
	h.call("GET", "/spawner/"+id+"/version", owner, nil).want(t, 409)
}

// agentPIDOrZero finds the agent process of a display by its command line.
func agentPIDOrZero(bin, display string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := bytes.Split(bytes.TrimRight(cmd, "\x00"), []byte{0})
		if len(args) > 3 && string(args[0]) == bin && string(args[1]) == "agent" && bytes.Contains(cmd, []byte("\x00"+display+"\x00")) {
			return pid
		}
	}
	return 0
}

func agentPID(t *testing.T, bin, display string) int {
	t.Helper()
	if pid := agentPIDOrZero(bin, display); pid != 0 {
		return pid
	}
	t.Fatalf("no agent process for display %s", display)
	return 0
}
