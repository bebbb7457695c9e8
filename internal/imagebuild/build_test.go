package imagebuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

// The build tests run debootstrap for real, offline: the packages come from the debootstrap tarball of
// the default package list in the shared cache, which scripts/image-cache.sh (run by scripts/test.sh
// while it installs dependencies) downloads. Without it they fail, saying how to get it; they never
// download. Each build runs in a throwaway cache directory that links the shared tarball in.

const testVersion = "imagetest-1.2.3"

// requireRoot skips a test that needs root when not root, unless the run requires it (CI, make test):
// then it fails.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("DESKHUB_REQUIRE_LXD") == "1" || os.Getenv("CI") != "" {
		t.Fatal("this test needs root (debootstrap, mounts, LXD): run it as root")
	}
	t.Skip("needs root (debootstrap, mounts)")
}

// sharedCacheDir is where scripts/image-cache.sh puts the packages.
func sharedCacheDir() string {
	if d := os.Getenv("DESKHUB_IMAGE_CACHE_DIR"); d != "" {
		return d
	}
	return DefaultCacheDir
}

// defaultOptions are the options the tests build with: the defaults (the default package list), but
// offline, into cacheDir, and packed with gzip: xz -T0 takes minutes of this machine's two cores where
// gzip takes half a minute, and the packing pipeline is the same (TestPackCompressions runs each
// compressor on a small tree).
func defaultOptions(cacheDir string) Options {
	return Options{CacheDir: cacheDir, Offline: true, Compression: "gzip"}
}

// sharedTarball returns the shared debootstrap tarball of the default options, failing the test when
// it is not there.
func sharedTarball(t *testing.T) string {
	t.Helper()
	o := defaultOptions(sharedCacheDir())
	o.DownloadOnly = true
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	p := cache{dir: o.CacheDir}.tarball(DebootstrapKey(o.Suite, o.Arch, o.Variant, o.Mirror, o.Packages))
	ok, err := verifiedTarball(p)
	if !ok {
		t.Fatalf("the debootstrap tarball of the default package list is not in the cache (%s; %v).\n"+
			"The image build tests never download. Fill the cache (this downloads the Debian packages once) with:\n"+
			"    scripts/image-cache.sh\n"+
			"or: make build && bin/deskhub image build --download-only --cache-dir %s", p, err, o.CacheDir)
	}
	return p
}

// testCache makes a throwaway cache directory holding (hard links to) the shared tarball.
func testCache(t *testing.T) string {
	t.Helper()
	src := sharedTarball(t)
	dir := t.TempDir()
	for _, p := range []string{src, src + ".sha256"} {
		if err := linkOrCopy(p, filepath.Join(dir, filepath.Base(p))); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// testBinary builds a static deskhub (CGO_ENABLED=0, as make build) with version testVersion, once.
func testBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "deskhub-imagetest-bin")
		if err != nil {
			binErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		binPath = filepath.Join(dir, "deskhub")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
			"-s -w -X github.com/deskhub/deskhub/internal/buildinfo.version="+testVersion, "-o", binPath, "./cmd/deskhub")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		if err := removeTree(built.dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// logProgress sends build events to the test log.
func logProgress(t *testing.T) func(Event) {
	return func(e Event) {
		if e.Done {
			t.Logf("%s", e)
		}
	}
}

// built is the image of the cold build the tests share.
var built struct {
	once  sync.Once
	rep   *Report
	opts  Options
	err   error
	start time.Time
	dir   string
}

// coldBuild builds the default image once for the tests, with no image cached (only the packages).
func coldBuild(t *testing.T) (*Report, Options) {
	t.Helper()
	requireRoot(t)
	cacheDir := testCache(t) // before the Once: a missing tarball fails every test that needs it
	bin := testBinary(t)
	built.once.Do(func() {
		// Outlives the test that happened to run the build: the others use it too (TestMain removes it).
		dir, err := os.MkdirTemp("", "deskhub-imagetest-")
		if err != nil {
			built.err = err
			return
		}
		built.dir = dir
		for _, name := range []string{"cache", "out"} {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				built.err = err
				return
			}
		}
		for _, e := range mustReadDir(cacheDir) {
			if err := linkOrCopy(filepath.Join(cacheDir, e.Name()), filepath.Join(dir, "cache", e.Name())); err != nil {
				built.err = err
				return
			}
		}
		o := defaultOptions(filepath.Join(dir, "cache"))
		o.Binary = bin
		o.Output = filepath.Join(dir, "out", "desktop.tar.gz")
		o.Progress = logProgress(t)
		built.opts = o
		built.start = time.Now()
		built.rep, built.err = Build(context.Background(), o)
	})
	if built.err != nil {
		t.Fatalf("cold build: %v", built.err)
	}
	return built.rep, built.opts
}

func mustReadDir(dir string) []os.DirEntry {
	e, _ := os.ReadDir(dir)
	return e
}

// tarEntry is an entry of the image tarball, with the content of regular files up to 1 MiB.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
	sum  string // SHA-256 of the whole content (regular files)
}

