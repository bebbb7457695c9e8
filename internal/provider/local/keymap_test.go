package local

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

// TestKeymapCache: the first desktop teaches the keymap cache; the next one's Xvnc is given it and has
// the same keymap (component names aside), another layout still compiles from the system's files through
// it, and a cache that makes Xvnc fail is dropped: the start goes on without it.
func TestKeymapCache(t *testing.T) {
	t.Parallel()
	p, as := newProvider(t)
	spec := func(id string) provider.Spec {
		return provider.Spec{ID: id, Login: "kim", RunAs: as, Command: []string{"sleep", "60"}, Width: 320, Height: 240}
	}
	startDesktop(t, p, spec("kmA"))
	a, _ := p.get("kmA")
	if slices.Contains(cmdline(a.rt.Server.PID), "-xkbdir") {
		t.Fatal("the first desktop was given a keymap cache that nobody made")
	}
	var dir string
	waitFor(t, 20*time.Second, "the keymap cache", func() bool {
		dir, _ = p.keymapDir(xvncPath(t))
		return dir != ""
	})
	for _, f := range []string{"rules/evdev", "keycodes/evdev_deskhub", "symbols/deskhub", "symbols/us"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("cache: %v", err)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("cache directory: %v %v, want 0755", fi.Mode(), err)
	}
	want := dumpKeymap(t, a)

	startDesktop(t, p, spec("kmB"))
	b, _ := p.get("kmB")
	if args := cmdline(b.rt.Server.PID); !slices.Contains(args, dir) {
		t.Fatalf("Xvnc of the second desktop: %q, want -xkbdir %s", args, dir)
	}
	got := dumpKeymap(t, b)
	if !strings.Contains(got, `xkb_keycodes "evdev`) {
		t.Errorf("keycodes name does not start with evdev:\n%.300s", got)
	}
	if normalKeymap(got) != normalKeymap(want) {
		t.Errorf("keymap with the cache differs from the system's:\n%s", diffLines(normalKeymap(want), normalKeymap(got)))
	}
	// Another layout: the server compiles it through the cache's links to the system's files.
	cmd := exec.Command("setxkbmap", "-display", b.d.Display, "-layout", "de")
	cmd.Env = append(os.Environ(), "XAUTHORITY="+b.xauthPath())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setxkbmap -layout de: %v: %s", err, out)
	}
	if de := dumpKeymap(t, b); !strings.Contains(de, `xkb_symbols "pc+de`) || !strings.Contains(de, "<AE06>") {
		t.Errorf("after setxkbmap -layout de:\n%.600s", de)
	}

	// A broken cache: the next start goes on without it, and it is not used again.
	if err := os.WriteFile(filepath.Join(dir, "rules", "evdev"), []byte("! model = keycodes\n  * = nonesuch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startDesktop(t, p, spec("kmC"))
	c, _ := p.get("kmC")
	if slices.Contains(cmdline(c.rt.Server.PID), "-xkbdir") {
		t.Error("the desktop after a failed start with the cache still has it")
	}
	if d, _ := p.keymapDir(xvncPath(t)); d != "" {
		t.Errorf("cache %s still offered after it failed", d)
	}
}

// dumpKeymap answers the keymap of dt's X server (xkbcomp -xkb).
func dumpKeymap(t *testing.T, dt *desktop) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "xkbcomp", "-w", "0", "-xkb", dt.d.Display, "-")
	cmd.Env = append(os.Environ(), "XAUTHORITY="+dt.xauthPath())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xkbcomp %s: %v", dt.d.Display, err)
	}
	return string(out)
}

var (
	sectionNameRE = regexp.MustCompile(`(?m)^(xkb_\w+) "[^"]*" \{`)
	level1MapRE   = regexp.MustCompile(`(?m)^\s*map\[[^\]]*\]= Level1;\n`)
)

// normalKeymap drops what the cache changes without changing the keymap: the component names, and
// type entries mapping a modifier combination to Level1 (what an unmapped combination gives anyway;
// xkbcomp leaves them out when it reads its own flat output back).
func normalKeymap(km string) string {
	return level1MapRE.ReplaceAllString(sectionNameRE.ReplaceAllString(km, `$1 {`), "")
}

// diffLines lists the lines of a and b that the other lacks (at most 20).
func diffLines(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ina, inb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !inb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ina[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out[:min(len(out), 20)], "\n")
}

// cmdline answers the arguments of process pid.
func cmdline(pid int) []string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// TestComponentNames: a component name learnt from a desktop's server (which the account runs) names
// files of the system's XKB directory, never a path.
func TestComponentNames(t *testing.T) {
	for name, ok := range map[string]bool{
		"evdev+aliases(qwerty)": true, "complete": true, "pc+us+inet(evdev)": true, "pc(pc105)": true,
		"pc+us+de:2+inet(evdev)": true, "": false, "../../../etc/shadow": false, "/etc/shadow": false,
		`evdev" }; include "x`: false, "pc+us\n": false,
	} {
		if componentRE().MatchString(name) != ok {
			t.Errorf("%q accepted: %v, want %v", name, !ok, ok)
		}
	}
}
