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

	"github.com/deskhub/deskhub/api/fastx"
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
	ctx := context.Background()
	host := h.client("")
	if st, err := host.Login(ctx, fastx.LoginRequest{Username: sshdtest.UserPassword, Password: srv.Passwords[sshdtest.UserPassword]}); err != nil ||
		st.Stage != fastx.StageSuccess {
		t.Fatalf("login: %+v, %v", st, err)
	}
	_, err := host.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	list, err := host.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) == 0 {
		t.Fatal("no session listed")
	}
	u, err := user.Lookup(sshdtest.UserPassword)
	if err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{list[0].ServerPid, list[0].AppPid} {
		if uid := procUID(t, pid); uid != u.Uid {
			t.Fatalf("pid %v runs as uid %s, want %s (%s)", pid, uid, u.Uid, u.Username)
		}
	}

	local := h.client(h.user("lena", false))
	_, err = local.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	list, err = local.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) == 0 {
		t.Fatal("no session listed")
	}
	acct, err := h.s.store.GetUserByLogin(context.Background(), "lena")
	if err != nil {
		t.Fatal(err)
	}
	own, err := user.Lookup(h.s.identities.Name(acct.ID))
	if err != nil {
		t.Fatalf("no Unix identity for lena: %v", err)
	}
	if uid := procUID(t, list[0].AppPid); uid != own.Uid || uid == "0" {
		t.Fatalf("a deskhub account's desktop runs as uid %s, want its own identity's %s", uid, own.Uid)
	}
	home := h.s.cfg.DataDir + "/homes/lena"
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 ||
		strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)) != own.Uid {
		t.Fatalf("home %s: %v %v, want a 0700 directory of uid %s", home, fi, err, own.Uid)
	}
}
