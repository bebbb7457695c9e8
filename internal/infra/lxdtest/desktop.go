package lxdtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/imagebuild"
	"github.com/deskhub/deskhub/internal/servetest"
)

// DesktopAlias is the alias of deskhub's desktop image in the run's project (DesktopImage).
const DesktopAlias = "deskhub/bookworm/desktop"

// desktopCacheDir keeps the desktop images the tests build (one per deskhub binary: a rebuild with the
// same source is taken from it), apart from the shared cache, whose debootstrap tarball it links.
const desktopCacheDir = "/var/cache/deskhub/lxdtest-images"

var desktop struct {
	once   sync.Once
	dir    string // the image file; Main removes it
	report *imagebuild.Report
	bin    string
	err    error
}

// DesktopBuild builds deskhub's desktop image once per test binary — internal/imagebuild, offline from
// the package cache scripts/image-cache.sh fills, with the static deskhub servetest builds from this
// source tree (the test binary's TestMain calls servetest.Cleanup) — and answers its report (Output is
// the image file, SHA256 its LXD fingerprint). Without the package cache the test fails, saying how to
// fill it; it never downloads.
func DesktopBuild(t testing.TB) *imagebuild.Report {
	t.Helper()
	desktop.once.Do(func() { desktop.report, desktop.err = buildDesktop(t) })
	if desktop.err != nil {
		t.Fatalf("lxdtest: the desktop image: %v", desktop.err)
	}
	return desktop.report
}

// DesktopImage is DesktopBuild's image in the run's project as DesktopAlias (imported when the alias is
// not there). It answers the image's fingerprint.
func (e *Env) DesktopImage(t testing.TB) string {
	t.Helper()
	rep := DesktopBuild(t)
	run.mu.Lock()
	defer run.mu.Unlock()
	c := e.Client(t)
	if a, _, err := c.GetImageAlias(DesktopAlias); err == nil && a.Target == rep.SHA256 {
		return rep.SHA256
	}
	t0 := time.Now()
	if err := importFile(c, rep.Output, rep.SHA256, DesktopAlias); err != nil {
		t.Fatalf("lxdtest: %v", err)
	}
	t.Logf("lxdtest: desktop image %.12s (%d MiB) imported as %s in %s", rep.SHA256, rep.Size>>20, DesktopAlias,
		time.Since(t0).Round(time.Millisecond))
	return rep.SHA256
}

// DropDesktopImage removes the desktop image from the run's project (a test of LXD pulling it).
func (e *Env) DropDesktopImage(t testing.TB) {
	t.Helper()
	rep := DesktopBuild(t)
	c := e.Client(t)
	if _, _, err := c.GetImage(rep.SHA256); err != nil {
		return
	}
	op, err := c.DeleteImage(rep.SHA256)
	if err == nil {
		err = op.Wait()
	}
	if err != nil {
		t.Fatalf("lxdtest: deleting the desktop image: %v", err)
	}
}

// DesktopBinary is the static deskhub binary inside the desktop image (servetest.Binary's, unless
// DESKHUB_TEST_DESKTOP_BINARY names another).
func DesktopBinary() string { return desktop.bin }

