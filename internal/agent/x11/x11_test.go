package x11

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/local"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

type desk struct {
	p     *local.Provider
	d     *provider.Desktop
	id    string
	xauth string
}

func startDesk(t *testing.T) *desk {
	t.Helper()
	xtest.Ensure(t)
	as := xtest.User(t)
	dir := xtest.StateDir(t)
	p, err := local.New(local.Options{StateDir: dir, StopGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	id := "x11test"
	d, err := p.Start(ctx, provider.Spec{ID: id, RunAs: as, Command: []string{"xterm", "-geometry", "60x15+0+0"},
		Width: 800, Height: 600, Depth: 24})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { p.Stop(context.Background(), id) })
	return &desk{p: p, d: d, id: id, xauth: filepath.Join(dir, id, "xauthority")}
}

func (k *desk) dial(t *testing.T) *Conn {
	t.Helper()
	c, err := Dial(k.d.Display, k.xauth)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func (k *desk) raw(t *testing.T) *xgb.Conn {
	t.Helper()
	x, err := dialRaw(k.d.Display, k.xauth)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(x.Close)
	return x
}

func (k *desk) exec(t *testing.T, argv ...string) int {
	t.Helper()
	pid, err := k.p.Exec(context.Background(), k.id, argv)
	if err != nil {
		t.Fatalf("Exec %v: %v", argv, err)
	}
	return pid
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func byPID(ws []Window, pid int) *Window {
	for i := range ws {
		if ws[i].PID == pid {
			return &ws[i]
		}
	}
	return nil
}

func mustWindows(t *testing.T, c *Conn) []Window {
	t.Helper()
	ws, err := c.Windows()
	if err != nil {
		t.Fatalf("Windows: %v", err)
	}
	return ws
}

// alive tells whether pid runs (a zombie counts as exited).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z' && s[i+2] != 'X'
	}
	return syscall.Kill(pid, 0) == nil
}

// freePoint finds a root pixel not covered by any mapped top-level window.
func freePoint(t *testing.T, c *Conn) (int, int) {
	t.Helper()
	tree, err := xproto.QueryTree(c.x, c.root).Reply()
	if err != nil {
		t.Fatal(err)
	}
	var rects []image.Rectangle
	for _, w := range tree.Children {
		a, err := xproto.GetWindowAttributes(c.x, w).Reply()
		if err != nil || a.MapState != xproto.MapStateViewable || a.Class != xproto.WindowClassInputOutput {
			continue
		}
		g, err := xproto.GetGeometry(c.x, xproto.Drawable(w)).Reply()
		if err != nil {
			continue
		}
		b := int(g.BorderWidth)
		rects = append(rects, image.Rect(int(g.X), int(g.Y), int(g.X)+int(g.Width)+2*b, int(g.Y)+int(g.Height)+2*b))
	}
	W, H := int(c.screen.WidthInPixels), int(c.screen.HeightInPixels)
	for _, p := range []image.Point{{W - 2, H - 2}, {1, H - 2}, {W - 2, 1}, {W / 2, H - 2}, {W - 2, H / 2}, {W / 2, H / 2}} {
		free := true
		for _, r := range rects {
			if p.In(r) {
				free = false
			}
		}
		if free {
			return p.X, p.Y
		}
	}
	t.Fatalf("no free root pixel (windows %v)", rects)
	return 0, 0
}

// pixel reads one root pixel.
func pixel(t *testing.T, c *Conn, x, y int) color.RGBA {
	t.Helper()
	f, err := c.rootFormat()
	if err != nil {
		t.Fatal(err)
	}
	r, err := xproto.GetImage(c.x, xproto.ImageFormatZPixmap, xproto.Drawable(c.root), int16(x), int16(y), 1, 1, 0xffffffff).Reply()
	if err != nil {
		t.Fatal(err)
	}
	var v uint32
	n := f.bpp / 8
	for i := 0; i < n; i++ {
		if f.msb {
			v = v<<8 | uint32(r.Data[i])
		} else {
			v |= uint32(r.Data[i]) << (8 * i)
		}
	}
	ch := func(m uint32) uint8 {
		if m == 0 {
			return 0
		}
		s := 0
		for m>>s&1 == 0 {
			s++
		}
		return uint8((v & m >> s) * 255 / (m >> s))
	}
	return color.RGBA{ch(f.rm), ch(f.gm), ch(f.bm), 255}
}

func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return max(x, y)-min(x, y) < 8 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

func TestDesktop(t *testing.T) {
	t0 := time.Now()
	k := startDesk(t)
	t.Logf("desktop %s up in %v", k.d.Display, time.Since(t0).Round(time.Millisecond))
	c := k.dial(t)
	xterm := k.d.AppPID
	xclock := k.exec(t, "xclock", "-geometry", "120x120+200+0")
	xterm2 := k.exec(t, "xterm", "-geometry", "40x10+0+300")
	var termID, clockID, term2ID uint32

	t.Run("Windows", func(t *testing.T) {
		waitFor(t, 10*time.Second, "xterm and xclock in the client list", func() bool {
			ws := mustWindows(t, c)
			return byPID(ws, xterm) != nil && byPID(ws, xclock) != nil && byPID(ws, xterm2) != nil
		})
		ws := mustWindows(t, c)
		t.Logf("windows: %+v", ws)
		host, _ := os.Hostname()
		for _, want := range []struct {
			pid   int
			class string
			id    *uint32
		}{{xterm, "XTerm", &termID}, {xclock, "XClock", &clockID}, {xterm2, "XTerm", &term2ID}} {
			w := byPID(ws, want.pid)
			if w.WMClass != want.class {
				t.Errorf("pid %d: class %q, want %q", want.pid, w.WMClass, want.class)
			}
			if w.Title == "" {
				t.Errorf("pid %d: empty title", want.pid)
			}
			if w.MachineName != host {
				t.Logf("pid %d: machine %q (host %q)", want.pid, w.MachineName, host)
			}
			if w.ID == 0 {
				t.Errorf("pid %d: id 0", want.pid)
			}
			if r, err := c.getProp(xproto.Window(w.ID), "_NET_WM_PID", xproto.AtomCardinal); err == nil {
				t.Logf("%s: _NET_WM_PID %v, X-Resource pid %d", want.class, u32s(r), c.resPID(w.ID))
			}
			if p := c.resPID(w.ID); p != want.pid {
				t.Errorf("pid %d: X-Resource says %d", want.pid, p)
			}
			*want.id = w.ID
		}
	})
	if termID == 0 || clockID == 0 || term2ID == 0 {
		t.Fatal("windows not found")
	}

	t.Run("Activate", func(t *testing.T) {
		// xclock takes no input focus (WM_HINTS input false), so the window manager does not make it active.
		for _, id := range []uint32{term2ID, termID, term2ID} {
			if err := c.Activate([]uint32{id}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 3*time.Second, fmt.Sprintf("window %#x active", id), func() bool {
				a, err := c.ActiveWindow()
				return err == nil && a == id
			})
		}
		const bogus = 0x7ffffff0
		for _, ids := range [][]uint32{{bogus}, {termID, bogus}} {
			err := c.Activate(ids)
			var uw *UnknownWindowsError
			if !errors.As(err, &uw) || !slices.Equal(uw.IDs, []uint32{bogus}) {
				t.Fatalf("Activate(%v): %v, want UnknownWindowsError{%d}", ids, err, bogus)
			}
			if !strings.Contains(err.Error(), fmt.Sprint(bogus)) {
				t.Errorf("error %q does not name %d", err, bogus)
			}
		}
		time.Sleep(200 * time.Millisecond)
		if a, _ := c.ActiveWindow(); a != term2ID {
			t.Errorf("active %#x after refused Activate, want %#x", a, term2ID)
		}
	})

	t.Run("Background", func(t *testing.T) {
		x, y := freePoint(t, c)
		for _, bad := range []string{"red", "#12345", "#GGGGGG", "", "#1234567", "ff0000", "#ff00000", " #ff0000"} {
			var be *BadColorError
			if err := c.SetBackgroundColor(bad); !errors.As(err, &be) {
				t.Errorf("SetBackgroundColor(%q): %v, want BadColorError", bad, err)
			}
		}
		for _, tc := range []struct {
			s    string
			want color.RGBA
		}{{"#ff0000", color.RGBA{255, 0, 0, 255}}, {"#00FF0080", color.RGBA{0, 255, 0, 255}}} {
			if err := c.SetBackgroundColor(tc.s); err != nil {
				t.Fatal(err)
			}
			if got := pixel(t, c, x, y); !near(got, tc.want) {
				t.Errorf("after %s: pixel (%d,%d) = %v", tc.s, x, y, got)
			}
		}
		// A generated PNG: blue with a red block in the middle.
		src := image.NewRGBA(image.Rect(0, 0, 160, 120))
		for py := 0; py < 120; py++ {
			for px := 0; px < 160; px++ {
				c := color.RGBA{0, 0, 255, 255}
				if px >= 60 && px < 100 && py >= 40 && py < 80 {
					c = color.RGBA{255, 0, 0, 255}
				}
				src.Set(px, py, c)
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, src); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		dom, err := c.SetBackgroundImage(img)
		if err != nil {
			t.Fatal(err)
		}
		if dom != "#0000ff" {
			t.Errorf("dominant %s, want #0000ff", dom)
		}
		if got := pixel(t, c, x, y); !near(got, color.RGBA{0, 0, 255, 255}) {
			t.Errorf("after image: pixel (%d,%d) = %v, want blue", x, y, got)
		}
		W, H := int(c.screen.WidthInPixels), int(c.screen.HeightInPixels)
		if cx, cy := W/2, H/2; true {
			// The red block is in the middle; it may be covered by a window, so only report.
			t.Logf("centre pixel %v", pixel(t, c, cx, cy))
		}
		if err := c.SetBackgroundColor("#ff0000"); err != nil {
			t.Fatal(err)
		}
		if got := pixel(t, c, x, y); !near(got, color.RGBA{255, 0, 0, 255}) {
			t.Errorf("colour after image: pixel = %v, want red", got)
		}
	})

	t.Run("Clipboard", func(t *testing.T) { testClipboard(t, k, c) })

	var clock2 int
	t.Run("Watch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		events := make(chan Event, 64)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Watch(ctx, func(e Event) { events <- e })
		}()
		time.Sleep(100 * time.Millisecond) // let Watch select its events
		start := time.Now()
		clock2 = k.exec(t, "xclock", "-geometry", "100x100+400+0")
		timeout := time.After(5 * time.Second)
	wait:
		for {
			select {
			case e := <-events:
				if e.Type != "window.list" {
					t.Errorf("event type %q", e.Type)
				}
				if w := byPID(e.Windows, clock2); w != nil {
					t.Logf("window.list with the new xclock %v after Exec (active %#x)", time.Since(start).Round(time.Millisecond), e.Active)
					break wait
				}
			case <-timeout:
				t.Fatal("no window.list event with the new xclock")
			}
		}
		// The mapping itself is reported well within a second of the window entering the list.
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("event took %v", d)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("Watch did not return after cancel")
		}
	})

	t.Run("Tile", func(t *testing.T) {
		waitFor(t, 5*time.Second, "3 windows", func() bool { return len(mustWindows(t, c)) >= 3 })
		rects, err := c.Tile()
		if err != nil {
			t.Fatal(err)
		}
		if len(rects) < 3 {
			t.Fatalf("tiled %d windows: %+v", len(rects), rects)
		}
		t.Logf("targets %+v", rects)
		W, H := int(c.screen.WidthInPixels), int(c.screen.HeightInPixels)
		screen := image.Rect(0, 0, W, H)
		var got []image.Rectangle
		waitFor(t, 5*time.Second, "windows at their tiles", func() bool {
			got = got[:0]
			for _, r := range rects {
				w := xproto.Window(r.ID)
				g, err := xproto.GetGeometry(c.x, xproto.Drawable(w)).Reply()
				if err != nil {
					return false
				}
				tr, err := xproto.TranslateCoordinates(c.x, w, c.root, 0, 0).Reply()
				if err != nil {
					return false
				}
				cr := image.Rect(int(tr.DstX), int(tr.DstY), int(tr.DstX)+int(g.Width), int(tr.DstY)+int(g.Height))
				target := image.Rect(r.X, r.Y, r.X+r.Width, r.Y+r.Height)
				if !cr.In(target) {
					return false
				}
				got = append(got, cr)
			}
			return true
		})
		for i, a := range got {
			if !a.In(screen) {
				t.Errorf("window %d at %v outside the screen", i, a)
			}
			for _, b := range got[i+1:] {
				if a.Overlaps(b) {
					t.Errorf("windows overlap: %v and %v", a, b)
				}
			}
		}
		t.Logf("client rects %v", got)
	})

	t.Run("CloseWindows", func(t *testing.T) {
		var uw *UnknownWindowsError
		if err := c.CloseWindows([]uint32{clockID, 0x7ffffff1}); !errors.As(err, &uw) {
			t.Fatalf("CloseWindows with unknown id: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		if !alive(xclock) || byPID(mustWindows(t, c), xclock) == nil {
			t.Fatal("xclock closed although the request was refused")
		}
		if err := c.CloseWindows([]uint32{clockID}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "xclock to leave the list", func() bool { return byPID(mustWindows(t, c), xclock) == nil })
		waitFor(t, 5*time.Second, "xclock to exit", func() bool { return !alive(xclock) })
		if byPID(mustWindows(t, c), xterm) == nil {
			t.Error("xterm gone too")
		}
	})
}

