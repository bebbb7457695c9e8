package xdesk

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRestarts(t *testing.T) {
	var r Restarts // 5 a minute, 250 ms doubling up to 5 s
	t0 := time.Unix(1000, 0)
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		d, err := r.Next(t0.Add(time.Duration(i) * time.Second))
		if err != nil || d != w {
			t.Fatalf("restart %d: %v %v, want %v", i+1, d, err, w)
		}
	}
	_, err := r.Next(t0.Add(10 * time.Second))
	if err == nil || !strings.Contains(err.Error(), "6 times within 1m0s") {
		t.Fatalf("sixth exit within a minute: %v", err)
	}
	// Once the first restarts leave the window (those at 0 s and 1 s), restarts are allowed again, with
	// the delay of the three left in it.
	d, err := r.Next(t0.Add(61500 * time.Millisecond))
	if err != nil || d != 2*time.Second {
		t.Fatalf("after the window moved: %v %v", d, err)
	}
	d, err = (&Restarts{Max: 1, Base: time.Second, Cap: 3 * time.Second}).Next(t0)
	if err != nil || d != time.Second {
		t.Fatalf("custom: %v %v", d, err)
	}
	c := Restarts{Max: 10, Base: time.Second, Cap: 3 * time.Second}
	for i := 0; i < 4; i++ {
		d, _ = c.Next(t0)
	}
	if d != 3*time.Second {
		t.Fatalf("cap: %v", d)
	}
}

func TestParse(t *testing.T) {
	if w, h, err := ParseGeometry("1280x800"); err != nil || w != 1280 || h != 800 {
		t.Fatalf("1280x800: %d %d %v", w, h, err)
	}
	for _, bad := range []string{"", "1024", "x768", "1024x", "10x10", "99999x768", "1024x768x24", "a x b", "-1024x768"} {
		if _, _, err := ParseGeometry(bad); err == nil {
			t.Errorf("geometry %q accepted", bad)
		}
	}
	if n, err := ParseDisplay(":12"); err != nil || n != 12 {
		t.Fatalf(":12: %d %v", n, err)
	}
	for _, bad := range []string{"", "0", ":", ":x", ":-1", ":10000", "host:0"} {
		if _, err := ParseDisplay(bad); err == nil {
			t.Errorf("display %q accepted", bad)
		}
	}
	if CheckGeometry(1024, 768, 8) == nil || CheckGeometry(1024, 768, 32) != nil {
		t.Error("CheckGeometry depth")
	}
}

func TestXvncArgs(t *testing.T) {
	got := Xvnc{Display: 3, Width: 800, Height: 600, Depth: 24, RFBSocket: "/run/x/rfb.sock", Auth: "/run/x/auth"}.Args("/usr/bin/Xvnc")
	want := []string{"/usr/bin/Xvnc", ":3", "-geometry", "800x600", "-depth", "24",
		"-rfbunixpath", "/run/x/rfb.sock", "-rfbunixmode", "0600", "-rfbport", "-1",
		"-SecurityTypes", "None", "-nolisten", "tcp", "-auth", "/run/x/auth", "-extension", "GLX",
		"-FrameRate", "60", "-AlwaysShared", "-noreset", "-desktop", "deskhub"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("args\n got %q\nwant %q", got, want)
	}
	got = Xvnc{Display: 3, Width: 800, Height: 600, Depth: 24, RFBSocket: "/run/x/rfb.sock", GLX: true,
		XKBDir: "/s/.xkb/k", NoCompareFB: true}.Args("/usr/bin/Xvnc")
	want = []string{"/usr/bin/Xvnc", ":3", "-geometry", "800x600", "-depth", "24",
		"-rfbunixpath", "/run/x/rfb.sock", "-rfbunixmode", "0600", "-rfbport", "-1",
		"-SecurityTypes", "None", "-nolisten", "tcp", "-xkbdir", "/s/.xkb/k", "-CompareFB", "0",
		"-FrameRate", "60", "-AlwaysShared", "-noreset", "-desktop", "deskhub"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("args with GLX, an XKB directory and no pixel comparison\n got %q\nwant %q", got, want)
	}
}

func TestLookPath(t *testing.T) {
	home := t.TempDir()
	a := &Account{Name: "x", UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Home: home}
	if p, err := a.LookPath("sh"); err != nil || !filepath.IsAbs(p) {
		t.Fatalf("sh: %q %v", p, err)
	}
	if err := os.WriteFile(filepath.Join(home, "prog"), []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if p, err := a.LookPath("./prog"); err != nil || p != filepath.Join(home, "prog") {
		t.Fatalf("./prog: %q %v", p, err)
	}
	os.WriteFile(filepath.Join(home, "data"), nil, 0o600)
	for _, bad := range []string{"", "no-such-program-xyz", "./data", "/nonexistent/x"} {
		_, err := a.LookPath(bad)
		if !errors.Is(err, ErrNotExecutable) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	env := strings.Join(a.Env(5, "/x/auth", "C.UTF-8", "EXTRA=1"), " ")
	for _, w := range []string{"HOME=" + home, "DISPLAY=:5", "XAUTHORITY=/x/auth", "PATH=" + Path, "EXTRA=1"} {
		if !strings.Contains(env, w) {
			t.Errorf("env lacks %s: %s", w, env)
		}
	}
}

// TestXvncEnv: Xvnc's environment gets the malloc threshold, added to a GLIBC_TUNABLES already there
// and not over one that sets it.
func TestXvncEnv(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"HOME=/h"}, []string{"HOME=/h", "GLIBC_TUNABLES=" + MallocTunables}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=1", "A=b"},
			[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=1:" + MallocTunables, "A=b"}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4096"}, []string{"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4096"}},
		{[]string{"GLIBC_TUNABLES="}, []string{"GLIBC_TUNABLES=" + MallocTunables}},
	} {
		in := append([]string{}, c.in...)
		if got := (Xvnc{}).Env(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Env(%q) = %q, want %q", c.in, got, c.want)
		}
		if !slices.Equal(c.in, in) {
			t.Errorf("Env changed its argument: %q", c.in)
		}
	}
}