// readImage decompresses (with the compression's binary, by the file's extension) and reads the image
// tarball.
func readImage(t *testing.T, file string) (map[string]*tarEntry, int64) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cmd *exec.Cmd
	switch {
	case strings.HasSuffix(file, ".xz"):
		cmd = exec.Command("xz", "-dc")
	case strings.HasSuffix(file, ".gz"):
		cmd = exec.Command("gzip", "-dc")
	case strings.HasSuffix(file, ".zst"):
		cmd = exec.Command("zstd", "-dc")
	default:
		t.Fatalf("%s: unknown compression", file)
	}
	cmd.Stdin = f
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var n counter
	stream := io.TeeReader(out, &n)
	tr := tar.NewReader(stream)
	entries := map[string]*tarEntry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		e := &tarEntry{hdr: h}
		if h.Typeflag == tar.TypeReg {
			hs := sha256.New()
			var head bytes.Buffer
			if _, err := io.Copy(io.MultiWriter(hs, &limitWriter{w: &head, n: 1 << 20}), tr); err != nil {
				t.Fatal(err)
			}
			e.data, e.sum = head.Bytes(), hex.EncodeToString(hs.Sum(nil))
		}
		entries[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = e
	}
	_, _ = io.Copy(io.Discard, stream) // the tar stream's padding after the end marker
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s %s: %v", cmd.Args[0], file, err)
	}
	return entries, n.n.Load()
}

type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(l.n, len(p))
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// resolve follows symbolic links of an image path inside the rootfs of entries (as the instance will
// see them) and returns the entry it ends at.
func resolve(entries map[string]*tarEntry, p string) (*tarEntry, string) {
	cur := ""
	parts := strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/")
	for depth := 0; len(parts) > 0 && depth < 64; depth++ {
		next := path.Join(cur, parts[0])
		e, ok := entries["rootfs/"+strings.TrimPrefix(next, "/")]
		if !ok {
			return nil, next
		}
		if e.hdr.Typeflag == tar.TypeSymlink {
			target := e.hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join("/", cur, target)
			}
			parts = append(strings.Split(strings.Trim(path.Clean(target), "/"), "/"), parts[1:]...)
			cur = ""
			continue
		}
		if e.hdr.Typeflag == tar.TypeLink { // hard link: the entry it names
			if l, ok := entries[strings.TrimPrefix(e.hdr.Linkname, "./")]; ok {
				e = l
			}
		}
		cur = "/" + strings.TrimPrefix(next, "/")
		parts = parts[1:]
		if len(parts) == 0 {
			return e, cur
		}
	}
	return nil, cur
}

