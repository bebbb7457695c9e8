package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/xtest"
	"github.com/deskhub/deskhub/internal/unixid"
	"github.com/deskhub/deskhub/internal/xdesk"
)

func TestMain(m *testing.M) {
	if os.Getenv("DESKHUB_LOCAL_HELPER") == "start" {
		helperStart()
		return
	}
	os.Exit(m.Run())
}

// helperStart is a deskhub stand-in for the adopt test: it starts a desktop, prints it, and waits to be
// killed with SIGKILL.
func helperStart() {
	p, err := New(Options{StateDir: os.Getenv("DESKHUB_STATE")})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	d, err := p.Start(context.Background(), provider.Spec{
		ID: os.Getenv("DESKHUB_ID"), Login: "helper",
		RunAs:   provider.RunAs{User: os.Getenv("DESKHUB_USER"), Home: os.Getenv("DESKHUB_HOME")},
		Command: []string{"xterm"}, Width: 800, Height: 600,
	})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	b, _ := json.Marshal(d)
	fmt.Println(string(b))
	select {}
}

func newProvider(t *testing.T) (*Provider, provider.RunAs) {
	t.Helper()
	xtest.Ensure(t)
	as := xtest.User(t)
	p, err := New(Options{StateDir: xtest.StateDir(t), Log: nil, StopGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, as
}

func startDesktop(t *testing.T, p *Provider, s provider.Spec) *provider.Desktop {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t0 := time.Now()
	d, err := p.Start(ctx, s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("started %s on %s in %v", s.ID, d.Display, time.Since(t0).Round(time.Millisecond))
	t.Cleanup(func() {
		if err := p.Stop(context.Background(), s.ID); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return d
}

func xconnTo(t *testing.T, p *Provider, id string) *xgb.Conn {
	t.Helper()
	d, err := p.get(id)
	if err != nil {
		t.Fatal(err)
	}
	x, err := xdesk.DialX(context.Background(), d.rt.Display, d.cookie)
	if err != nil {
		t.Fatalf("X connection: %v", err)
	}
	t.Cleanup(x.Close)
	return x
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// windowsOfClass walks the whole window tree (a window manager reparents clients) for WM_CLASS class.
func windowsOfClass(x *xgb.Conn, class string) []xproto.Window {
	var out []xproto.Window
	var walk func(w xproto.Window, depth int)
	walk = func(w xproto.Window, depth int) {
		if depth > 6 {
			return
		}
		if r, err := xproto.GetProperty(x, false, w, xproto.AtomWmClass, xproto.AtomString, 0, 64).Reply(); err == nil && r != nil {
			parts := strings.Split(string(r.Value), "\x00")
			if len(parts) >= 2 && parts[1] == class {
				out = append(out, w)
			}
		}
		tree, err := xproto.QueryTree(x, w).Reply()
		if err != nil {
			return
		}
		for _, c := range tree.Children {
			walk(c, depth+1)
		}
	}
	walk(xproto.Setup(x).DefaultScreen(x).Root, 0)
	return out
}

func uidOf(t *testing.T, pid int) uint32 {
	t.Helper()
	u, err := procUID(pid)
	if err != nil {
		t.Fatalf("uid of %d: %v", pid, err)
	}
	return u
}

// tcpListenInodes lists the socket inodes of listening TCP sockets (v4 and v6).
func tcpListenInodes(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) >= 10 && fs[3] == "0A" {
				out[fs[9]] = true
			}
		}
	}
	return out
}

func socketInodes(pid int) []string {
	var out []string
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, e := range ents {
		l, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + e.Name())
		if err == nil && strings.HasPrefix(l, "socket:[") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]"))
		}
	}
	return out
}

// sessionProcsOf lists processes carrying the session's marker (any user).
func procsWithMarker(id string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil && s.State != 'Z' && hasEnv(pid, "DESKHUB_SESSION="+id) {
			out = append(out, pid)
		}
	}
	return out
}

func comm(pid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(b))
}

