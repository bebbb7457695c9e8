package server

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
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
// deskhub account gets them as its own Unix identity, with a 0700 home of its own.
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
	acct, err := h.s.store.GetUserByLogin(context.Background(), "lena")
	if err != nil {
		t.Fatal(err)
	}
	own, err := user.Lookup(h.s.identities.Name(acct.ID))
	if err != nil {
		t.Fatalf("no Unix identity for lena: %v", err)
	}
	if uid := procUID(t, int(obj.get("result", 0, "appPid").(float64))); uid != own.Uid || uid == "0" {
		t.Fatalf("a deskhub account's desktop runs as uid %s, want its own identity's %s", uid, own.Uid)
	}
	home := h.s.cfg.DataDir + "/homes/lena"
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 ||
		strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != own.Uid {
		t.Fatalf("home %s: %v %v, want a 0700 directory of uid %s", home, fi, err, own.Uid)
	}
}