// TestBuildImage (a): the cold offline build of the default image, opened and checked in Go.
func TestBuildImage(t *testing.T) {
	rep, o := coldBuild(t)
	t.Logf("cold build: %s, %s compressed, %s uncompressed, %s trimmed, isolated=%v", rep.Elapsed.Round(time.Second),
		MiB(rep.Size), MiB(rep.Uncompressed), MiB(rep.Freed), rep.Isolated)
	if rep.Cached || !rep.TarballCached {
		t.Errorf("cold build: Cached=%v TarballCached=%v, want false, true", rep.Cached, rep.TarballCached)
	}
	if rep.Output != o.Output {
		t.Errorf("output %s, want %s", rep.Output, o.Output)
	}
	if rep.Version != testVersion {
		t.Errorf("deskhub version %q, want %q", rep.Version, testVersion)
	}
	sum, size, err := hashFile(rep.Output)
	if err != nil || sum != rep.SHA256 || size != rep.Size {
		t.Fatalf("output %s: sha256 %s size %d (%v); report says %s %d", rep.Output, sum, size, err, rep.SHA256, rep.Size)
	}
	checkNoLeftovers(t, o.CacheDir, rep.Output)

	entries, tarBytes := readImage(t, rep.Output)
	if tarBytes != rep.Uncompressed {
		t.Errorf("tar stream %d bytes, report says %d", tarBytes, rep.Uncompressed)
	}
	for name := range entries {
		top, _, _ := strings.Cut(name, "/")
		if top != "metadata.yaml" && top != "templates" && top != "rootfs" {
			t.Errorf("unexpected entry %s at the top of the image", name)
		}
	}

	// metadata.yaml
	md, ok := entries["metadata.yaml"]
	if !ok {
		t.Fatal("no metadata.yaml")
	}
	var meta struct {
		Architecture string            `yaml:"architecture"`
		CreationDate int64             `yaml:"creation_date"`
		Properties   map[string]string `yaml:"properties"`
		Templates    map[string]struct {
			When     []string `yaml:"when"`
			Template string   `yaml:"template"`
		} `yaml:"templates"`
	}
	if err := yaml.Unmarshal(md.data, &meta); err != nil {
		t.Fatalf("metadata.yaml: %v\n%s", err, md.data)
	}
	arch := DebianArch(runtime.GOARCH)
	if meta.Architecture != lxdArch[arch] {
		t.Errorf("architecture %q, want %q", meta.Architecture, lxdArch[arch])
	}
	if meta.CreationDate < built.start.Unix()-1 || meta.CreationDate > time.Now().Unix() || meta.CreationDate != rep.CreationDate {
		t.Errorf("creation_date %d, build started at %d, report says %d", meta.CreationDate, built.start.Unix(), rep.CreationDate)
	}
	wantProps := map[string]string{
		"os": "debian", "release": DefaultSuite, "architecture": arch, "variant": "desktop", "serial": rep.Serial,
		"description":     fmt.Sprintf("Debian %s %s deskhub desktop (%s)", DefaultSuite, arch, rep.Serial),
		"deskhub.version": testVersion,
	}
	for k, v := range wantProps {
		if meta.Properties[k] != v {
			t.Errorf("properties.%s = %q, want %q", k, meta.Properties[k], v)
		}
	}
	if len(rep.Serial) != len("20060102_1504") {
		t.Errorf("serial %q is not YYYYMMDD_HHMM", rep.Serial)
	}
	for _, f := range []string{"/etc/hostname", "/etc/hosts"} {
		tpl, ok := meta.Templates[f]
		if !ok || strings.Join(tpl.When, ",") != "create,copy" {
			t.Errorf("templates[%s] = %+v, want when [create, copy]", f, tpl)
			continue
		}
		e, ok := entries["templates/"+tpl.Template]
		if !ok || !bytes.Contains(e.data, []byte("{{ instance.name }}")) {
			t.Errorf("templates/%s missing or without {{ instance.name }}", tpl.Template)
		}
	}

	// What the desktop runs.
	for _, p := range []string{"/usr/bin/Xvnc", "/usr/bin/openbox", "/usr/bin/xterm", "/usr/bin/pulseaudio",
		"/usr/bin/pactl", "/usr/share/mime/globs2", "/bin/sh"} {
		if e, _ := resolve(entries, p); e == nil || e.hdr.Typeflag != tar.TypeReg {
			t.Errorf("%s is not in the image (or not a file)", p)
		}
	}
	binSum, _, _ := hashFile(o.Binary)
	if e, _ := resolve(entries, "/usr/local/bin/deskhub"); e == nil || e.sum != binSum || e.hdr.Mode&0o111 == 0 {
		t.Errorf("/usr/local/bin/deskhub is not the given binary, executable")
	}
	if e, at := resolve(entries, "/sbin/init"); e == nil || string(e.data) != InitScript || e.hdr.Mode&0o111 == 0 {
		t.Errorf("/sbin/init (%s) is not the init script", at)
	}

	// The desktop user.
	wantLines := map[string]string{
		"/etc/passwd": "desktop:x:1000:1000:deskhub desktop:/home/desktop:/bin/sh",
		"/etc/group":  "desktop:x:1000:",
		"/etc/shadow": "desktop:*:",
	}
	for f, want := range wantLines {
		e, _ := resolve(entries, f)
		if e == nil || !hasLinePrefix(e.data, want) {
			t.Errorf("%s has no line %q", f, want)
		}
	}
	if e, _ := resolve(entries, "/home/desktop"); e == nil || e.hdr.Typeflag != tar.TypeDir || e.hdr.Uid != 1000 || e.hdr.Gid != 1000 {
		t.Errorf("/home/desktop is not a directory of 1000:1000")
	}
	if e, _ := resolve(entries, "/etc/hostname"); e == nil || string(e.data) != "localhost\n" {
		t.Errorf("/etc/hostname is not the placeholder (the build host's name leaked?)")
	}

	// Trimmed: nothing of these.
	for name, e := range entries {
		p := strings.TrimPrefix(name, "rootfs")
		bad := ""
		switch {
		case strings.HasPrefix(p, "/usr/share/doc/") && e.hdr.Typeflag != tar.TypeDir && path.Base(p) != "copyright":
			bad = "documentation"
		case strings.HasPrefix(p, "/usr/share/man/"), strings.HasPrefix(p, "/usr/share/info/"):
			bad = "manual"
		case strings.HasPrefix(p, "/var/lib/apt/lists/") && e.hdr.Typeflag == tar.TypeReg && path.Base(p) != "lock":
			bad = "apt list"
		case strings.HasPrefix(p, "/var/cache/apt/") && (strings.HasSuffix(p, ".deb") || strings.HasSuffix(p, ".bin")):
			bad = "apt cache"
		case strings.HasPrefix(p, "/usr/share/locale/") && strings.Count(p, "/") == 4 && e.hdr.Typeflag == tar.TypeDir &&
			!strings.HasPrefix(path.Base(p), "en"):
			bad = "translation"
		case strings.HasPrefix(p, "/dev/"):
			bad = "device (LXD provides /dev)"
		case strings.HasPrefix(p, "/var/log/") && e.hdr.Typeflag == tar.TypeReg && e.hdr.Size > 0:
			bad = "log"
		case p == "/etc/resolv.conf", p == "/etc/network/interfaces":
			bad = "host or network configuration"
		}
		if bad != "" {
			t.Errorf("%s in the image: %s", bad, p)
		}
	}
}

