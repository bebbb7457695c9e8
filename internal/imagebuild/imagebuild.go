// Package imagebuild builds deskhub's desktop image for LXD and Incus: a Debian rootfs made with
// debootstrap (minbase, the desktop's packages without their recommendations) plus the deskhub binary,
// /sbin/init = `deskhub agent init`, and the desktop user, packed as a unified image tarball
// (metadata.yaml, templates/, rootfs/) that `lxc image import FILE` and simplestreams' ftype
// lxd_combined.tar.gz take.
//
// A build has six steps; only the first ever downloads:
//
//	A [1/6] debootstrap --make-tarball: the packages, cached under their key (suite, arch, variant,
//	        mirror, package list); DownloadOnly stops here, Offline refuses to download
//	B [2/6] debootstrap --unpack-tarball: the offline install into a temporary rootfs, in its own mount
//	        and network namespace when the host allows it
//	  [3/6] configuring: deskhub, /sbin/init, the desktop user, hostname and hosts templates
//	  [4/6] trimming: apt caches and lists, documentation but copyrights, manuals, translations, logs
//	  [5/6] compressing: tar | xz -T0 (or gzip, zstd) into <output>.tmp-*
//	  [6/6] caching: the image is kept under its key (debootstrap key, deskhub binary, compression), so
//	        a rebuild with nothing changed reuses it (with its serial) instead of repacking
//
// Failure or cancellation leaves no half image: children are killed (their whole process group),
// what debootstrap mounted below the temporary directory is unmounted before it is removed (a tree
// with a mount left below it is never removed), and the output appears only by a rename at the end.
package imagebuild

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/buildinfo"
)

// recipeVersion names how Build makes an image from the installed rootfs; it is part of the image
// cache key. Change it when configure, trim, the metadata or the packing change.
const recipeVersion = "1"

// Defaults.
const (
	DefaultSuite    = "bookworm"
	DefaultVariant  = "minbase"
	DefaultMirror   = "http://deb.debian.org/debian"
	DefaultCacheDir = "/var/cache/deskhub/images"
)

// DefaultPackages are what a deskhub desktop runs, nothing more: the X server (Xvnc), the window
// manager (openbox), the default application (xterm), the desktop's audio (pulseaudio, and pactl from
// pulseaudio-utils, which the agent runs), one font, and the freedesktop MIME database the agent's file
// API reads. Dependencies come along; recommendations do not.
var DefaultPackages = []string{
	"tigervnc-standalone-server", "openbox", "xterm", "pulseaudio", "pulseaudio-utils",
	"fonts-dejavu-core", "shared-mime-info",
}

// Options of a build. Zero values take the defaults.
type Options struct {
	Suite         string   // Debian suite (bookworm)
	Arch          string   // Debian architecture (the host's)
	Variant       string   // debootstrap variant (minbase)
	Packages      []string // nil: DefaultPackages
	ExtraPackages []string
	Mirror        string // "": the host's apt sources (DetectMirror)
	Output        string // "": deskhub-<suite>-<arch>-<serial><ext> in the working directory
	Compression   string // xz (default), gzip, zstd
	CacheDir      string // DefaultCacheDir
	Binary        string // the deskhub binary to put in the image ("": this executable)
	Serial        string // "": the build time, UTC YYYYMMDD_HHMM
	DownloadOnly  bool   // only fill the cache with the debootstrap tarball (step A)
	Offline       bool   // never download: fail when the debootstrap tarball is not cached
	Progress      func(Event)
	Now           func() time.Time
}

