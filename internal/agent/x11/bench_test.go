package x11

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/local"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// Benchmarks of the agent's window list on a real desktop (Xvnc + openbox, started like TestDesktop's).
// bench/agent/run.sh runs them:
//
//	go test -run '^$' -bench 'Windows100|WatchEvent' ./internal/agent/x11

// benchDesk starts a desktop (window manager mode: openbox maintains _NET_CLIENT_LIST) for a benchmark.
func benchDesk(b *testing.B) (display, xauth string) {
	b.Helper()
	xtest.Ensure(b)
	as := xtest.User(b)
	dir := xtest.StateDir(b)
	p, err := local.New(local.Options{StateDir: dir, StopGrace: 2 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := "x11bench"
	d, err := p.Start(ctx, provider.Spec{ID: id, RunAs: as, Command: []string{"xterm", "-geometry", "60x15+0+0"},
		Width: 1024, Height: 768, Depth: 24})
	if err != nil {
		b.Fatalf("Start: %v", err)
	}
	b.Cleanup(func() { p.Stop(context.Background(), id) })
	return d.Display, filepath.Join(dir, id, "xauthority")
}

// windowMaker is a second X client that creates small top-level windows the way toolkits do: WM_CLASS,
// WM_NAME, _NET_WM_NAME (UTF-8), _NET_WM_PID and WM_CLIENT_MACHINE, then MapWindow.
type windowMaker struct {
	x                        *xgb.Conn
	root                     xproto.Window
	netName, utf8, pid, mach xproto.Atom
	host                     string
	n                        int
}

func newWindowMaker(b *testing.B, display, xauth string) *windowMaker {
	b.Helper()
	x, err := dialRaw(display, xauth)
	if err != nil {
		b.Fatalf("dial: %v", err)
	}
	b.Cleanup(x.Close)
	go func() { // drain events and asynchronous errors so xgb's event buffer never fills
		for {
			ev, err := x.WaitForEvent()
			if ev == nil && err == nil {
				return
			}
		}
	}()
	intern := func(n string) xproto.Atom {
		r, err := xproto.InternAtom(x, false, uint16(len(n)), n).Reply()
		if err != nil {
			b.Fatal(err)
		}
		return r.Atom
	}
	host, _ := os.Hostname()
	return &windowMaker{x: x, root: xproto.Setup(x).DefaultScreen(x).Root, netName: intern("_NET_WM_NAME"),
		utf8: intern("UTF8_STRING"), pid: intern("_NET_WM_PID"), mach: intern("WM_CLIENT_MACHINE"), host: host}
}

// create makes and maps one 40×30 window and returns its id.
func (m *windowMaker) create(b *testing.B) uint32 {
	b.Helper()
	w, err := xproto.NewWindowId(m.x)
	if err != nil {
		b.Fatal(err)
	}
	i := m.n
	m.n++
	x, y := int16(20+(i%20)*45), int16(40+(i/20%15)*40)
	if err := xproto.CreateWindowChecked(m.x, 0, w, m.root, x, y, 40, 30, 0, xproto.WindowClassInputOutput, 0,
		xproto.CwBackPixel, []uint32{0x336699}).Check(); err != nil {
		b.Fatal(err)
	}
	title := fmt.Sprintf("bench window %d ✓", i)
	class := "benchwin\x00BenchWin\x00"
	xproto.ChangeProperty(m.x, xproto.PropModeReplace, w, xproto.AtomWmClass, xproto.AtomString, 8, uint32(len(class)), []byte(class))
	xproto.ChangeProperty(m.x, xproto.PropModeReplace, w, xproto.AtomWmName, xproto.AtomString, 8, uint32(len(title)), []byte(title))
	xproto.ChangeProperty(m.x, xproto.PropModeReplace, w, m.netName, m.utf8, 8, uint32(len(title)), []byte(title))
	pid := uint32(os.Getpid())
	xproto.ChangeProperty(m.x, xproto.PropModeReplace, w, m.pid, xproto.AtomCardinal, 32, 1,
		[]byte{byte(pid), byte(pid >> 8), byte(pid >> 16), byte(pid >> 24)})
	xproto.ChangeProperty(m.x, xproto.PropModeReplace, w, m.mach, xproto.AtomString, 8, uint32(len(m.host)), []byte(m.host))
	if err := xproto.MapWindowChecked(m.x, w).Check(); err != nil {
		b.Fatal(err)
	}
	return uint32(w)
}

func (m *windowMaker) destroy(id uint32) { xproto.DestroyWindow(m.x, xproto.Window(id)) }

func hasID(ws []Window, id uint32) bool {
	return slices.ContainsFunc(ws, func(w Window) bool { return w.ID == id })
}

// percentile of sorted durations (nearest rank).
func percentile(s []time.Duration, p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// with100 starts a desktop, opens 100 windows from a second client and waits until the window manager
// lists them all.
func with100(b *testing.B) (*Conn, *windowMaker) {
	b.Helper()
	display, xauth := benchDesk(b)
	c, err := Dial(display, xauth)
	if err != nil {
		b.Fatalf("Dial: %v", err)
	}
	b.Cleanup(c.Close)
	m := newWindowMaker(b, display, xauth)
	t0 := time.Now()
	for range 100 {
		m.create(b)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ws, err := c.Windows()
		if err != nil {
			b.Fatal(err)
		}
		if len(ws) >= 100 {
			b.Logf("%d windows listed %v after creating the first", len(ws), time.Since(t0).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d windows listed after 30s", len(ws))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c, m
}

// BenchmarkWindows100: Conn.Windows() with 101 managed windows (100 created here + the session's xterm).
// Also reports p50/p99 over 200 separately timed calls.
func BenchmarkWindows100(b *testing.B) {
	c, _ := with100(b)
	lat := make([]time.Duration, 0, 200)
	n := 0
	for range 200 {
		t := time.Now()
		ws, err := c.Windows()
		lat = append(lat, time.Since(t))
		if err != nil {
			b.Fatal(err)
		}
		n = len(ws)
	}
	slices.Sort(lat)
	for b.Loop() {
		if _, err := c.Windows(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "windows")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
}

// BenchmarkWatchEvent: with Watch running (and 100 windows already listed), the time from CreateWindow on
// another connection to the window.list callback that contains the new window. Each op is one sample;
// the window is then destroyed and its removal awaited (untimed). Watch debounces by 50 ms, so that is
// the floor. Run with -benchtime=50x for 50 samples.
func BenchmarkWatchEvent(b *testing.B) {
	c, m := with100(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	events := make(chan Event, 64)
	go func() {
		defer close(done)
		c.Watch(ctx, func(e Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			b.Error("Watch did not return after cancel")
		}
	}()
	time.Sleep(200 * time.Millisecond) // let Watch select PropertyChange on the root
	// await returns when an event satisfies cond, or fails after 5 s.
	await := func(what string, cond func(Event) bool) {
		timeout := time.After(5 * time.Second)
		for {
			select {
			case e := <-events:
				if cond(e) {
					return
				}
			case <-timeout:
				b.Fatalf("no window.list event %s within 5s", what)
			}
		}
	}
	var lat []time.Duration
	for b.Loop() {
		t0 := time.Now()
		id := m.create(b)
		await("with the new window", func(e Event) bool { return hasID(e.Windows, id) })
		lat = append(lat, time.Since(t0))
		b.StopTimer()
		m.destroy(id)
		await("without the destroyed window", func(e Event) bool { return !hasID(e.Windows, id) })
		for len(events) > 0 { // drop stragglers (e.g. _NET_ACTIVE_WINDOW changes)
			<-events
		}
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat)), "samples")
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
}