func hasLinePrefix(data []byte, prefix string) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			return true
		}
	}
	return false
}

// TestRebuildIsCached (c): a rebuild with nothing changed reuses the cached image: no repacking, the
// same bytes and serial.
func TestRebuildIsCached(t *testing.T) {
	rep, o := coldBuild(t)
	o.Output = filepath.Join(t.TempDir(), "again.tar.gz")
	o.Progress = logProgress(t)
	again, err := Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Cached {
		t.Fatalf("rebuild with nothing changed was not served from the cache: %+v", again)
	}
	if len(again.Steps) != 1 {
		t.Errorf("cached rebuild ran %d steps, want 1 (no install, no packing): %v", len(again.Steps), again.Steps)
	}
	if again.SHA256 != rep.SHA256 || again.Serial != rep.Serial || again.Size != rep.Size {
		t.Errorf("cached rebuild: sha256 %s serial %s size %d; first build %s %s %d", again.SHA256, again.Serial, again.Size,
			rep.SHA256, rep.Serial, rep.Size)
	}
	sum, _, err := hashFile(again.Output)
	if err != nil || sum != rep.SHA256 {
		t.Errorf("cached output %s: sha256 %s (%v), want %s", again.Output, sum, err, rep.SHA256)
	}
	checkNoLeftovers(t, o.CacheDir, again.Output)

}