// Report says what a build did.
type Report struct {
	Output        string // the image file ("" for DownloadOnly)
	Suite, Arch   string // Debian's names
	Cached        bool   // the cached image was reused: nothing was built or packed
	Tarball       string // the debootstrap tarball
	TarballCached bool   // step A was skipped: the tarball was in the cache
	Isolated      bool   // step B ran in its own mount and network namespaces
	Serial        string
	CreationDate  int64
	SHA256        string // of the image file (= LXD's fingerprint of a unified image)
	Size          int64  // of the image file
	Uncompressed  int64  // of the tar stream
	Freed         int64  // bytes trimming removed
	Version       string // of the deskhub binary in the image
	Packages      []string
	Key           string // the image's cache key
	Mirror        string
	Steps         []Event // the finished steps
	Elapsed       time.Duration
	Log           string // debootstrap's log of step B (of step A for DownloadOnly)
}

// ErrNotCached is returned with Offline when the debootstrap tarball is not in the cache.
var ErrNotCached = errors.New("the debootstrap tarball is not in the cache")

// normalize fills in defaults and checks the options.
func (o *Options) normalize() error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Suite == "" {
		o.Suite = DefaultSuite
	}
	if o.Arch == "" {
		o.Arch = DebianArch(runtime.GOARCH)
	}
	if _, ok := lxdArch[o.Arch]; !ok {
		return fmt.Errorf("unknown architecture %q (Debian names: amd64, arm64, …)", o.Arch)
	}
	if o.Variant == "" {
		o.Variant = DefaultVariant
	}
	if o.Packages == nil {
		o.Packages = DefaultPackages
	}
	var pkgs []string
	for _, p := range append(slices.Clone(o.Packages), o.ExtraPackages...) {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !validPackage(p) {
			return fmt.Errorf("bad package name %q", p)
		}
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	o.Packages, o.ExtraPackages = slices.Compact(pkgs), nil
	for _, s := range []string{o.Suite, o.Variant} {
		if !validPackage(s) {
			return fmt.Errorf("bad suite or variant %q", s)
		}
	}
	if o.Mirror == "" {
		o.Mirror = DetectMirror("/", o.Suite)
	}
	o.Mirror = strings.TrimSuffix(o.Mirror, "/")
	if o.Compression == "" {
		o.Compression = DefaultCompression
	}
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	abs, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return err
	}
	o.CacheDir = abs
	if o.Serial != "" && !validSerial(o.Serial) {
		return fmt.Errorf("bad serial %q (letters, digits, _ . : -)", o.Serial)
	}
	if o.DownloadOnly {
		return nil
	}
	if err := haveCompressor(o.Compression); err != nil {
		return err
	}
	if o.Binary == "" {
		if o.Binary, err = os.Executable(); err != nil {
			return err
		}
	}
	return nil
}

func validPackage(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("+-.:", c)) {
			return false
		}
	}
	return s != "" && s[0] != '-'
}

func validSerial(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_.:-", c)) {
			return false
		}
	}
	return s != ""
}

// checkBinary checks that path is a static ELF executable for arch (the image has the rootfs's libc,
// but deskhub is built CGO_ENABLED=0 and must not depend on it).
func checkBinary(path, arch string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("deskhub binary %s: %w", path, err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM,
		"armel": elf.EM_ARM, "i386": elf.EM_386, "ppc64el": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV}[arch]
	if f.Machine != want {
		return fmt.Errorf("deskhub binary %s is for %s, the image is %s (build it with GOARCH for %s)", path, f.Machine, arch, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("deskhub binary %s is dynamically linked: build it with CGO_ENABLED=0 (make build)", path)
		}
	}
	return nil
}

// binaryVersion is the version of the deskhub binary at path: what its `deskhub version --json` says
// when it runs here (same architecture), else what its Go build information says (the -X values of
// -ldflags, which the Go toolchain records unless it builds with -trimpath, as make build does). ""
// when neither knows.
func binaryVersion(ctx context.Context, path, arch string) string {
	if arch == DebianArch(runtime.GOARCH) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, path, "version", "--json")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if out, err := cmd.Output(); err == nil {
			var info buildinfo.Info
			if json.Unmarshal(out, &info) == nil && info.Version != "" {
				return info.Version
			}
		}
	}
	if info, err := buildinfo.FromFile(path); err == nil {
		return info.Version
	}
	return ""
}

