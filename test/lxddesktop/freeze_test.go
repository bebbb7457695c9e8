package lxddesktop

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
)

// windowTitles are the titles of the desktop's windows, through the agent proxy (/spawner/{id}/…).
func windowTitles(t testing.TB, c *client.Client, id string) []string {
	t.Helper()
	wins, err := c.Agent(id).Windows(context.Background())
	if err != nil {
		t.Fatalf("agent /getwindowslist: %v", err)
	}
	var out []string
	for _, w := range wins {
		out = append(out, w.Title)
	}
	slices.Sort(out)
	return out
}

// waitFrozen waits until session/list reports the session frozen (or not).
func (d *deskhub) waitFrozen(t testing.TB, c *client.Client, id string, frozen bool, timeout time.Duration) *fastx.Session {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := session(t, c, id)
		if s == nil {
			t.Fatalf("session %s ended\n%s", id, d.srv.Logs())
		}
		if s.Frozen == frozen {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("session %s: frozen is %v after %s, want %v\n%s", id, s.Frozen, timeout, frozen, d.srv.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpu is the instance's CPU time so far (LXD's state: its cgroup's usage), and its status.
func (d *deskhub) cpu(t testing.TB, name string) (time.Duration, api.StatusCode) {
	t.Helper()
	st, _, err := d.env.Client(t).GetInstanceState(name)
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(st.CPU.Usage), st.StatusCode
}

// TestLXDFreezeIdle: with --freeze-idle, a desktop nobody views is frozen — session/list says frozen
// (state running), its instance uses no CPU although a busy loop runs in it —, session/connect thaws it
// and the client sees the desktop with the windows it had; a desktop with a client is not frozen; one
// whose client left is frozen again; a frozen desktop is terminated as any other.
func TestLXDFreezeIdle(t *testing.T) {
	d := startDeskhub(t, "--freeze-idle", "3s")
	ctx := context.Background()
	conn := d.startLXD(t, d.admin, "xterm -title opened-before-the-freeze")
	id := conn.ID
	name := instanceName(t, d.admin, id)
	frame(t, d.admin, conn) // a client came and left
	if _, err := d.admin.Exec(ctx, fastx.ExecRequest{ID: id, Command: "timeout", Args: []string{"120", "sh", "-c", "while :; do :; done"}}); err != nil {
		t.Fatal(err)
	}
	before := windowTitles(t, d.admin, id)
	if !slices.Contains(before, "opened-before-the-freeze") {
		t.Fatalf("windows %q", before)
	}

	s := d.waitFrozen(t, d.admin, id, true, 30*time.Second)
	if s.State != "running" || s.Clients != 0 {
		t.Errorf("frozen session: state %q, clients %d", s.State, s.Clients)
	}
	c0, st := d.cpu(t, name)
	if st != api.Frozen {
		t.Fatalf("session/list says frozen, the instance is %s", st)
	}
	time.Sleep(3 * time.Second)
	if c1, _ := d.cpu(t, name); c1 != c0 {
		t.Errorf("the frozen desktop used %s of CPU in 3 s", c1-c0)
	}

	// session/connect thaws it before it answers; the client sees the desktop as it was.
	conn2, err := d.admin.ConnectSession(ctx, id, nil)
	if err != nil {
		t.Fatalf("session/connect of a frozen session: %v", err)
	}
	if _, st := d.cpu(t, name); st != api.Running {
		t.Errorf("the instance is %s after session/connect", st)
	}
	if s := session(t, d.admin, id); s == nil || s.Frozen {
		t.Errorf("session/list after session/connect: %+v", s)
	}
	if w, h := frame(t, d.admin, conn2); w != 800 || h != 600 {
		t.Errorf("first frame after the thaw %dx%d", w, h)
	}
	if after := windowTitles(t, d.admin, id); !slices.Equal(after, before) {
		t.Errorf("windows after the thaw %q, before the freeze %q", after, before)
	}
	r0, _ := d.cpu(t, name)
	time.Sleep(time.Second)
	if r1, _ := d.cpu(t, name); r1-r0 < 100*time.Millisecond {
		t.Errorf("the thawed desktop's busy loop used %s of CPU in 1 s", r1-r0)
	}

	// A desktop with a client stays thawed past the idle time.
	conn3, err := d.admin.ConnectSession(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	nc, _, _ := view(t, d.admin, conn3)
	time.Sleep(6 * time.Second)
	if s := session(t, d.admin, id); s == nil || s.Frozen || s.Clients != 1 {
		t.Errorf("a viewed desktop: %+v", s)
	}
	nc.Close()
	d.waitFrozen(t, d.admin, id, true, 30*time.Second) // its client left: frozen again

	if err := d.admin.TerminateSession(ctx, id); err != nil {
		t.Fatalf("session/terminate of a frozen session: %v", err)
	}
	d.waitGone(t, d.admin, id, 30*time.Second)
	if _, _, err := d.env.Client(t).GetInstance(name); err == nil {
		t.Errorf("the instance of the terminated frozen session is still there")
	}
}

// BenchmarkLXDThaw: a desktop frozen while idle (--freeze-idle 1s) → session/connect → the first frame
// through the display relay, the user's wait when coming back to an idle desktop.
func BenchmarkLXDThaw(b *testing.B) {
	d := startDeskhub(b, "--freeze-idle", "1s")
	ctx := context.Background()
	conn := d.startLXD(b, d.admin, "xterm")
	var times []time.Duration
	for b.Loop() {
		b.StopTimer()
		d.waitFrozen(b, d.admin, conn.ID, true, time.Minute)
		b.StartTimer()
		t0 := time.Now()
		c, err := d.admin.ConnectSession(ctx, conn.ID, nil)
		if err != nil {
			b.Fatal(err)
		}
		frame(b, d.admin, c)
		times = append(times, time.Since(t0))
	}
	b.ReportMetric(float64(percentile(times, 50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(times, 95).Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(len(times)), "thaws")
}
