package imagebuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDebootstrapKey(t *testing.T) {
	base := DebootstrapKey("bookworm", "amd64", "minbase", "http://deb.debian.org/debian", []string{"xterm", "openbox"})
	if len(base) != 64 {
		t.Fatalf("key %q: want 64 hex digits", base)
	}
	same := []string{
		DebootstrapKey("bookworm", "amd64", "minbase", "http://deb.debian.org/debian/", []string{"openbox", "xterm"}),
		DebootstrapKey("bookworm", "amd64", "minbase", "http://deb.debian.org/debian", []string{"openbox", "xterm", "openbox"}),
	}
	for i, k := range same {
		if k != base {
			t.Errorf("same inputs %d (order, duplicates, trailing slash): key %s, want %s", i, k, base)
		}
	}
	differ := map[string]string{
		"suite":    DebootstrapKey("trixie", "amd64", "minbase", "http://deb.debian.org/debian", []string{"xterm", "openbox"}),
		"arch":     DebootstrapKey("bookworm", "arm64", "minbase", "http://deb.debian.org/debian", []string{"xterm", "openbox"}),
		"variant":  DebootstrapKey("bookworm", "amd64", "buildd", "http://deb.debian.org/debian", []string{"xterm", "openbox"}),
		"mirror":   DebootstrapKey("bookworm", "amd64", "minbase", "http://m.example/debian", []string{"xterm", "openbox"}),
		"packages": DebootstrapKey("bookworm", "amd64", "minbase", "http://deb.debian.org/debian", []string{"xterm"}),
		"joined":   DebootstrapKey("bookworm", "amd64", "minbase", "http://deb.debian.org/debian", []string{"xterm,openbox"}),
	}
	seen := map[string]string{base: "base"}
	for what, k := range differ {
		if other, dup := seen[k]; dup {
			t.Errorf("changing %s gives the key of %s", what, other)
		}
		seen[k] = what
	}

	img := ImageKey(base, strings.Repeat("a", 64), "xz")
	for what, k := range map[string]string{
		"debootstrap": ImageKey(differ["suite"], strings.Repeat("a", 64), "xz"),
		"binary":      ImageKey(base, strings.Repeat("b", 64), "xz"),
		"compression": ImageKey(base, strings.Repeat("a", 64), "zstd"),
	} {
		if k == img {
			t.Errorf("changing %s keeps the image key", what)
		}
	}
}

func TestVerifiedTarball(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "debootstrap-x.tgz")
	if ok, err := verifiedTarball(p); ok || err != nil {
		t.Fatalf("absent: %v %v", ok, err)
	}
	if err := os.WriteFile(p, []byte("packages"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := verifiedTarball(p); ok || err == nil {
		t.Fatalf("no sidecar (interrupted): %v %v", ok, err)
	}
	sum, _, _ := hashFile(p)
	if err := writeAtomic(p+".sha256", []byte(sum+"  debootstrap-x.tgz\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := verifiedTarball(p); !ok || err != nil {
		t.Fatalf("complete: %v %v", ok, err)
	}
	if err := os.WriteFile(p, []byte("packageZ"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ok, err := verifiedTarball(p); ok || err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("corrupt: %v %v", ok, err)
	}
}

func TestCachedImageRejectsCorruptEntries(t *testing.T) {
	c := cache{dir: t.TempDir()}
	key := strings.Repeat("c", 64)
	file := c.image(key, ".tar.xz")
	if err := os.WriteFile(file, []byte("image"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, size, _ := hashFile(file)
	r := record{Key: key, File: filepath.Base(file), SHA256: sum, Size: size, Serial: "20250101_0000"}
	if err := writeRecord(c.record(key), r); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.cachedImage(key); !ok || got.Serial != r.Serial {
		t.Fatalf("intact entry: %v %v", got, ok)
	}
	if err := os.WriteFile(file, []byte("imagf"), 0o644); err != nil { // same size, other bytes
		t.Fatal(err)
	}
	if _, ok := c.cachedImage(key); ok {
		t.Fatal("a cached image whose bytes changed was used")
	}
	for _, p := range []string{file, c.record(key)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s of the corrupt entry is still there", p)
		}
	}
	// A record whose file is a path outside the cache is not followed.
	r.File = "../../etc/passwd"
	if err := writeRecord(c.record(key), r); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.cachedImage(key); ok {
		t.Fatal("a record naming a path was used")
	}
}

func TestSweepRemovesDeadBuildsOnly(t *testing.T) {
	c := cache{dir: t.TempDir()}
	if err := c.init(); err != nil {
		t.Fatal(err)
	}
	live, err := c.newBuildDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer live.remove()
	dead, err := c.newBuildDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dead.unlock() // its process died: the flock is gone, the directory is not
	if errs := c.sweep(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if _, err := os.Stat(dead.path); !os.IsNotExist(err) {
		t.Errorf("dead build directory %s survived the sweep", dead.path)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("live build directory was swept: %v", err)
	}
}

func TestReusable(t *testing.T) {
	r := &record{Serial: "20250101_0000"}
	for serial, want := range map[string]bool{"": true, "20250101_0000": true, "20250101_0001": false} {
		if got := reusable(r, serial); got != want {
			t.Errorf("reusable(serial %q) = %v, want %v", serial, got, want)
		}
	}
}

func TestOutputPath(t *testing.T) {
	dir := t.TempDir()
	wd, _ := os.Getwd()
	for _, c := range []struct{ output, want string }{
		{"", filepath.Join(wd, "img.tar.xz")},
		{dir, filepath.Join(dir, "img.tar.xz")},
		{filepath.Join(dir, "mine.tar.xz"), filepath.Join(dir, "mine.tar.xz")},
	} {
		if got, err := outputPath(c.output, "img.tar.xz"); err != nil || got != c.want {
			t.Errorf("outputPath(%q) = %q %v, want %q", c.output, got, err, c.want)
		}
	}
}

// TestLockOneBuildPerKey: a second holder of a key's lock waits (and is told so) until the first lets
// go, and gives up when its context ends.
func TestLockOneBuildPerKey(t *testing.T) {
	c := cache{dir: t.TempDir()}
	if err := c.init(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	unlock, err := c.lock(ctx, "image-k", nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	waited := false
	if _, err := c.lock(short, "image-k", func() { waited = true }); !errors.Is(err, context.DeadlineExceeded) || !waited {
		t.Fatalf("second lock while held: err %v, told to wait %v", err, waited)
	}
	got := make(chan error, 1)
	go func() {
		u, err := c.lock(ctx, "image-k", nil)
		if err == nil {
			u()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second lock taken while the first is held: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	unlock()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second lock not taken after the first was released")
	}
	if u, err := c.lock(ctx, "image-other", nil); err != nil {
		t.Fatalf("another key: %v", err)
	} else {
		u()
	}
}