// buildDesktop builds the static binary and the image.
func buildDesktop(t testing.TB) (*imagebuild.Report, error) {
	shared := os.Getenv("DESKHUB_IMAGE_CACHE_DIR")
	if shared == "" {
		shared = imagebuild.DefaultCacheDir
	}
	tarballs, _ := filepath.Glob(filepath.Join(shared, "debootstrap-*.tgz"))
	if len(tarballs) == 0 {
		return nil, fmt.Errorf("no debootstrap tarball in %s: fill the package cache once with scripts/image-cache.sh (the LXD desktop tests never download)", shared)
	}
	if err := os.MkdirAll(desktopCacheDir, 0o755); err != nil {
		return nil, err
	}
	for _, tb := range tarballs {
		for _, p := range []string{tb, tb + ".sha256"} {
			dst := filepath.Join(desktopCacheDir, filepath.Base(p))
			if _, err := os.Stat(dst); err == nil {
				continue
			}
			if err := os.Link(p, dst); err != nil {
				return nil, fmt.Errorf("linking the package cache: %w", err)
			}
		}
	}
	dir, err := os.MkdirTemp("", "deskhub-lxdtest-bin")
	if err != nil {
		return nil, err
	}
	_ = os.Chmod(dir, 0o755)
	desktop.dir = dir
	if bin := os.Getenv("DESKHUB_TEST_DESKTOP_BINARY"); bin != "" {
		// While working on the broker alone: an image whose deskhub does not change with every build
		// (the image is rebuilt, a minute or two, whenever its binary changes).
		t.Logf("lxdtest: the desktop image gets %s (DESKHUB_TEST_DESKTOP_BINARY)", bin)
		desktop.bin = bin
	} else if desktop.bin, err = servetest.Binary(); err != nil { // static: the test binary's deskhub
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	t0 := time.Now()
	rep, err := imagebuild.Build(ctx, imagebuild.Options{Binary: desktop.bin, Offline: true, Compression: "gzip",
		CacheDir: desktopCacheDir, Output: filepath.Join(dir, "desktop.tar.gz")})
	if errors.Is(err, imagebuild.ErrNotCached) {
		return nil, fmt.Errorf("%w: fill it once with scripts/image-cache.sh (the LXD desktop tests never download)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("imagebuild: %w", err)
	}
	t.Logf("lxdtest: desktop image built in %s (cached: %v, %d MiB)", time.Since(t0).Round(time.Second), rep.Cached, rep.Size>>20)
	pruneDesktopCache(rep.Key)
	return rep, nil
}

// pruneDesktopCache removes the images of older binaries from the test cache, keeping the newest two.
func pruneDesktopCache(keep string) {
	recs, _ := filepath.Glob(filepath.Join(desktopCacheDir, "image-*.json"))
	type rec struct {
		key string
		at  time.Time
	}
	var rs []rec
	for _, r := range recs {
		fi, err := os.Stat(r)
		if err != nil {
			continue
		}
		key := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(r), "image-"), ".json")
		rs = append(rs, rec{key, fi.ModTime()})
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].at.After(rs[j].at) })
	for i, r := range rs {
		if i < 2 || strings.HasPrefix(keep, r.key) {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(desktopCacheDir, "image-"+r.key+".*"))
		for _, f := range files {
			_ = os.Remove(f)
		}
	}
}

// importFile imports a unified image tarball of fingerprint fp under alias (the image may be there
// already, without the alias: a copy LXD pulled).
func importFile(c incus.InstanceServer, path, fp, alias string) error {
	if _, _, err := c.GetImage(fp); err != nil {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		op, err := c.CreateImage(api.ImagesPost{}, &incus.ImageCreateArgs{MetaFile: f, MetaName: filepath.Base(path),
			Type: string(api.InstanceTypeContainer)})
		if err == nil {
			err = op.WaitContext(ctx)
		}
		if err != nil {
			return fmt.Errorf("import %s: %w", path, err)
		}
		if got, _ := op.Get().Metadata["fingerprint"].(string); got != fp {
			return fmt.Errorf("import %s: LXD says fingerprint %q, the file's SHA-256 is %s", path, got, fp)
		}
	}
	_ = c.DeleteImageAlias(alias)
	err := c.CreateImageAlias(api.ImageAliasesPost{ImageAliasesEntry: api.ImageAliasesEntry{Name: alias,
		Type: string(api.InstanceTypeContainer), ImageAliasesEntryPut: api.ImageAliasesEntryPut{Target: fp,
			Description: "deskhub lxdtest desktop image"}}})
	if err != nil {
		return fmt.Errorf("alias %s -> %.12s: %w", alias, fp, err)
	}
	return nil
}
