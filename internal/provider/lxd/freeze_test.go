package lxd_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
)

// cpuUsage is the instance's CPU time so far (LXD's state: its cgroup's usage), and its status.
func (f *fixture) cpuUsage(t testing.TB, name string) (int64, api.StatusCode) {
	t.Helper()
	st, _, err := f.env.Client(t).GetInstanceState(name)
	if err != nil {
		t.Fatal(err)
	}
	return st.CPU.Usage, st.StatusCode
}

// titles are the titles of the desktop's top-level windows (the agent's /getwindowslist).
func titles(t *testing.T, p provider.AgentDialer, id string) []string {
	t.Helper()
	list, _ := agentGet(t, p, id, "/getwindowslist")["data"].([]any)
	var out []string
	for _, w := range list {
		if m, ok := w.(map[string]any); ok {
			s, _ := m["title"].(string)
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// TestFreeze: a frozen desktop uses no CPU (its instance's cgroup CPU time stands still while a busy
// loop runs in it), and thaws when it is needed (DialRFB), with the windows it had.
func TestFreeze(t *testing.T) {
	f := setup(t)
	p := f.provider(t, nil)
	ctx := context.Background()
	s := f.spec("desk-frz", f.server, "xterm", "-title", "opened-before-the-freeze")
	d := start(t, p, s)
	name := "dh-desk-frz"
	// Something that burns CPU (bounded: timeout ends it).
	if _, err := p.Exec(ctx, s.ID, []string{"timeout", "120", "sh", "-c", "while :; do :; done"}); err != nil {
		t.Fatal(err)
	}
	before := titles(t, p, s.ID)
	if !slices.Contains(before, "opened-before-the-freeze") {
		t.Fatalf("windows before the freeze: %q", before)
	}
	u0, _ := f.cpuUsage(t, name)
	time.Sleep(2 * time.Second)
	u1, _ := f.cpuUsage(t, name)
	if u1-u0 < int64(100*time.Millisecond) {
		t.Fatalf("the busy loop used %s of CPU in 2 s: the measure does not see it", time.Duration(u1-u0))
	}
	t.Logf("running: %s of CPU in 2 s", time.Duration(u1-u0))

	if err := p.Freeze(ctx, s.ID); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if frozen, at := p.FreezeState(s.ID); !frozen || at.IsZero() {
		t.Errorf("FreezeState after Freeze: %v %v", frozen, at)
	}
	if err := p.Freeze(ctx, s.ID); err != nil { // frozen already: no error
		t.Errorf("second Freeze: %v", err)
	}
	f0, st := f.cpuUsage(t, name)
	if st != api.Frozen {
		t.Fatalf("the instance is %s after Freeze", st)
	}
	time.Sleep(3 * time.Second)
	f1, _ := f.cpuUsage(t, name)
	if f1 != f0 {
		t.Errorf("the frozen instance used %s of CPU in 3 s", time.Duration(f1-f0))
	}
	if ok, err := p.Running(ctx, s.ID); !ok || err != nil {
		t.Errorf("Running of a frozen desktop: %v %v", ok, err)
	}
	// The watcher's poll sees it frozen and leaves it.
	time.Sleep(1500 * time.Millisecond)
	if frozen, _ := p.FreezeState(s.ID); !frozen {
		t.Error("the watcher took the frozen desktop for thawed")
	}

	// Needing the display thaws it; its windows are still there.
	if b := rfbBanner(t, p, s.ID); b != "RFB 003.008\n" {
		t.Errorf("RFB banner after the thaw %q", b)
	}
	if _, st := f.cpuUsage(t, name); st != api.Running {
		t.Errorf("the instance is %s after DialRFB", st)
	}
	if frozen, _ := p.FreezeState(s.ID); frozen {
		t.Error("FreezeState after the thaw: frozen")
	}
	if after := titles(t, p, s.ID); !slices.Equal(after, before) {
		t.Errorf("windows after the thaw %q, before the freeze %q", after, before)
	}
	r0, _ := f.cpuUsage(t, name)
	time.Sleep(time.Second)
	if r1, _ := f.cpuUsage(t, name); r1-r0 < int64(100*time.Millisecond) {
		t.Errorf("the thawed desktop's busy loop used %s of CPU in 1 s", time.Duration(r1-r0))
	}

	// Frozen outside deskhub (lxc pause): the watcher notices, the next use thaws it.
	op, err := f.env.Client(t).UpdateInstanceState(name, api.InstanceStatePut{Action: "freeze", Timeout: -1}, "")
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if frozen, _ := p.FreezeState(s.ID); frozen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not see the instance frozen outside deskhub")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, err := p.Exec(ctx, s.ID, []string{"true"}); err != nil {
		t.Fatalf("Exec in a desktop frozen outside deskhub: %v", err)
	}
	if _, st := f.cpuUsage(t, name); st != api.Running {
		t.Errorf("the instance is %s after Exec", st)
	}

	// A desktop frozen when deskhub restarts is thawed and checked by Adopt.
	if err := p.Freeze(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p2 := f.provider(t, nil)
	got, err := p2.Adopt(ctx, provider.Desktop{ID: s.ID, ServerID: s.ServerID, StartedAt: d.StartedAt, Runtime: d.Runtime})
	if err != nil {
		t.Fatalf("Adopt of a frozen desktop: %v", err)
	}
	if got.Hostname != name {
		t.Errorf("adopted %+v", got)
	}
	if after := titles(t, p2, s.ID); !slices.Equal(after, before) {
		t.Errorf("windows after the adoption %q", after)
	}
	if err := p2.Stop(ctx, s.ID); err != nil {
		t.Fatal(err)
	}
}

// TestLXDRestart: the LXD daemon dies and comes back while a desktop runs (its container keeps
// running): the desktop keeps its session, is checked again once the link is back, and answers as
// before with its windows.
func TestLXDRestart(t *testing.T) {
	f := setup(t)
	p := f.provider(t, nil)
	s := f.spec("desk-lxdrestart", f.server, "xterm", "-title", "survives-lxd")
	start(t, p, s)
	before := titles(t, p, s.ID)
	f.env.KillDaemon(t)
	deadline := time.Now().Add(30 * time.Second)
	for !p.Unverified(s.ID) {
		if time.Now().After(deadline) {
			f.env.StartDaemon(t)
			t.Fatal("the provider did not notice the LXD daemon gone")
		}
		time.Sleep(100 * time.Millisecond)
	}
	f.env.StartDaemon(t)
	deadline = time.Now().Add(90 * time.Second)
	for p.Unverified(s.ID) {
		if time.Now().After(deadline) {
			st, why, _ := f.conns.Status(f.server.ID)
			t.Fatalf("the desktop was not checked again after LXD came back (link %s %s)", st, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case e := <-p.Ended():
		t.Fatalf("the desktop ended: %+v", e)
	default:
	}
	if st, _, _ := f.conns.Status(f.server.ID); st != lxdconn.StateOnline {
		t.Errorf("link %s", st)
	}
	if b := rfbBanner(t, p, s.ID); b != "RFB 003.008\n" {
		t.Errorf("RFB banner after the LXD restart %q", b)
	}
	if after := titles(t, p, s.ID); !slices.Equal(after, before) || !slices.Contains(after, "survives-lxd") {
		t.Errorf("windows after the LXD restart %q, before %q", after, before)
	}
}
