package imagestore

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// Removed is a version a retention round removed, and why.
type Removed struct {
	ProductID, Serial, Reason string
}

// staleUpload is the age after which a temporary upload file no upload writes to any more (one left
// by a crash) is removed by retention.
const staleUpload = 24 * time.Hour

// Prune runs one retention round: per product, versions beyond the newest Options.KeepVersions (by
// serial) and versions uploaded longer ago than Options.MaxAge (never the newest one) are removed,
// rows and files together, unless an LXD instance uses one of their images (Options.InUse) or an
// upload into them is in progress. If InUse fails, the round removes nothing and answers its error.
func (s *Service) Prune(ctx context.Context) ([]Removed, error) {
	if s.opts.KeepVersions <= 0 && s.opts.MaxAge <= 0 {
		s.sweepStale()
		return nil, nil
	}
	inUse, err := s.opts.InUse(ctx)
	if err != nil {
		s.log.Warn("image retention skipped: cannot tell which images are in use", "error", err)
		return nil, fmt.Errorf("imagestore: images in use: %w", err)
	}
	list, err := s.st.ListImageProducts(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := s.st.ListImageVersions(ctx, "")
	if err != nil {
		return nil, err
	}
	files, err := s.st.ListImageFiles(ctx, "")
	if err != nil {
		return nil, err
	}
	fingerprints := map[string][]string{} // version key → fingerprints
	for _, f := range files {
		vk := versionKey(f.ProductID, f.Serial)
		fingerprints[vk] = append(fingerprints[vk], Fingerprints(f)...)
	}
	byProduct := map[string][]store.ImageVersion{}
	for _, v := range versions {
		byProduct[v.ProductID] = append(byProduct[v.ProductID], v)
	}
	now := s.now()
	var removed []Removed
	for _, p := range list {
		vs := byProduct[p.ID]
		slices.SortFunc(vs, func(a, b store.ImageVersion) int { // newest first
			return cmp.Or(strings.Compare(b.Serial, a.Serial), b.CreatedAt.Compare(a.CreatedAt))
		})
		for i, v := range vs {
			var reason string
			switch {
			case s.opts.KeepVersions > 0 && i >= s.opts.KeepVersions:
				reason = fmt.Sprintf("beyond the newest %d versions", s.opts.KeepVersions)
			case s.opts.MaxAge > 0 && i > 0 && now.Sub(v.CreatedAt) > s.opts.MaxAge:
				reason = fmt.Sprintf("uploaded more than %s ago", s.opts.MaxAge)
			default:
				continue
			}
			vk := versionKey(v.ProductID, v.Serial)
			if used := usedOf(fingerprints[vk], inUse); used != "" {
				s.log.Info("image version kept: an instance uses it", "product", p.ID, "serial", v.Serial,
					"fingerprint", used, "would_remove", reason)
				continue
			}
			ok, err := s.removeVersion(ctx, p, v.Serial)
			if err != nil {
				s.log.Error("cannot remove an image version", "product", p.ID, "serial", v.Serial, "error", err)
				continue
			}
			if !ok {
				continue // an upload into it runs; the next round looks again
			}
			s.log.Info("image version removed", "product", p.ID, "serial", v.Serial, "reason", reason)
			removed = append(removed, Removed{ProductID: p.ID, Serial: v.Serial, Reason: reason})
		}
	}
	s.sweepStale()
	return removed, nil
}

func usedOf(fps []string, inUse map[string]bool) string {
	for _, fp := range fps {
		if inUse[fp] {
			return fp
		}
	}
	return ""
}

// removeVersion removes a version's rows, then its files; false if an upload into it is running.
func (s *Service) removeVersion(ctx context.Context, p store.ImageProduct, serial string) (bool, error) {
	vk := versionKey(p.ID, serial)
	s.mu.Lock()
	if s.versions[vk] > 0 || s.pruning[vk] {
		s.mu.Unlock()
		return false, nil
	}
	s.pruning[vk] = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pruning, vk)
		s.mu.Unlock()
	}()
	if err := s.st.DeleteImageVersion(ctx, p.ID, serial); err != nil {
		return false, err
	}
	s.invalidate()
	dir := s.versionDir(p, serial)
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if err := os.RemoveAll(dir); err != nil {
		return true, fmt.Errorf("imagestore: removing %s (its rows are gone): %w", dir, err)
	}
	s.removeEmptyDirs(filepath.Dir(dir))
	return true, nil
}

// sweepStale removes temporary upload files that have not been written to for a day (left by a crash).
func (s *Service) sweepStale() {
	cutoff := time.Now().Add(-staleUpload)
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	_ = filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), tempPrefix) {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) {
			if os.Remove(path) == nil {
				s.log.Info("stale upload removed", "file", path)
				s.removeEmptyDirs(filepath.Dir(path))
			}
		}
		return nil
	})
}

// Run runs a retention round every interval until ctx ends (interval <= 0: never).
func (s *Service) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := s.Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("image retention round failed", "error", err)
			}
		}
	}
}
