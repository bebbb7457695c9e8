package lxddesktop

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/cgmem"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// cgroupMem reads an instance's cgroup memory figures on the host (cgroup v2).
func (d *deskhub) cgroupMem(t testing.TB, name string) cgmem.Stat {
	t.Helper()
	cg := "lxc.payload." + d.env.Project + "_" + name
	for _, dir := range []string{"/sys/fs/cgroup/" + cg, "/sys/fs/cgroup/memory/" + cg} {
		if dir, v, err := cgmem.Root(dir); err == nil {
			s, err := cgmem.Read(dir, v)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	t.Fatalf("no memory cgroup of instance %s on the host", name)
	return cgmem.Stat{}
}

// trims counts deskhub's log lines saying that session id was trimmed.
func (d *deskhub) trims(id string) int {
	n := 0
	for _, line := range strings.Split(d.srv.Logs(), "\n") {
		if strings.Contains(line, `"msg":"idle desktop trimmed"`) && strings.Contains(line, `"session":"`+id+`"`) {
			n++
		}
	}
	return n
}

func (d *deskhub) waitTrims(t testing.TB, id string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for d.trims(id) < n {
		if time.Now().After(deadline) {
			t.Fatalf("session %s trimmed %d times after %s, want %d\n%s", id, d.trims(id), timeout, n, d.srv.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLXDTrimIdle: with --trim-idle, a desktop nobody views gives its page cache back to the host — its
// instance's cgroup holds far less page cache and memory than before (on a copy-on-write pool) —, not
// while a client views it,
// once per idle spell (again after a client came and left); its windows stay and a client connects to it
// as before. A spare of the warm pool is trimmed once it is ready.
func TestLXDTrimIdle(t *testing.T) {
	// On a copy-on-write pool an instance's files are its own inodes, so what it reads is charged to its
	// cgroup; on a dir pool they were written by LXD's unpacking, whose cgroup keeps that page cache
	// (the desktop's cgroup then holds little to give back, and the figures are not compared).
	env := lxdtest.Get(t)
	flags := []string{"--trim-idle", "3s"}
	pool := env.CoWPool(t)
	if pool != "" {
		flags = append(flags, "--lxd-storage-pool", pool)
	}
	d := startDeskhub(t, flags...)
	ctx := context.Background()
	conn := d.startLXD(t, d.admin, "xterm -title kept-through-the-trim")
	id := conn.ID
	name := instanceName(t, d.admin, id)

	// Its init and agent run this deskhub's binary, shared read-only with every desktop of this machine
	// (--lxd-share-binary, on by default): one file, one page cache.
	bin, err := servetest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	bin, _ = filepath.EvalSymlinks(bin)
	inst, _, err := env.Client(t).GetInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	if dev := inst.ExpandedDevices["deskhub-binary"]; dev["source"] != bin || dev["path"] != "/usr/local/bin/deskhub" || dev["readonly"] != "true" {
		t.Errorf("the binary device %v, want %s read-only at /usr/local/bin/deskhub", dev, bin)
	}
	if out := env.ExecOut(t, name, "/usr/local/bin/deskhub", "version"); !strings.Contains(out, "deskhub") {
		t.Errorf("deskhub version in the desktop: %q", out)
	}

	// Viewed: not trimmed, however long.
	nc, _, _ := view(t, d.admin, conn)
	before := windowTitles(t, d.admin, id)
	if !slices.Contains(before, "kept-through-the-trim") {
		t.Fatalf("windows %q", before)
	}
	time.Sleep(7 * time.Second)
	if n := d.trims(id); n != 0 {
		t.Fatalf("a viewed desktop was trimmed %d times", n)
	}
	m0 := d.cgroupMem(t, name)
	if pool != "" && m0.File < 16<<20 {
		t.Fatalf("an untrimmed desktop on pool %s holds %d MiB of page cache: the test cannot tell a trim", pool, m0.File>>20)
	}
	nc.Close()

	// Its client left: trimmed once within the idle time and a tick.
	d.waitTrims(t, id, 1, 30*time.Second)
	m1 := d.cgroupMem(t, name)
	t.Logf("cgroup before the trim: %d MiB (page cache %d, anonymous %d); after: %d MiB (page cache %d, anonymous %d)",
		m0.Current>>20, m0.File>>20, m0.Anon>>20, m1.Current>>20, m1.File>>20, m1.Anon>>20)
	if pool != "" && (m1.File > m0.File/3 || m1.Current >= m0.Current-m0.File/2) {
		t.Errorf("after the trim: page cache %d MiB (was %d), memory %d MiB (was %d)", m1.File>>20, m0.File>>20, m1.Current>>20, m0.Current>>20)
	}
	time.Sleep(5 * time.Second)
	if n := d.trims(id); n != 1 {
		t.Errorf("trimmed %d times in one idle spell", n)
	}

	// Nothing of the desktop is lost: its windows, the display.
	if after := windowTitles(t, d.admin, id); !slices.Equal(after, before) {
		t.Errorf("windows after the trim %q, before %q", after, before)
	}
	conn2, err := d.admin.ConnectSession(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := frame(t, d.admin, conn2); w != 800 || h != 600 {
		t.Errorf("first frame after the trim %dx%d", w, h)
	}
	// That client came and left: a new idle spell, trimmed again.
	d.waitTrims(t, id, 2, 30*time.Second)

	// A spare of the warm pool (another deskhub) is trimmed once ready.
	d2 := startDeskhub(t, append(flags, "--lxd-pool-size", "1", "--lxd-cert-name", env.CertPrefix+"-trimpool")...)
	d2.waitPooled(t, 1)
	sp := spares(t, env)
	if len(sp) == 0 {
		t.Fatal("no spare in the pool")
	}
	trimmed := false
	for _, line := range strings.Split(d2.srv.Logs(), "\n") {
		trimmed = trimmed || (strings.Contains(line, `"msg":"spare trimmed"`) && strings.Contains(line, sp[0]))
	}
	if !trimmed {
		t.Errorf("spare %s: no \"spare trimmed\" in the log\n%s", sp[0], d2.srv.Logs())
	}
	if m := d.cgroupMem(t, sp[0]); pool != "" && m.File > m0.File/2 {
		t.Errorf("spare %s holds %d MiB of page cache (an untrimmed desktop %d)", sp[0], m.File>>20, m0.File>>20)
	}
}