func TestDesktop(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	ctx := context.Background()
	d := startDesktop(t, p, provider.Spec{ID: "desk1", Login: "alice", RunAs: as,
		Command: []string{"xterm"}, Width: 1024, Height: 768, Depth: 24, FrameRate: 30})
	dt, _ := p.get("desk1")
	uid := dt.rt.User.UID

	t.Run("Processes", func(t *testing.T) {
		if d.RFB.Network != "unix" || d.RFB.Address != filepath.Join(p.o.StateDir, "desk1", "rfb.sock") {
			t.Fatalf("RFB endpoint %+v", d.RFB)
		}
		fi, err := os.Stat(d.RFB.Address)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
			t.Errorf("rfb.sock mode %v, want socket 0600", fi.Mode())
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("rfb.sock owner %d, want %d", st.Uid, uid)
		}
		dir, _ := os.Stat(filepath.Dir(d.RFB.Address))
		if dir.Mode().Perm() != 0o700 || dir.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("session dir mode %v owner %d", dir.Mode(), dir.Sys().(*syscall.Stat_t).Uid)
		}
		if uid == 0 {
			t.Fatal("test user is root")
		}
		if comm(d.ServerPID) != "Xvnc" {
			t.Errorf("ServerPID %d is %q", d.ServerPID, comm(d.ServerPID))
		}
		for _, pid := range []int{d.ServerPID, d.AppPID} {
			if u := uidOf(t, pid); u != uid {
				t.Errorf("pid %d (%s) runs as uid %d, want %d", pid, comm(pid), u, uid)
			}
		}
		if dt.rt.WM == nil || comm(dt.rt.WM.PID) != "openbox" || !dt.rt.WM.alive() {
			t.Fatalf("openbox not running: %+v", dt.rt.WM)
		}
		if u := uidOf(t, dt.rt.WM.PID); u != uid {
			t.Errorf("openbox runs as uid %d", u)
		}
		// Xvnc must not listen on any TCP port (RFB or X11).
		listen := tcpListenInodes(t)
		for _, ino := range socketInodes(d.ServerPID) {
			if listen[ino] {
				t.Errorf("Xvnc listens on a TCP socket (inode %s)", ino)
			}
		}
		// Own Unix session, so deskhub's death does not take it down.
		if s, _ := readStat(d.ServerPID); s.SID != d.ServerPID {
			t.Errorf("Xvnc sid %d, want its own session", s.SID)
		}
	})

	t.Run("XAccess", func(t *testing.T) {
		x := xconnTo(t, p, "desk1")
		waitFor(t, 10*time.Second, "an XTerm window", func() bool { return len(windowsOfClass(x, "XTerm")) > 0 })
		scr := xproto.Setup(x).DefaultScreen(x)
		if scr.WidthInPixels != 1024 || scr.HeightInPixels != 768 {
			t.Errorf("screen %dx%d", scr.WidthInPixels, scr.HeightInPixels)
		}
		// Without the cookie the display refuses connections.
		if x2, err := xdesk.DialX(ctx, dt.rt.Display, make([]byte, 16)); err == nil {
			x2.Close()
			t.Error("X connection with a wrong cookie was accepted")
		}
	})

	t.Run("RFB", func(t *testing.T) {
		c, err := p.DialRFB(ctx, "desk1")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		ver := make([]byte, 12)
		if _, err := io.ReadFull(c, ver); err != nil {
			t.Fatal(err)
		}
		if string(ver) != "RFB 003.008\n" {
			t.Fatalf("version %q", ver)
		}
		c.Write(ver)
		var n [1]byte
		io.ReadFull(c, n[:])
		types := make([]byte, n[0])
		io.ReadFull(c, types)
		if !bytes.Contains(types, []byte{1}) {
			t.Fatalf("security types %v lack None", types)
		}
		c.Write([]byte{1})
		var res [4]byte
		if _, err := io.ReadFull(c, res[:]); err != nil || binary.BigEndian.Uint32(res[:]) != 0 {
			t.Fatalf("security result %v %v", res, err)
		}
		c.Write([]byte{1}) // ClientInit, shared
		var si [24]byte
		if _, err := io.ReadFull(c, si[:]); err != nil {
			t.Fatal(err)
		}
		w, h := binary.BigEndian.Uint16(si[0:]), binary.BigEndian.Uint16(si[2:])
		name := make([]byte, binary.BigEndian.Uint32(si[20:]))
		io.ReadFull(c, name)
		if w != 1024 || h != 768 {
			t.Errorf("ServerInit %dx%d", w, h)
		}
		if string(name) != "deskhub" {
			t.Errorf("desktop name %q", name)
		}
	})

	t.Run("Screenshot", func(t *testing.T) {
		for _, tc := range []struct {
			o    provider.ScreenshotOptions
			w, h int
		}{
			{provider.ScreenshotOptions{Format: "png"}, 1024, 768},
			{provider.ScreenshotOptions{Format: "jpeg"}, 1024, 768},
			{provider.ScreenshotOptions{Format: "png", Width: 320, Height: 200}, 320, 200},
			{provider.ScreenshotOptions{Format: "jpeg", Width: 300, Height: 300}, 300, 300},
			{provider.ScreenshotOptions{Format: "png", Width: 400, Height: 400, KeepAspect: true}, 400, 300},
			{provider.ScreenshotOptions{Format: "jpeg", Width: 640, Height: 100, KeepAspect: true}, 133, 100},
			{provider.ScreenshotOptions{Format: "png", Width: 256}, 256, 192},
		} {
			b, err := p.Screenshot(ctx, "desk1", tc.o)
			if err != nil {
				t.Fatalf("%+v: %v", tc.o, err)
			}
			var img image.Image
			if tc.o.Format == "png" {
				img, err = png.Decode(bytes.NewReader(b))
			} else {
				img, err = jpeg.Decode(bytes.NewReader(b))
			}
			if err != nil {
				t.Fatalf("%+v: decode: %v", tc.o, err)
			}
			if got := img.Bounds().Size(); got.X != tc.w || got.Y != tc.h {
				t.Errorf("%+v: size %v, want %dx%d", tc.o, got, tc.w, tc.h)
			}
		}
		// The picture shows something (xterm draws shortly after it maps).
		waitFor(t, 5*time.Second, "a screenshot with more than one colour", func() bool {
			b, err := p.Screenshot(ctx, "desk1", provider.ScreenshotOptions{Format: "png"})
			if err != nil {
				t.Fatal(err)
			}
			img, _ := png.Decode(bytes.NewReader(b))
			colours := map[[3]uint32]bool{}
			for y := 0; y < 768; y += 7 {
				for x := 0; x < 1024; x += 7 {
					r, g, b, _ := img.At(x, y).RGBA()
					colours[[3]uint32{r, g, b}] = true
				}
			}
			return len(colours) > 1
		})
		if _, err := p.Screenshot(ctx, "desk1", provider.ScreenshotOptions{Format: "gif"}); err == nil {
			t.Error("gif accepted")
		}
	})

	t.Run("Exec", func(t *testing.T) {
		x := xconnTo(t, p, "desk1")
		before := len(windowsOfClass(x, "XClock"))
		pid, err := p.Exec(ctx, "desk1", []string{"xclock", "-geometry", "120x120+10+10"})
		if err != nil {
			t.Fatal(err)
		}
		if u := uidOf(t, pid); u != uid {
			t.Errorf("xclock runs as uid %d", u)
		}
		waitFor(t, 10*time.Second, "an XClock window", func() bool { return len(windowsOfClass(x, "XClock")) > before })
		if _, err := p.Exec(ctx, "desk1", []string{"no-such-program-xyz"}); !errors.Is(err, provider.ErrBadCommand) {
			t.Errorf("Exec missing program: %v, want ErrBadCommand", err)
		}
	})

	// The account's compose cache: every process of the desktop names it, it is the account's alone (or
	// libX11 would not use it), and the first X client that opened an input method wrote its table there.
	t.Run("ComposeCache", func(t *testing.T) {
		dir := filepath.Join(p.o.StateDir, ".compose-cache", strconv.FormatUint(uint64(uid), 10))
		fi, err := os.Lstat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != uid {
			t.Errorf("compose cache %s: mode %v owner %d, want a 0700 directory of uid %d", dir, fi.Mode(),
				fi.Sys().(*syscall.Stat_t).Uid, uid)
		}
		wm := dt.rt.WM
		if wm == nil {
			t.Fatal("no window manager recorded")
		}
		for _, pid := range []int{d.ServerPID, wm.PID, d.AppPID} {
			if !hasEnv(pid, "XCOMPOSECACHE="+dir) {
				t.Errorf("pid %d (%s) lacks XCOMPOSECACHE=%s", pid, comm(pid), dir)
			}
		}
		waitFor(t, 10*time.Second, "a compose cache file", func() bool {
			ents, _ := os.ReadDir(dir)
			return len(ents) > 0
		})
	})

	t.Run("Log", func(t *testing.T) {
		b, err := p.Log(ctx, "desk1", 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("Xvnc")) || !bytes.Contains(b, []byte("deskhub: ")) {
			t.Errorf("log lacks Xvnc output: %q", b)
		}
		b, _ = p.Log(ctx, "desk1", 10)
		if len(b) != 10 {
			t.Errorf("Log(10) gave %d bytes", len(b))
		}
	})

	t.Run("Stop", func(t *testing.T) {
		if ok, err := p.Running(ctx, "desk1"); !ok || err != nil {
			t.Fatalf("Running: %v %v", ok, err)
		}
		t0 := time.Now()
		if err := p.Stop(ctx, "desk1"); err != nil {
			t.Fatal(err)
		}
		t.Logf("stopped in %v", time.Since(t0).Round(time.Millisecond))
		if err := p.Stop(ctx, "desk1"); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if ok, _ := p.Running(ctx, "desk1"); ok {
			t.Error("still running")
		}
		if left := procsWithMarker("desk1"); len(left) > 0 {
			t.Errorf("processes left: %v", left)
		}
		if _, err := os.Stat(d.RFB.Address); !os.IsNotExist(err) {
			t.Errorf("rfb.sock left: %v", err)
		}
		// The display number may already serve another desktop (parallel tests): only ours must be gone.
		if pid, ok := xdesk.LockPID(dt.rt.Display); ok && pid == d.ServerPID {
			t.Errorf("X lock of the stopped server left")
		}
		if _, err := os.Stat(filepath.Join(p.o.StateDir, "desk1", "session.log")); err != nil {
			t.Errorf("session.log not kept: %v", err)
		}
		if _, err := p.DialRFB(ctx, "desk1"); !errors.Is(err, provider.ErrGone) {
			t.Errorf("DialRFB after Stop: %v", err)
		}
		if _, err := p.Log(ctx, "desk1", 100); err != nil {
			t.Errorf("Log after Stop: %v", err)
		}
		select {
		case e := <-p.Ended():
			t.Errorf("Ended after Stop: %+v", e)
		case <-time.After(300 * time.Millisecond):
		}
	})
}

