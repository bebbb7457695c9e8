package imagebuild

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The cache directory (--cache-dir, default /var/cache/deskhub/images):
//
//	debootstrap-<key>.tgz          step A: the packages debootstrap downloaded (--make-tarball)
//	debootstrap-<key>.tgz.sha256   its SHA-256, written after it: no sidecar or a mismatch = not used
//	image-<key>.tar.xz             a finished image (.tar.gz, .tar.zst for the other compressions)
//	image-<key>.json               its record (serial, SHA-256, sizes), written last
//	logs/debootstrap-<key>.log     debootstrap's output of step A
//	logs/image-<key>.log           debootstrap's output of step B (the offline install)
//	locks/<name>.lock              flock: one build per key at a time
//	tmp/build-<random>/            a build in progress: the rootfs, cache files before their rename;
//	                               a build that died (SIGKILL) leaves one, the next build removes it

// DebootstrapKey is the key of the debootstrap tarball: SHA-256 of what decides its content.
func DebootstrapKey(suite, arch, variant, mirror string, packages []string) string {
	pkgs := slices.Clone(packages)
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	h := sha256.New()
	fmt.Fprintf(h, "deskhub debootstrap tarball\nsuite=%s\narch=%s\nvariant=%s\nmirror=%s\npackages=%s\n",
		suite, arch, variant, strings.TrimSuffix(mirror, "/"), strings.Join(pkgs, ","))
	return hex.EncodeToString(h.Sum(nil))
}

// ImageKey is the key of a finished image: the debootstrap key, the deskhub binary, how the image is
// made (recipeVersion) and packed. The serial is not part of it (a cached image keeps its serial).
func ImageKey(debootstrapKey, binarySHA256, compression string) string {
	h := sha256.New()
	fmt.Fprintf(h, "deskhub image\nrecipe=%s\ndebootstrap=%s\nbinary=%s\ncompression=%s\n",
		recipeVersion, debootstrapKey, binarySHA256, compression)
	return hex.EncodeToString(h.Sum(nil))
}

// short is the part of a key used in file names.
func short(key string) string { return key[:16] }

type cache struct{ dir string }

func (c cache) tarball(key string) string {
	return filepath.Join(c.dir, "debootstrap-"+short(key)+".tgz")
}
func (c cache) image(key, ext string) string {
	return filepath.Join(c.dir, "image-"+short(key)+ext)
}
func (c cache) record(key string) string { return filepath.Join(c.dir, "image-"+short(key)+".json") }
func (c cache) log(name string) string   { return filepath.Join(c.dir, "logs", name+".log") }