// testClipboard: connection A owns PRIMARY and serves it; SyncClipboard copies it into CLIPBOARD; connection
// B reads CLIPBOARD.
func testClipboard(t *testing.T, k *desk, c *Conn) {
	const text = "deskhub clipboard: héllo ✓"
	a := k.raw(t)
	root := xproto.Setup(a).DefaultScreen(a).Root
	intern := func(x *xgb.Conn, n string) xproto.Atom {
		r, err := xproto.InternAtom(x, false, uint16(len(n)), n).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r.Atom
	}
	utf8A := intern(a, "UTF8_STRING")
	aw, _ := xproto.NewWindowId(a)
	if err := xproto.CreateWindowChecked(a, 0, aw, root, 0, 0, 1, 1, 0, xproto.WindowClassInputOnly, 0, 0, nil).Check(); err != nil {
		t.Fatal(err)
	}
	xproto.SetSelectionOwner(a, aw, xproto.AtomPrimary, xproto.TimeCurrentTime)
	if o, err := xproto.GetSelectionOwner(a, xproto.AtomPrimary).Reply(); err != nil || o.Owner != aw {
		t.Fatalf("test client could not own PRIMARY: %v", err)
	}
	go func() {
		for {
			ev, err := a.WaitForEvent()
			if ev == nil && err == nil {
				return
			}
			if r, ok := ev.(xproto.SelectionRequestEvent); ok {
				p := r.Property
				if r.Target == utf8A {
					xproto.ChangeProperty(a, xproto.PropModeReplace, r.Requestor, p, utf8A, 8, uint32(len(text)), []byte(text))
				} else {
					p = xproto.AtomNone
				}
				n := xproto.SelectionNotifyEvent{Time: r.Time, Requestor: r.Requestor, Selection: r.Selection, Target: r.Target, Property: p}
				xproto.SendEvent(a, false, r.Requestor, 0, string(n.Bytes()))
			}
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := c.SyncClipboard(ctx)
	if err != nil {
		t.Fatalf("SyncClipboard: %v", err)
	}
	if got != text {
		t.Fatalf("SyncClipboard = %q, want %q", got, text)
	}

	b := k.raw(t)
	clip := intern(b, "CLIPBOARD")
	utf8B := intern(b, "UTF8_STRING")
	targets := intern(b, "TARGETS")
	prop := intern(b, "TEST_PROP")
	bw, _ := xproto.NewWindowId(b)
	if err := xproto.CreateWindowChecked(b, 0, bw, root, 0, 0, 1, 1, 0, xproto.WindowClassInputOnly, 0, 0, nil).Check(); err != nil {
		t.Fatal(err)
	}
	events := make(chan xgb.Event, 16)
	go func() {
		for {
			ev, err := b.WaitForEvent()
			if ev == nil && err == nil {
				return
			}
			if ev != nil {
				events <- ev
			}
		}
	}()
	convert := func(target xproto.Atom) *xproto.GetPropertyReply {
		t.Helper()
		xproto.ConvertSelection(b, bw, clip, target, prop, xproto.TimeCurrentTime)
		select {
		case ev := <-events:
			n, ok := ev.(xproto.SelectionNotifyEvent)
			if !ok || n.Property == xproto.AtomNone {
				t.Fatalf("conversion of CLIPBOARD to %d refused: %#v", target, ev)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no SelectionNotify for CLIPBOARD")
		}
		r, err := xproto.GetProperty(b, true, bw, prop, xproto.GetPropertyTypeAny, 0, 1<<20).Reply()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := convert(utf8B); string(r.Value) != text || r.Type != utf8B {
		t.Errorf("CLIPBOARD UTF8_STRING = %q (type %d), want %q", r.Value, r.Type, text)
	}
	if r := convert(xproto.AtomString); latin1ToUTF8(r.Value) != "deskhub clipboard: héllo ?" {
		t.Errorf("CLIPBOARD STRING = %q", r.Value)
	}
	if r := convert(targets); r.Type != xproto.AtomAtom || len(u32s(r)) < 4 || !slices.Contains(u32s(r), uint32(utf8B)) {
		t.Errorf("CLIPBOARD TARGETS = %v", u32s(r))
	}
	// Another client takes CLIPBOARD: ours stops serving (its window goes away).
	xproto.SetSelectionOwner(b, bw, clip, xproto.TimeCurrentTime)
	if o, err := xproto.GetSelectionOwner(b, clip).Reply(); err != nil || o.Owner != bw {
		t.Fatalf("CLIPBOARD owner after takeover: %v %v", o, err)
	}
}

func TestParseColor(t *testing.T) {
	for _, tc := range []struct {
		s          string
		r, g, b, a uint8
		ok         bool
	}{
		{"#ff0000", 255, 0, 0, 255, true},
		{"#00Ff0080", 0, 255, 0, 0x80, true},
		{"#123456", 0x12, 0x34, 0x56, 255, true},
		{"red", 0, 0, 0, 0, false},
		{"#12345", 0, 0, 0, 0, false},
		{"#GGGGGG", 0, 0, 0, 0, false},
		{"", 0, 0, 0, 0, false},
		{"#1234567", 0, 0, 0, 0, false},
		{"123456", 0, 0, 0, 0, false},
		{"#12345g", 0, 0, 0, 0, false},
		{"#+12345", 0, 0, 0, 0, false},
	} {
		r, g, b, a, err := ParseColor(tc.s)
		if (err == nil) != tc.ok {
			t.Errorf("ParseColor(%q): err %v", tc.s, err)
			continue
		}
		if tc.ok && (r != tc.r || g != tc.g || b != tc.b || a != tc.a) {
			t.Errorf("ParseColor(%q) = %d %d %d %d", tc.s, r, g, b, a)
		}
	}
}

func FuzzParseColor(f *testing.F) {
	for _, s := range []string{"#ff0000", "#00FF0080", "red", "#12345", "#GGGGGG", "", "#", "#0x1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, g, b, a, err := ParseColor(s)
		if err != nil {
			var be *BadColorError
			if !errors.As(err, &be) || be.Color != s {
				t.Fatalf("error %v is not a BadColorError for %q", err, s)
			}
			return
		}
		want := fmt.Sprintf("#%02x%02x%02x", r, g, b)
		if len(s) == 9 {
			want += fmt.Sprintf("%02x", a)
		} else if a != 255 {
			t.Fatalf("%q: alpha %d", s, a)
		}
		if !strings.EqualFold(s, want) {
			t.Fatalf("ParseColor(%q) = %d %d %d %d: round trip %q", s, r, g, b, a, want)
		}
	})
}

func TestGrid(t *testing.T) {
	for n := 1; n <= 10; n++ {
		cells := grid(n, 0, 20, 800, 580)
		area := image.Rect(0, 20, 800, 600)
		for i, a := range cells {
			ra := image.Rect(a[0], a[1], a[0]+a[2], a[1]+a[3])
			if !ra.In(area) || ra.Empty() {
				t.Errorf("n=%d cell %d %v", n, i, ra)
			}
			for _, b := range cells[i+1:] {
				if ra.Overlaps(image.Rect(b[0], b[1], b[0]+b[2], b[1]+b[3])) {
					t.Errorf("n=%d overlap", n)
				}
			}
		}
	}
	if c := grid(3, 0, 0, 800, 600); c[0][2] != 400 || c[0][3] != 300 || c[2] != [4]int{0, 300, 400, 300} {
		t.Errorf("grid(3) = %v", c)
	}
}

func TestDominantColor(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for i := 0; i < 100; i++ {
		c := color.RGBA{0, 0, 250, 255}
		if i < 30 {
			c = color.RGBA{255, 255, 0, 255}
		}
		img.Set(i%10, i/10, c)
	}
	if d := DominantColor(img); d != "#0000fa" {
		t.Errorf("DominantColor = %s", d)
	}
}

func TestPixelFormatEncode(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 2, 1))
	img.Set(0, 0, color.RGBA{0x11, 0x22, 0x33, 255})
	img.Set(1, 0, color.RGBA{255, 255, 255, 255})
	f := pixelFormat{depth: 24, bpp: 32, pad: 32, rm: 0xff0000, gm: 0xff00, bm: 0xff}
	if got := f.encode(img, 0, 1); !bytes.Equal(got, []byte{0x33, 0x22, 0x11, 0, 0xff, 0xff, 0xff, 0}) {
		t.Errorf("bgrx %x", got)
	}
	f = pixelFormat{depth: 16, bpp: 16, pad: 32, rm: 0xf800, gm: 0x7e0, bm: 0x1f}
	if got := f.encode(img, 0, 1); len(got) != 4 || got[2] != 0xff || got[3] != 0xff {
		t.Errorf("rgb565 %x", got)
	}
}
