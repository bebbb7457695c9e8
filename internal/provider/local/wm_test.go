package local

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// wmPID answers the window manager the provider knows of a desktop.
func wmPID(dt *desktop) int {
	dt.mu.Lock()
	defer dt.mu.Unlock()
	if dt.rt.WM == nil {
		return 0
	}
	return dt.rt.WM.PID
}

// managed tells whether window w is in the root window's _NET_CLIENT_LIST (a window manager manages it).
func managed(x *xgb.Conn, w xproto.Window) bool {
	a, err := xproto.InternAtom(x, true, uint16(len("_NET_CLIENT_LIST")), "_NET_CLIENT_LIST").Reply()
	if err != nil || a.Atom == xproto.AtomNone {
		return false
	}
	r, err := xproto.GetProperty(x, false, xproto.Setup(x).DefaultScreen(x).Root, a.Atom, xproto.AtomWindow, 0, 1024).Reply()
	if err != nil {
		return false
	}
	for i := 0; i+4 <= len(r.Value); i += 4 {
		if xproto.Window(xgb.Get32(r.Value[i:])) == w {
			return true
		}
	}
	return false
}

// TestWindowManagerRestarts: a window manager that dies is started again (a new process, managing the
// windows that were there), and one that keeps dying ends the desktop once it used up its restart budget.
func TestWindowManagerRestarts(t *testing.T) {
	t.Parallel()
	xtest.Ensure(t)
	as := xtest.User(t)
	p, err := New(Options{StateDir: xtest.StateDir(t), StopGrace: 2 * time.Second,
		WMRestarts: xdesk.Restarts{Max: 3, Window: time.Hour, Base: 10 * time.Millisecond, Cap: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	startDesktop(t, p, provider.Spec{ID: "wmcrash", RunAs: as, Command: []string{"xterm"}, Width: 800, Height: 600})
	dt, _ := p.get("wmcrash")
	x := xconnTo(t, p, "wmcrash")
	var term xproto.Window
	waitFor(t, 10*time.Second, "a managed XTerm window", func() bool {
		for _, w := range windowsOfClass(x, "XTerm") {
			if managed(x, w) {
				term = w
				return true
			}
		}
		return false
	})

	old := wmPID(dt)
	for i := 1; i <= 3; i++ {
		if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
			t.Fatalf("kill window manager %d: %v", old, err)
		}
		waitFor(t, 10*time.Second, "a new window manager", func() bool {
			pid := wmPID(dt)
			return pid != old && pid > 0 && comm(pid) == "openbox"
		})
		old = wmPID(dt)
		if u := uidOf(t, old); u != dt.rt.User.UID {
			t.Errorf("restarted window manager runs as uid %d", u)
		}
		// The new window manager took over the windows that were there.
		waitFor(t, 10*time.Second, "the XTerm window managed again", func() bool {
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			wx, err := xdesk.DialX(wctx, dt.rt.Display, dt.cookie)
			if err != nil {
				return false
			}
			defer wx.Close()
			return xdesk.WMOwned(wx) && managed(wx, term)
		})
		if ok, _ := p.Running(context.Background(), "wmcrash"); !ok {
			t.Fatalf("desktop ended after window manager restart %d", i)
		}
	}

	// The fourth exit within the budget's window ends the desktop.
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e := waitEnded(t, p, "wmcrash", 15*time.Second)
	if !strings.Contains(e.Reason, "window manager") || !strings.Contains(e.Reason, "4 times") {
		t.Errorf("ended: %q", e.Reason)
	}
	if left := procsWithMarker("wmcrash"); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// TestWindowManagerStartedAgain: the window manager starts with the X server, and one that gives up at
// once (as openbox does when it comes before the server listens) is started once more; one that gives
// up twice fails the start.
func TestWindowManagerStartedAgain(t *testing.T) {
	t.Parallel()
	xtest.Ensure(t)
	as := xtest.User(t)
	dir := xtest.StateDir(t)
	// wm FAILS: exits 1 the first FAILS times on its display (counted in a file beside it, one per
	// display: a start that meets its display taken by a parallel test starts Xvnc and the window
	// manager again on the next one, where the count starts afresh), then runs openbox.
	script := filepath.Join(dir, "wm")
	if err := os.WriteFile(script, []byte(`#!/bin/sh
c="$0.count.${DISPLAY#:}"
n=$(cat "$c" 2>/dev/null || echo 0)
echo $((n + 1)) > "$c"
[ "$n" -lt "$1" ] && exit 1
exec openbox
`), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil { // the count file is written as the desktop's account
		t.Fatal(err)
	}
	for _, c := range []struct {
		fails string
		ok    bool
	}{{"1", true}, {"2", false}} {
		counts, _ := filepath.Glob(script + ".count.*")
		for _, f := range counts {
			os.Remove(f)
		}
		var logs bytes.Buffer
		p, err := New(Options{StateDir: filepath.Join(dir, "state"+c.fails), WindowManager: script + " " + c.fails,
			StopGrace: 2 * time.Second, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		d, err := p.Start(ctx, provider.Spec{ID: "wmagain" + c.fails, RunAs: as, Command: []string{"sleep", "60"},
			Width: 320, Height: 240})
		cancel()
		if !c.ok {
			if err == nil || !strings.Contains(err.Error(), "window manager") {
				t.Errorf("window manager failing twice: Start answered %v, want a window manager error", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("window manager failing once: %v", err)
		}
		t.Cleanup(func() { p.Stop(context.Background(), d.ID) })
		dt, _ := p.get(d.ID)
		if pid := wmPID(dt); comm(pid) != "openbox" {
			t.Errorf("window manager %d is %q, want openbox", pid, comm(pid))
		}
		if n, _ := os.ReadFile(script + ".count." + strings.TrimPrefix(d.Display, ":")); strings.TrimSpace(string(n)) != "2" {
			t.Errorf("window manager started %q times, want 2", n)
		}
		if !strings.Contains(logs.String(), `"wm_again":true`) {
			t.Errorf("start log lacks wm_again: %s", logs.String())
		}
	}
}