// builder is one build's state.
type builder struct {
	o      Options
	c      cache
	rep    *Report
	dkey   string
	start  time.Time
	step   int
	steps  int
	stepAt time.Time
}

func (b *builder) emit(e Event) {
	if b.o.Progress != nil {
		b.o.Progress(e)
	}
}

// begin starts step n.
func (b *builder) begin(name string) Event {
	b.step++
	b.stepAt = time.Now()
	e := Event{Step: b.step, Steps: b.steps, Name: name}
	b.emit(e)
	return e
}

// end finishes the step of e.
func (b *builder) end(e Event) {
	e.Done = true
	e.Elapsed = time.Since(b.stepAt)
	b.rep.Steps = append(b.rep.Steps, e)
	b.emit(e)
}

// Build builds (or takes from the cache) the image the options describe.
func Build(ctx context.Context, o Options) (*Report, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	b := &builder{o: o, c: cache{dir: o.CacheDir}, start: time.Now(), steps: 6,
		rep: &Report{Suite: o.Suite, Arch: o.Arch, Packages: o.Packages, Mirror: o.Mirror}}
	if err := b.c.init(); err != nil {
		return nil, fmt.Errorf("cache directory: %w", err)
	}
	if errs := b.c.sweep(); len(errs) > 0 {
		return nil, fmt.Errorf("removing what a dead build left in %s: %w", o.CacheDir, errors.Join(errs...))
	}
	dkey := DebootstrapKey(o.Suite, o.Arch, o.Variant, o.Mirror, o.Packages)
	b.dkey = dkey
	b.rep.Tarball = b.c.tarball(dkey)
	if o.DownloadOnly {
		b.steps = 1
		err := b.tarball(ctx, dkey)
		b.rep.Elapsed = time.Since(b.start)
		return b.rep, err
	}

	if err := checkBinary(o.Binary, o.Arch); err != nil {
		return nil, err
	}
	binSum, _, err := hashFile(o.Binary)
	if err != nil {
		return nil, err
	}
	b.rep.Version = binaryVersion(ctx, o.Binary, o.Arch)
	key := ImageKey(dkey, binSum, o.Compression)
	b.rep.Key = key
	unlock, err := b.c.lock(ctx, "image-"+short(key), func() {
		b.emit(Event{Name: "waiting for another build of the same image", Step: 0, Steps: b.steps})
	})
	if err != nil {
		return nil, err
	}
	defer unlock()

	if r, ok := b.c.cachedImage(key); ok && reusable(r, o.Serial) {
		b.steps = 1
		e := b.begin("reusing the cached image (serial " + r.Serial + ", not repacked)")
		if err := b.place(filepath.Join(b.c.dir, r.File), r.Name); err != nil {
			return nil, err
		}
		e.In, e.Out = r.Uncompressed, r.Size
		b.end(e)
		b.rep.Cached = true
		b.rep.Serial, b.rep.CreationDate = r.Serial, r.CreationDate
		b.rep.SHA256, b.rep.Size, b.rep.Uncompressed = r.SHA256, r.Size, r.Uncompressed
		b.rep.Log = b.c.log("image-" + short(key))
		b.rep.Elapsed = time.Since(b.start)
		return b.rep, nil
	}

	if err := b.tarball(ctx, dkey); err != nil {
		return nil, err
	}
	if err := b.image(ctx, key); err != nil {
		return nil, err
	}
	b.rep.Elapsed = time.Since(b.start)
	return b.rep, nil
}

// canDebootstrap checks that debootstrap can run: installed, and run as root (it chroots, mounts and
// makes device nodes). A build served from the cache needs neither.
func canDebootstrap() error {
	if _, err := exec.LookPath("debootstrap"); err != nil {
		return errors.New("debootstrap is not installed (Debian package debootstrap; scripts/deps.sh)")
	}
	if os.Geteuid() != 0 {
		return errors.New("building the image needs root (debootstrap chroots and mounts); only a build served from the cache does not")
	}
	return nil
}