// checkNoLeftovers fails the test if the cache directory has a build directory, a temporary file or a
// mount left, or the output's directory a temporary output.
func checkNoLeftovers(t *testing.T, cacheDir, output string) {
	t.Helper()
	if e := mustReadDir(filepath.Join(cacheDir, "tmp")); len(e) > 0 {
		t.Errorf("%s/tmp holds %d entries after the build (first: %s)", cacheDir, len(e), e[0].Name())
	}
	for _, dir := range []string{cacheDir, filepath.Dir(output)} {
		for _, e := range mustReadDir(dir) {
			if strings.Contains(e.Name(), ".tmp-") {
				t.Errorf("temporary file %s left in %s", e.Name(), dir)
			}
		}
	}
	if m, err := MountsUnder(cacheDir); err != nil || len(m) > 0 {
		t.Errorf("mounts left under %s: %v %v", cacheDir, m, err)
	}
	if procs := processesMentioning(cacheDir); len(procs) > 0 {
		t.Errorf("processes of the build still running: %v", procs)
	}
}

// processesMentioning lists the command lines of processes whose arguments mention s.
func processesMentioning(s string) []string {
	var out []string
	dirs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range dirs {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		out = append(out, strings.ReplaceAll(string(bytes.TrimRight(b, "\x00")), "\x00", " "))
	}
	return out
}

// TestCancelDuringInstall (d): cancelling the context while debootstrap installs (step B) kills it
// and leaves no build directory, no temporary output, no mount and no process. Once in the isolated
// namespace (the normal case) and once in the host's, where debootstrap's proc and sys mounts are
// visible and must be unmounted by the build before it removes the tree.
func TestCancelDuringInstall(t *testing.T) {
	requireRoot(t)
	bin := testBinary(t)
	for _, isolated := range []bool{true, false} {
		name := map[bool]string{true: "isolated", false: "host-namespace"}[isolated]
		t.Run(name, func(t *testing.T) {
			if !isolated {
				saved := isolation
				isolation = func() []string { return nil }
				t.Cleanup(func() { isolation = saved })
			} else if isolation() == nil {
				t.Fatal("unshare --mount --net does not work here: the build cannot isolate debootstrap")
			}
			cacheDir := testCache(t)
			out := filepath.Join(t.TempDir(), "cancelled.tar.gz")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			o := defaultOptions(cacheDir)
			o.Binary, o.Output = bin, out
			var once sync.Once
			why := make(chan string, 1)
			o.Progress = func(e Event) {
				if e.Step == 2 && !e.Done {
					once.Do(func() { go cancelWhenInstalling(ctx, cacheDir, !isolated, cancel, why) })
				}
			}
			rep, err := Build(ctx, o)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Build = %+v, %v; want context.Canceled", rep, err)
			}
			select {
			case w := <-why:
				t.Logf("cancelled when %s", w)
			default:
			}
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("output %s exists after a cancelled build", out)
			}
			if recs, _ := filepath.Glob(filepath.Join(cacheDir, "image-*")); len(recs) > 0 {
				t.Errorf("cancelled build cached something: %v", recs)
			}
			checkNoLeftovers(t, cacheDir, out)
		})
	}
}

