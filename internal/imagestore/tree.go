package imagestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// The simplestreams tree: streams/v1/index.json, streams/v1/images.json and the files, as LXD's and
// Incus's simplestreams clients read them (shared/simplestreams in both).

// Paths of the two documents below the tree's base.
const (
	IndexPath  = "streams/v1/index.json"
	ImagesPath = "streams/v1/images.json"
)

// Tree is the generated tree: the two documents and the files they list.
type Tree struct {
	Index, Images []byte
	// IndexTag and ImagesTag are the documents' ETags (quoted SHA-256).
	IndexTag, ImagesTag string
	// Updated is the latest change the documents show.
	Updated time.Time
	// Files are the listed files by item path (images/…).
	Files map[string]store.ImageFile
	built time.Time
}

type streamIndex struct {
	Index   map[string]streamIndexEntry `json:"index"`
	Updated string                      `json:"updated"`
	Format  string                      `json:"format"`
}

type streamIndexEntry struct {
	DataType string   `json:"datatype"`
	Path     string   `json:"path"`
	Updated  string   `json:"updated"`
	Products []string `json:"products"`
	Format   string   `json:"format"`
}

type products struct {
	ContentID string             `json:"content_id"`
	DataType  string             `json:"datatype"`
	Format    string             `json:"format"`
	Updated   string             `json:"updated"`
	Products  map[string]product `json:"products"`
}

type product struct {
	Aliases      string             `json:"aliases"`
	Arch         string             `json:"arch"`
	OS           string             `json:"os"`
	Release      string             `json:"release"`
	ReleaseTitle string             `json:"release_title"`
	Variant      string             `json:"variant"`
	Versions     map[string]version `json:"versions"`
}

type version struct {
	Items map[string]item `json:"items"`
}

type item struct {
	FileType         string `json:"ftype"`
	Path             string `json:"path"`
	SHA256           string `json:"sha256"`
	Size             int64  `json:"size"`
	CombinedSquashFS string `json:"combined_squashfs_sha256,omitempty"`
	CombinedDiskKVM  string `json:"combined_disk-kvm-img_sha256,omitempty"`
}

// Items lists the simplestreams items of a file: item name → ftype. LXD reads the metadata and unified
// tarballs as lxd.tar.xz and lxd_combined.tar.gz, Incus as incus.tar.xz and incus_combined.tar.gz, and
// each ignores the other's; both read squashfs and disk-kvm.img. So a tarball is listed twice, once
// per name, with the same path and hashes.
func Items(f store.ImageFile) map[string]string {
	switch f.Type {
	case store.ImageUnified:
		return map[string]string{"lxd_combined.tar.gz": store.ImageUnified, "incus_combined.tar.gz": "incus_combined.tar.gz"}
	case store.ImageMetadata:
		return map[string]string{"lxd.tar.xz": store.ImageMetadata, "incus.tar.xz": "incus.tar.xz"}
	case store.ImageSquashFS:
		return map[string]string{"root.squashfs": store.ImageSquashFS}
	}
	return map[string]string{"disk.qcow2": store.ImageDiskKVM}
}

// Fingerprints are the LXD fingerprints of the images a file makes: a unified tarball's SHA-256, the
// combined hashes of a split image's metadata.
func Fingerprints(f store.ImageFile) []string {
	var out []string
	switch f.Type {
	case store.ImageUnified:
		out = append(out, f.SHA256)
	case store.ImageMetadata:
		for _, h := range []string{f.CombinedSquashFS, f.CombinedDiskKVM} {
			if h != "" {
				out = append(out, h)
			}
		}
	}
	return out
}

// Tree answers the simplestreams tree, from the cache while it is fresh.
func (s *Service) Tree(ctx context.Context) (*Tree, error) {
	if t := s.tree.Load(); t != nil && s.now().Sub(t.built) < s.opts.CacheTTL {
		return t, nil
	}
	t, err := s.buildTree(ctx)
	if err != nil {
		return nil, err
	}
	s.tree.Store(t)
	return t, nil
}