// reusable tells whether a cached image serves a build asking for serial ("": any). A cached image
// keeps the serial it was built with: it is in its metadata.yaml, and changing it means repacking.
func reusable(r *record, serial string) bool { return serial == "" || serial == r.Serial }

// tarball is step A: make sure the debootstrap tarball of key is in the cache.
func (b *builder) tarball(ctx context.Context, key string) error {
	o := b.o
	path := b.c.tarball(key)
	b.rep.Log = b.c.log("debootstrap-" + short(key))
	e := b.begin("debootstrap tarball")
	unlock, err := b.c.lock(ctx, "debootstrap-"+short(key), nil)
	if err != nil {
		return err
	}
	defer unlock()
	ok, verr := verifiedTarball(path)
	if ok {
		b.rep.TarballCached = true
		if info, err := os.Stat(path); err == nil {
			e.In = info.Size()
		}
		e.Note = "cached"
		b.end(e)
		return nil
	}
	if o.Offline {
		why := ErrNotCached
		if verr != nil {
			why = fmt.Errorf("%w: %v", ErrNotCached, verr)
		}
		return fmt.Errorf("%w: %s (offline); fill it with: deskhub image build --download-only --cache-dir %s --suite %s --arch %s --variant %s --mirror %s --packages %s",
			why, path, o.CacheDir, o.Suite, o.Arch, o.Variant, o.Mirror, strings.Join(o.Packages, ","))
	}
	// A corrupt or partial entry is never used: it is downloaded again.
	_ = os.Remove(path + ".sha256")
	_ = os.Remove(path)
	if err := canDebootstrap(); err != nil {
		return err
	}
	e.Name = "downloading packages (debootstrap --make-tarball)"
	b.emit(e)
	dir, err := b.c.newBuildDir(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = dir.remove() }()
	tmp := filepath.Join(dir.path, "debootstrap.tgz")
	argv := []string{"debootstrap", "--make-tarball=" + tmp, "--variant=" + o.Variant, "--arch=" + o.Arch,
		"--include=" + strings.Join(o.Packages, ","), o.Suite, filepath.Join(dir.path, "target"), o.Mirror}
	if err := runLogged(ctx, b.rep.Log, argv); err != nil {
		return err
	}
	sum, size, err := hashFile(tmp)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if err := writeAtomic(path+".sha256", []byte(sum+"  "+filepath.Base(path)+"\n"), 0o644); err != nil {
		return err
	}
	e.In = size
	e.Note = "downloaded"
	b.end(e)
	return dir.remove()
}