// cancelWhenInstalling cancels once debootstrap is well into the install: a mount under the cache
// directory is visible (wantMount), or the log says it is unpacking packages — or after a minute.
func cancelWhenInstalling(ctx context.Context, cacheDir string, wantMount bool, cancel func(), why chan<- string) {
	deadline := time.After(time.Minute)
	for {
		if m, _ := MountsUnder(cacheDir); wantMount && len(m) > 0 {
			why <- "mounted: " + strings.Join(m, ", ")
			cancel()
			return
		}
		logs, _ := filepath.Glob(filepath.Join(cacheDir, "logs", "image-*.log"))
		for _, l := range logs {
			if b, _ := os.ReadFile(l); !wantMount && bytes.Contains(b, []byte("I: Unpacking ")) {
				why <- "unpacking packages"
				cancel()
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			why <- "a minute passed (no mount or unpacking seen)"
			cancel()
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestFailedBuildsLeaveNothing (e): builds that fail leave no build directory, output, cache entry or
// mount; offline builds never download.
func TestFailedBuildsLeaveNothing(t *testing.T) {
	requireRoot(t)
	bin := testBinary(t)
	src := sharedTarball(t)

	run := func(t *testing.T, cacheDir string, mutate func(*Options)) error {
		t.Helper()
		out := filepath.Join(t.TempDir(), "failed.tar.gz")
		o := defaultOptions(cacheDir)
		o.Binary, o.Output = bin, out
		if mutate != nil {
			mutate(&o)
		}
		rep, err := Build(context.Background(), o)
		if err == nil {
			t.Fatalf("build succeeded: %+v", rep)
		}
		if _, serr := os.Stat(out); !os.IsNotExist(serr) {
			t.Errorf("output exists after a failed build")
		}
		if recs, _ := filepath.Glob(filepath.Join(cacheDir, "image-*")); len(recs) > 0 {
			t.Errorf("failed build cached something: %v", recs)
		}
		checkNoLeftovers(t, cacheDir, out)
		return err
	}

	t.Run("missing binary", func(t *testing.T) {
		err := run(t, testCache(t), func(o *Options) { o.Binary = "/nonexistent/deskhub" })
		if !strings.Contains(err.Error(), "/nonexistent/deskhub") {
			t.Errorf("error does not name the binary: %v", err)
		}
	})
	t.Run("dynamic binary", func(t *testing.T) {
		err := run(t, testCache(t), func(o *Options) { o.Binary = "/bin/ls" })
		if !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("error: %v", err)
		}
	})
	t.Run("no tarball offline", func(t *testing.T) {
		dir := t.TempDir()
		err := run(t, dir, nil)
		if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "--download-only") {
			t.Errorf("error does not say how to fill the cache: %v", err)
		}
	})
	t.Run("tarball without its checksum", func(t *testing.T) {
		dir := t.TempDir()
		if err := linkOrCopy(src, filepath.Join(dir, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
		err := run(t, dir, nil)
		if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "sha256") {
			t.Errorf("a tarball without its .sha256 (interrupted download) was not refused: %v", err)
		}
	})
	t.Run("corrupt tarball", func(t *testing.T) {
		// Half the tarball, with a checksum that matches it: the cache check passes, debootstrap fails.
		dir := t.TempDir()
		bad := filepath.Join(dir, filepath.Base(src))
		copyPrefix(t, src, bad, 40<<20)
		sum, _, _ := hashFile(bad)
		if err := os.WriteFile(bad+".sha256", []byte(sum+"  x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		err := run(t, dir, nil)
		var se *StepError
		if !errors.As(err, &se) || se.Log == "" || se.Tail == "" || !strings.Contains(err.Error(), se.Log) {
			t.Errorf("error does not carry debootstrap's log and its last lines: %v", err)
		}
		// Truncated again without updating the checksum: refused before debootstrap runs.
		copyPrefix(t, src, bad, 20<<20)
		err = run(t, dir, nil)
		if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("a tarball not matching its checksum was not refused: %v", err)
		}
	})
}

func copyPrefix(t *testing.T, src, dst string, n int64) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	_ = os.Remove(dst)
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(out, in, n); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRemoveTreeUnmounts: removeTree detaches mounts below the tree before removing it, and so never
// deletes through a bind mount (here of a directory standing in for the host's /dev).
func TestRemoveTreeUnmounts(t *testing.T) {
	requireRoot(t)
	hostDev := t.TempDir()
	if err := os.WriteFile(filepath.Join(hostDev, "null"), []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "build")
	for _, d := range []string{"rootfs/dev", "rootfs/proc", "rootfs/tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	mounts := []struct{ src, target, fstype string }{
		{hostDev, "rootfs/dev", ""},
		{"proc", "rootfs/proc", "proc"},
		{"tmpfs", "rootfs/tmp", "tmpfs"},
	}
	for _, m := range mounts {
		flags := uintptr(0)
		if m.fstype == "" {
			flags = syscall.MS_BIND
		}
		if err := syscall.Mount(m.src, filepath.Join(dir, m.target), m.fstype, flags, ""); err != nil {
			t.Fatalf("mount %s: %v", m.target, err)
		}
	}
	t.Cleanup(func() { // if the test fails halfway
		for _, m := range mounts {
			_ = syscall.Unmount(filepath.Join(dir, m.target), syscall.MNT_DETACH)
		}
	})
	if m, _ := MountsUnder(dir); len(m) != 3 {
		t.Fatalf("MountsUnder sees %v, want 3 mounts", m)
	}
	if err := removeTree(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists", dir)
	}
	if b, err := os.ReadFile(filepath.Join(hostDev, "null")); err != nil || string(b) != "precious" {
		t.Fatalf("the bind-mounted directory's file was deleted through the mount: %v", err)
	}
	if m, _ := MountsUnder(filepath.Dir(dir)); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
}