func (s *Service) buildTree(ctx context.Context) (*Tree, error) {
	list, err := s.st.ListImageProducts(ctx)
	if err != nil {
		return nil, err
	}
	files, err := s.st.ListImageFiles(ctx, "")
	if err != nil {
		return nil, err
	}
	t := &Tree{Files: make(map[string]store.ImageFile, len(files)), built: s.now()}
	doc := products{ContentID: "images", DataType: "image-downloads", Format: "products:1.0",
		Products: make(map[string]product, len(list))}
	ids := make([]string, 0, len(list))
	for _, p := range list {
		title := p.ReleaseTitle
		if title == "" {
			title = p.Release
		}
		doc.Products[p.ID] = product{Aliases: strings.Join(p.Aliases, ","), Arch: p.Arch, OS: p.OS, Release: p.Release,
			ReleaseTitle: title, Variant: p.Variant, Versions: map[string]version{}}
		ids = append(ids, p.ID)
		if p.CreatedAt.After(t.Updated) {
			t.Updated = p.CreatedAt
		}
	}
	for _, f := range files {
		p, ok := doc.Products[f.ProductID]
		if !ok {
			continue
		}
		v, ok := p.Versions[f.Serial]
		if !ok {
			v = version{Items: map[string]item{}}
			p.Versions[f.Serial] = v
		}
		for name, ftype := range Items(f) {
			v.Items[name] = item{FileType: ftype, Path: f.Path, SHA256: f.SHA256, Size: f.Size,
				CombinedSquashFS: f.CombinedSquashFS, CombinedDiskKVM: f.CombinedDiskKVM}
		}
		t.Files[f.Path] = f
		if f.UploadedAt.After(t.Updated) {
			t.Updated = f.UploadedAt
		}
	}
	if t.Updated.IsZero() {
		t.Updated = time.Unix(0, 0)
	}
	t.Updated = t.Updated.UTC().Truncate(time.Second)
	updated := t.Updated.Format(time.RFC1123Z)
	doc.Updated = updated
	index := streamIndex{Format: "index:1.0", Updated: updated, Index: map[string]streamIndexEntry{
		"images": {DataType: "image-downloads", Path: ImagesPath, Updated: updated, Products: ids, Format: "products:1.0"}}}
	if t.Index, err = json.Marshal(index); err != nil {
		return nil, err
	}
	if t.Images, err = json.Marshal(doc); err != nil {
		return nil, err
	}
	t.IndexTag, t.ImagesTag = etag(t.Index), etag(t.Images)
	return t, nil
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Open opens the file at item path (images/…) for reading, if the tree lists it. It follows no
// symbolic link (every element is checked with Lstat, and the file is opened through an os.Root
// that cannot leave the image directory) and answers only regular files of the recorded size.
func (s *Service) Open(ctx context.Context, itemPath string) (*os.File, store.ImageFile, error) {
	var none store.ImageFile
	t, err := s.Tree(ctx)
	if err != nil {
		return nil, none, err
	}
	rec, ok := t.Files[itemPath]
	if !ok {
		return nil, none, fault.NotFoundf("no file %s on this image server", itemPath)
	}
	rel := strings.TrimPrefix(itemPath, "images/")
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, none, fmt.Errorf("imagestore: %w", err)
	}
	defer root.Close()
	elems := strings.Split(rel, "/")
	for i := range elems {
		if err := checkFileName("path", elems[i]); err != nil && i != len(elems)-2 { // the serial may hold ':'
			return nil, none, fault.NotFoundf("no file %s on this image server", itemPath)
		}
		fi, err := root.Lstat(strings.Join(elems[:i+1], "/"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, none, fault.Wrap(fault.NotFound, err, fmt.Sprintf("file %s is missing from the image directory", itemPath))
			}
			return nil, none, fmt.Errorf("imagestore: %w", err)
		}
		last := i == len(elems)-1
		if (last && !fi.Mode().IsRegular()) || (!last && !fi.IsDir()) {
			return nil, none, fault.NotFoundf("no file %s on this image server", itemPath)
		}
	}
	f, err := root.Open(rel)
	if err != nil {
		return nil, none, fmt.Errorf("imagestore: %w", err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != rec.Size {
		_ = f.Close()
		return nil, none, fault.Wrap(fault.Internal, err, fmt.Sprintf("file %s on disk is not the one recorded", itemPath))
	}
	return f, rec, nil
}
