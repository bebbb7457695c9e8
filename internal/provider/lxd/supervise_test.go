package lxd_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"
)

// readyPids are the pids init's ready file lists (container pids); nil when it cannot be read (the
// instance stopped, or init rewrites it).
func (f *fixture) readyPids(t *testing.T, name string) map[string]int {
	t.Helper()
	rc, _, err := f.env.Client(t).GetInstanceFile(name, "/run/deskhub/ready")
	if err != nil {
		return nil
	}
	defer rc.Close()
	var r struct {
		Pids map[string]int `json:"pids"`
	}
	if json.NewDecoder(rc).Decode(&r) != nil {
		return nil
	}
	return r.Pids
}

// killIn SIGKILLs a process of the instance; false when it (or the instance) was gone already.
func (f *fixture) killIn(t *testing.T, name string, pid int) bool {
	t.Helper()
	op, err := f.env.Client(t).ExecInstance(name, api.InstanceExecPost{Command: []string{"/bin/sh", "-c", fmt.Sprintf("kill -9 %d", pid)}}, nil)
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		return false
	}
	return fmt.Sprint(op.Get().Metadata["return"]) == "0"
}

// newPid waits until the ready file lists proc with a pid other than old.
func (f *fixture) newPid(t *testing.T, name, proc string, old int, timeout time.Duration) (int, bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if f.instance(t, name) == nil {
			return 0, false
		}
		if pid := f.readyPids(t, name)[proc]; pid > 0 && pid != old {
			return pid, true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, false
}

// TestLXDSupervision: inside the instance, init restarts a window manager that crashes (the windows
// stay) and an Xvnc that crashes (RFB answers again through the same proxy device); a window manager
// that keeps crashing uses up init's budget and the session ends saying so.
func TestLXDSupervision(t *testing.T) {
	f := setup(t)
	p := f.provider(t, nil)

	// Xvnc: its command (sleep) needs no display, so the desktop survives the restart.
	start(t, p, f.spec("desk-xvnc", f.server, "sleep", "3600"))
	xname := "dh-desk-xvnc"
	oldX := f.readyPids(t, xname)["xvnc"]
	if oldX == 0 || !f.killIn(t, xname, oldX) {
		t.Fatalf("no Xvnc to kill: %v", f.readyPids(t, xname))
	}
	if _, ok := f.newPid(t, xname, "xvnc", oldX, 30*time.Second); !ok {
		t.Fatalf("init did not restart Xvnc: %v", f.readyPids(t, xname))
	}
	if b := rfbBanner(t, p, "desk-xvnc"); b != "RFB 003.008\n" {
		t.Errorf("RFB banner after the Xvnc restart %q", b)
	}
	select {
	case e := <-p.Ended():
		t.Fatalf("a desktop ended after an Xvnc restart: %+v", e)
	default:
	}

	// The window manager: restarted, the windows stay; then killed until init gives up.
	s := f.spec("desk-wm", f.server, "xterm", "-title", "outlives-the-wm")
	start(t, p, s)
	name := "dh-desk-wm"
	before := titles(t, p, s.ID)
	oldWM := f.readyPids(t, name)["wm"]
	if oldWM == 0 || !f.killIn(t, name, oldWM) {
		t.Fatalf("no window manager to kill: %v", f.readyPids(t, name))
	}
	wm, ok := f.newPid(t, name, "wm", oldWM, 30*time.Second)
	if !ok {
		t.Fatalf("init did not restart the window manager: %v", f.readyPids(t, name))
	}
	if after := titles(t, p, s.ID); !slices.Equal(after, before) || !slices.Contains(after, "outlives-the-wm") {
		t.Errorf("windows after the window manager's restart %q, before %q", after, before)
	}
	for range 10 {
		if !f.killIn(t, name, wm) {
			break
		}
		if wm, ok = f.newPid(t, name, "wm", wm, 30*time.Second); !ok {
			break // init gave up: the instance stops
		}
	}
	e := waitEnded(t, p, time.Minute)
	if e.ID != s.ID || !strings.Contains(e.Reason, "wm: it exited") || !strings.Contains(e.Reason, "times within") {
		t.Errorf("ended: %+v", e)
	}
	t.Logf("ended: %s", e.Reason)
}