// image is steps B to 6: install offline, configure, trim, pack, cache, place the output.
func (b *builder) image(ctx context.Context, key string) (err error) {
	o := b.o
	now := o.Now().UTC()
	serial := o.Serial
	if serial == "" {
		serial = now.Format("20060102_1504")
	}
	b.rep.Serial, b.rep.CreationDate = serial, now.Unix()
	name := fmt.Sprintf("deskhub-%s-%s-%s%s", o.Suite, o.Arch, serial, Compressions[o.Compression].Ext)

	dir, err := b.c.newBuildDir(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := dir.remove(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	root := filepath.Join(dir.path, "rootfs")

	// B: the offline install.
	if err := canDebootstrap(); err != nil {
		return err
	}
	e := b.begin("installing packages (offline)")
	b.rep.Log = b.c.log("image-" + short(key))
	_ = os.Remove(b.rep.Log)
	argv := []string{"debootstrap", "--unpack-tarball=" + b.rep.Tarball, "--variant=" + o.Variant,
		"--arch=" + o.Arch, "--include=" + strings.Join(o.Packages, ","), o.Suite, root, o.Mirror}
	if iso := isolation(); iso != nil {
		argv = append(slices.Clone(iso), argv...)
		b.rep.Isolated = true
	}
	if err := runLogged(ctx, b.rep.Log, argv); err != nil {
		return err
	}
	if err := unmountUnder(root); err != nil {
		return err
	}
	e.In = du(root)
	b.end(e)

	e = b.begin("configuring the image")
	if err := configure(root, o.Binary, now); err != nil {
		return err
	}
	md := Metadata{Arch: o.Arch, CreationDate: now.Unix(), Suite: o.Suite, Serial: serial, Version: b.rep.Version}
	if err := writeMetadata(dir.path, md); err != nil {
		return err
	}
	b.end(e)

	e = b.begin("trimming")
	if b.rep.Freed, err = trim(root); err != nil {
		return fmt.Errorf("trim: %w", err)
	}
	e.In = du(root)
	e.Note = "(" + MiB(b.rep.Freed) + " removed)"
	b.end(e)
	if err := ctx.Err(); err != nil {
		return err
	}

	// Compress into a temporary file beside the output, renamed at the very end.
	out, err := outputPath(o.Output, name)
	if err != nil {
		return err
	}
	e = b.begin("compressing (" + o.Compression + ")")
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	tmpOut := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmpOut)
		}
	}()
	var in, outN counter
	stop := make(chan struct{})
	ticked := make(chan struct{})
	go func() {
		defer close(ticked)
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				u := e
				u.In, u.Out, u.Elapsed = in.n.Load(), outN.n.Load(), time.Since(b.stepAt)
				b.emit(u)
			}
		}
	}()
	res, err := pack(ctx, dir.path, o.Compression, f, &in, &outN)
	close(stop)
	<-ticked
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(tmpOut, 0o644); err != nil {
		return err
	}
	b.rep.SHA256, b.rep.Size, b.rep.Uncompressed = res.SHA256, res.Size, res.Uncompressed
	e.In, e.Out = res.Uncompressed, res.Size
	b.end(e)

	// Cache it: a link to (or copy of) the packed file renamed into the cache, then its record.
	e = b.begin("caching")
	ext := Compressions[o.Compression].Ext
	cached := b.c.image(key, ext)
	staged := filepath.Join(dir.path, "image"+ext)
	if err := linkOrCopy(tmpOut, staged); err != nil {
		return err
	}
	_ = os.Remove(b.c.record(key))
	if err := os.Rename(staged, cached); err != nil {
		return err
	}
	r := record{Key: key, Debootstrap: b.dkey, Compression: o.Compression, File: filepath.Base(cached), Name: name, SHA256: res.SHA256, Size: res.Size,
		Uncompressed: res.Uncompressed, Serial: serial, CreationDate: now.Unix(), Version: b.rep.Version,
		Packages: o.Packages, Built: time.Now().UTC().Format(time.RFC3339), BuildSeconds: time.Since(b.start).Seconds()}
	if err := writeRecord(b.c.record(key), r); err != nil {
		return err
	}
	b.c.prune(r)
	if err := os.Rename(tmpOut, out); err != nil {
		return err
	}
	b.rep.Output = out
	b.end(e)
	return nil
}

// outputPath is the absolute path of the image file: output, or name in the directory output names
// (or in the working directory when output is "").
func outputPath(output, name string) (string, error) {
	if output == "" {
		output = name
	} else if info, err := os.Stat(output); err == nil && info.IsDir() {
		output = filepath.Join(output, name)
	}
	return filepath.Abs(output)
}

// place links (or copies) the cached image file to the output: Options.Output, or name in the working
// directory. The output appears by a rename.
func (b *builder) place(cached, name string) error {
	out, err := outputPath(b.o.Output, name)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(out), filepath.Base(out)+".tmp-"+randomHex(4))
	if err := linkOrCopy(cached, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	b.rep.Output = out
	return nil
}