func (c cache) init() error {
	for _, d := range []string{c.dir, filepath.Join(c.dir, "logs"), filepath.Join(c.dir, "locks"), filepath.Join(c.dir, "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

// lock takes an exclusive flock on locks/<name>.lock, waiting for another build that holds it (and
// saying so through wait) until ctx ends.
func (c cache) lock(ctx context.Context, name string, wait func()) (func(), error) {
	return flock(ctx, filepath.Join(c.dir, "locks", name+".lock"), wait)
}

func flock(ctx context.Context, path string, wait func()) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	for first := true; ; first = false {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if first && wait != nil {
			wait()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// buildDir is a build's temporary directory under tmp/, held by a flock on its .lock file for as long
// as the build runs (so that sweep can tell a live build from a dead one).
type buildDir struct {
	path   string
	unlock func()
}

func (c cache) newBuildDir(ctx context.Context) (*buildDir, error) {
	path, err := os.MkdirTemp(filepath.Join(c.dir, "tmp"), "build-")
	if err != nil {
		return nil, err
	}
	unlock, err := flock(ctx, filepath.Join(path, ".lock"), nil)
	if err != nil {
		_ = os.RemoveAll(path)
		return nil, err
	}
	return &buildDir{path: path, unlock: unlock}, nil
}

// remove unmounts what is mounted below the directory, removes it and releases its lock.
func (b *buildDir) remove() error {
	err := removeTree(b.path)
	b.unlock()
	return err
}

// sweep removes the build directories of builds that died without cleaning up: those whose .lock no
// process holds (or that have none and are older than an hour). It unmounts first, as remove does.
func (c cache) sweep() []error {
	entries, err := os.ReadDir(filepath.Join(c.dir, "tmp"))
	if err != nil {
		return nil
	}
	var errs []error
	for _, e := range entries {
		p := filepath.Join(c.dir, "tmp", e.Name())
		f, err := os.OpenFile(filepath.Join(p, ".lock"), os.O_RDWR, 0)
		if err != nil {
			if info, serr := e.Info(); serr != nil || time.Since(info.ModTime()) < time.Hour {
				continue
			}
		} else {
			err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
			if err != nil {
				f.Close()
				continue // a live build
			}
		}
		if err := removeTree(p); err != nil {
			errs = append(errs, err)
		}
		if f != nil {
			f.Close()
		}
	}
	return errs
}

// hashFile returns the SHA-256 (hex) and size of the file at path.
func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeAtomic writes data to path through a temporary file in the same directory and a rename.
func writeAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp-" + randomHex(4)
	if err := os.WriteFile(tmp, data, perm); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// verifiedTarball reports whether the tarball at path is complete: its .sha256 sidecar exists and
// matches its content. A mismatch is an error naming both sums.
func verifiedTarball(path string) (bool, error) {
	side, err := os.ReadFile(path + ".sha256")
	if errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(path); err == nil {
			return false, fmt.Errorf("%s has no %s.sha256 (an interrupted download?)", path, filepath.Base(path))
		}
		return false, nil
	}
	if err != nil {
		return false, err
	}
	want, _, _ := strings.Cut(strings.TrimSpace(string(side)), " ")
	got, _, err := hashFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if got != want {
		return false, fmt.Errorf("%s is corrupt: SHA-256 %s, recorded %s", path, got, want)
	}
	return true, nil
}

// record is image-<key>.json: what a cached image is.
type record struct {
	Key          string   `json:"key"`
	Debootstrap  string   `json:"debootstrap_key"`
	Compression  string   `json:"compression"`
	File         string   `json:"file"` // base name in the cache directory
	Name         string   `json:"name"` // default output name (with the serial)
	SHA256       string   `json:"sha256"`
	Size         int64    `json:"size"`
	Uncompressed int64    `json:"uncompressed"`
	Serial       string   `json:"serial"`
	CreationDate int64    `json:"creation_date"`
	Version      string   `json:"deskhub_version"`
	Packages     []string `json:"packages"`
	Built        string   `json:"built"` // RFC 3339
	BuildSeconds float64  `json:"build_seconds"`
}

// cachedImage returns the record of a cached image whose file is present and matches its SHA-256. A
// record whose file is missing or differs is removed (with its file) and reported as a miss.
func (c cache) cachedImage(key string) (*record, bool) {
	b, err := os.ReadFile(c.record(key))
	if err != nil {
		return nil, false
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil || r.Key != key || r.File == "" || strings.Contains(r.File, "/") {
		_ = os.Remove(c.record(key))
		return nil, false
	}
	sum, size, err := hashFile(filepath.Join(c.dir, r.File))
	if err != nil || sum != r.SHA256 || size != r.Size {
		_ = os.Remove(c.record(key))
		_ = os.Remove(filepath.Join(c.dir, r.File))
		return nil, false
	}
	return &r, true
}

// linkOrCopy makes dst (which must not exist) a hard link to src, or a copy when they are on different
// file systems.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		_ = os.Remove(dst)
		return err
	}
	if err := out.Close(); err != nil {
		_ = os.Remove(dst)
		return err
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeRecord writes an image record atomically.
func writeRecord(path string, r record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'), 0o644)
}

// prune removes the cached images made from the same debootstrap tarball with the same compression as
// the image of keep (older builds with another deskhub binary): the cache keeps one image per
// package set and compression.
func (c cache) prune(keep record) {
	paths, _ := filepath.Glob(filepath.Join(c.dir, "image-*.json"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(b, &r) != nil || r.Key == keep.Key || r.Debootstrap != keep.Debootstrap || r.Compression != keep.Compression {
			continue
		}
		_ = os.Remove(p)
		if r.File != "" && !strings.Contains(r.File, "/") {
			_ = os.Remove(filepath.Join(c.dir, r.File))
		}
	}
}