func waitEnded(t *testing.T, p *Provider, id string, d time.Duration) provider.Ended {
	t.Helper()
	select {
	case e := <-p.Ended():
		if e.ID != id {
			t.Fatalf("Ended for %s, want %s", e.ID, id)
		}
		return e
	case <-time.After(d):
		t.Fatalf("no Ended for %s within %v", id, d)
	}
	panic("unreachable")
}

func TestCommandExitEndsDesktop(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	t0 := time.Now()
	d := startDesktop(t, p, provider.Spec{ID: "sleeper", RunAs: as, Command: []string{"sleep", "1"}, Width: 640, Height: 480})
	e := waitEnded(t, p, "sleeper", 8*time.Second)
	t.Logf("ended after %v: %s", time.Since(t0).Round(time.Millisecond), e.Reason)
	if e.Reason != "command exited (status 0)" {
		t.Errorf("reason %q", e.Reason)
	}
	if (procRef{PID: d.ServerPID}).alive() {
		t.Error("Xvnc still running")
	}
	if ok, _ := p.Running(context.Background(), "sleeper"); ok {
		t.Error("Running after end")
	}
	if left := procsWithMarker("sleeper"); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

func TestRootlessEndsWithLastWindow(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	d := startDesktop(t, p, provider.Spec{ID: "rootless1", RunAs: as, Command: []string{"xterm"}, Rootless: true})
	dt, _ := p.get("rootless1")
	if dt.rt.WM != nil {
		t.Fatal("rootless desktop has a window manager")
	}
	x := xconnTo(t, p, "rootless1")
	var wins []xproto.Window
	waitFor(t, 10*time.Second, "the xterm window", func() bool {
		wins = windowsOfClass(x, "XTerm")
		return len(wins) > 0
	})
	// Let the watcher see the window, then close it.
	time.Sleep(2 * p.o.PollInterval)
	t0 := time.Now()
	if err := xproto.KillClientChecked(x, uint32(wins[0])).Check(); err != nil {
		t.Fatal(err)
	}
	e := waitEnded(t, p, "rootless1", 8*time.Second)
	t.Logf("ended %v after closing the window: %s", time.Since(t0).Round(time.Millisecond), e.Reason)
	if e.Reason != "last window closed" {
		t.Errorf("reason %q", e.Reason)
	}
	if (procRef{PID: d.ServerPID}).alive() {
		t.Error("Xvnc still running")
	}
}

func TestBadCommand(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	for i, argv := range [][]string{{"no-such-command-deskhub"}, {"/nonexistent/bin/x"}, {"/etc/passwd"}} {
		id := fmt.Sprintf("bad%d", i)
		_, err := p.Start(context.Background(), provider.Spec{ID: id, RunAs: as, Command: argv})
		if !errors.Is(err, provider.ErrBadCommand) {
			t.Fatalf("%q: %v, want ErrBadCommand", argv, err)
		}
		if !strings.Contains(err.Error(), argv[0]) {
			t.Errorf("error %q does not name %q", err, argv[0])
		}
		if left := procsWithMarker(id); len(left) > 0 {
			t.Errorf("processes left: %v", left)
		}
		if _, err := os.Stat(filepath.Join(p.o.StateDir, id)); !os.IsNotExist(err) {
			t.Errorf("session dir created: %v", err)
		}
	}
	if len(p.displays) != 0 {
		t.Errorf("displays reserved: %v", p.displays)
	}
}

func TestAdoptAfterKill(t *testing.T) {
	t.Parallel()
	xtest.Ensure(t)
	as := xtest.User(t)
	state := xtest.StateDir(t)
	// A separate process starts the desktop and is then killed with SIGKILL, as a crashed deskhub.
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "DESKHUB_LOCAL_HELPER=start", "DESKHUB_STATE="+state, "DESKHUB_ID=adoptme",
		"DESKHUB_USER="+as.User, "DESKHUB_HOME="+as.Home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.HasPrefix(line, "ERR") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q %v", line, err)
	}
	var d provider.Desktop
	if err := json.Unmarshal([]byte(line), &d); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Cleanup(func() { // in case the test fails half way
		if (procRef{PID: d.ServerPID}).alive() {
			syscall.Kill(d.ServerPID, syscall.SIGKILL)
			syscall.Kill(d.AppPID, syscall.SIGKILL)
		}
	})
	time.Sleep(200 * time.Millisecond)
	if !(procRef{PID: d.ServerPID}).alive() || !(procRef{PID: d.AppPID}).alive() {
		t.Fatal("desktop died with its deskhub")
	}

	p, err := New(Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()
	got, err := p.Adopt(ctx, d)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if got.Display != d.Display || got.ServerPID != d.ServerPID {
		t.Errorf("adopted %+v", got)
	}
	if ok, err := p.Running(ctx, "adoptme"); !ok || err != nil {
		t.Fatalf("Running: %v %v", ok, err)
	}
	b, err := p.Screenshot(ctx, "adoptme", provider.ScreenshotOptions{Format: "png", Width: 200, Height: 150})
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != 200 {
		t.Fatalf("screenshot: %v", err)
	}
	if c, err := p.DialRFB(ctx, "adoptme"); err != nil {
		t.Fatal(err)
	} else {
		c.SetDeadline(time.Now().Add(3 * time.Second))
		v := make([]byte, 12)
		if _, err := io.ReadFull(c, v); err != nil || string(v) != "RFB 003.008\n" {
			t.Errorf("RFB after adopt: %q %v", v, err)
		}
		c.Close()
	}
	// The adopted desktop's window manager is watched too (by /proc, as it is not this process's child).
	dt, _ := p.get("adoptme")
	old := wmPID(dt)
	if old == 0 || comm(old) != "openbox" {
		t.Fatalf("adopted window manager %d (%s)", old, comm(old))
	}
	syscall.Kill(old, syscall.SIGKILL)
	waitFor(t, 10*time.Second, "the adopted desktop's window manager restarted", func() bool {
		pid := wmPID(dt)
		return pid != old && pid > 0 && comm(pid) == "openbox"
	})
	if err := p.Stop(ctx, "adoptme"); err != nil {
		t.Fatal(err)
	}
	if (procRef{PID: d.ServerPID}).alive() || (procRef{PID: d.AppPID}).alive() {
		t.Fatal("Stop left the adopted desktop running")
	}
	p2, err := New(Options{StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if _, err := p2.Adopt(ctx, d); !errors.Is(err, provider.ErrGone) {
		t.Fatalf("Adopt of a stopped desktop: %v, want ErrGone", err)
	}
}

func TestAdoptWatchesCommand(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	d := startDesktop(t, p, provider.Spec{ID: "adopt2", RunAs: as, Command: []string{"sleep", "3"}, Width: 640, Height: 480})
	// Simulate the restart in-process: a second provider takes over, the first stops watching.
	p2, err := New(Options{StateDir: p.o.StateDir, PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	p.Close()
	if _, err := p2.Adopt(context.Background(), *d); err != nil {
		t.Fatal(err)
	}
	e := waitEnded(t, p2, "adopt2", 10*time.Second)
	if e.Reason != "command exited" {
		t.Errorf("reason %q", e.Reason)
	}
	if (procRef{PID: d.ServerPID}).alive() {
		t.Error("Xvnc still running")
	}
}

func TestTwoDesktops(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	type res struct {
		d   *provider.Desktop
		err error
	}
	ch := make(chan res, 2)
	for i, id := range []string{"twin-a", "twin-b"} {
		go func() {
			d, err := p.Start(context.Background(), provider.Spec{ID: id, RunAs: as, Command: []string{"sleep", "60"},
				Width: 320, Height: 240, Depth: []int{16, 32}[i]})
			ch <- res{d, err}
		}()
	}
	var ds []*provider.Desktop
	for range 2 {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		ds = append(ds, r.d)
		t.Cleanup(func() { p.Stop(context.Background(), r.d.ID) })
	}
	if ds[0].Display == ds[1].Display {
		t.Fatalf("both on %s", ds[0].Display)
	}
	for _, d := range ds {
		b, err := p.Screenshot(context.Background(), d.ID, provider.ScreenshotOptions{Format: "png"})
		if err != nil {
			t.Fatal(err)
		}
		if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != 320 || img.Bounds().Dy() != 240 {
			t.Fatalf("screenshot of %s: %v", d.ID, err)
		}
		for range 2 {
			if err := p.Stop(context.Background(), d.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := p.Stop(context.Background(), "never-was"); err != nil {
		t.Errorf("Stop unknown: %v", err)
	}
}

// TestAccountIdentityDesktop: a desktop runs as the Unix identity unixid creates for a deskhub account.
func TestAccountIdentityDesktop(t *testing.T) {
	t.Parallel()
	p, _ := newProvider(t)
	homes := xtest.StateDir(t)
	ids, err := unixid.New("dhtest-u", homes)
	if err != nil {
		t.Fatal(err)
	}
	as, err := ids.Ensure(1, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ids.Ensure(1, "svc"); err != nil || again != as {
		t.Fatalf("second Ensure: %v %v", again, err)
	}
	if sh := xdesk.LoginShell(as.User); sh != "/bin/sh" {
		t.Errorf("SHELL for a nologin account: %q", sh)
	}
	home := as.Home
	d := startDesktop(t, p, provider.Spec{ID: "svc1", RunAs: as,
		Command: []string{"sleep", "30"}, Width: 320, Height: 240})
	fi, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	dt, _ := p.get("svc1")
	if fi.Mode().Perm() != 0o700 || fi.Sys().(*syscall.Stat_t).Uid != dt.rt.User.UID {
		t.Errorf("home mode %v owner %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	if uidOf(t, d.AppPID) != dt.rt.User.UID || dt.rt.User.UID == 0 {
		t.Error("command does not run as the account's identity")
	}
	if _, err := p.Screenshot(context.Background(), "nope", provider.ScreenshotOptions{}); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Screenshot unknown: %v", err)
	}
	if _, err := p.Running(context.Background(), "nope"); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Running unknown: %v", err)
	}
}

func TestRootlessWithoutWindowEnds(t *testing.T) {
	t.Parallel()
	xtest.Ensure(t)
	as := xtest.User(t)
	p, err := New(Options{StateDir: xtest.StateDir(t), RootlessGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	startDesktop(t, p, provider.Spec{ID: "nowin", RunAs: as, Command: []string{"sleep", "30"}, Rootless: true})
	e := waitEnded(t, p, "nowin", 5*time.Second)
	if !strings.HasPrefix(e.Reason, "no window appeared") {
		t.Errorf("reason %q", e.Reason)
	}
	if left := procsWithMarker("nowin"); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}
