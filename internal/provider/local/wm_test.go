package local

import (
	"context"
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
