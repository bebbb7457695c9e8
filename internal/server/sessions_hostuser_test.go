package server

import (
	"fmt"
	"os"
	"os/user"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/sshlogin/sshdtest"
)

func procUID(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "Uid:") {
			return strings.Fields(line)[1]
		}
	}
	t.Fatalf("no Uid in /proc/%d/status", pid)
	return ""
}

// TestDesktopRunsAsItsUser: a host account (logged in through sshd) gets desktops running as itself; a
// deskhub account gets them as the service user, with a home of its own.
func TestDesktopRunsAsItsUser(t *testing.T) {
	srv := sshdtest.Start(t)
	h := desktopHarness(t, func(c *config.Config, _ *Options) {
		c.Auth.Provider = "ssh"
		c.Auth.SSHAddr = srv.Addr
	})
	r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": sshdtest.UserPassword, "password": srv.Passwords[sshdtest.UserPassword]}).want(t, 200)
	host := r.str("result", "token")
	h.call("POST", "/v3/api/session/start", host, map[string]any{"command": "xterm"}).want(t, 200)
	obj := h.call("POST", "/v3/api/session/list", host, "{}").want(t, 200)
	u, err := user.Lookup(sshdtest.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []float64{obj.get("result", 0, "serverPid").(float64), obj.get("result", 0, "appPid").(float64)} {
		if uid := procUID(t, int(pid)); uid != u.Uid {
			t.Fatalf("pid %v runs as uid %s, want %s (%s)", pid, uid, u.Uid, u.Username)
		}
	}

	local := h.user("lena", false)
	h.call("POST", "/v3/api/session/start", local, map[string]any{"command": "xterm"}).want(t, 200)
	obj = h.call("POST", "/v3/api/session/list", local, "{}").want(t, 200)
	svc, err := user.Lookup(h.s.cfg.Sessions.ServiceUser)
	if err != nil {
		t.Fatal(err)
	}
	if uid := procUID(t, int(obj.get("result", 0, "appPid").(float64))); uid != svc.Uid {
		t.Fatalf("a deskhub account's desktop runs as uid %s, want the service user's %s", uid, svc.Uid)
	}
	home := h.s.cfg.DataDir + "/homes/lena"
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() {
		t.Fatalf("no home %s: %v", home, err)
	}
}
