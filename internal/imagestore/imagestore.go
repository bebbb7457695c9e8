// Package imagestore is deskhub's simplestreams image server (a domain package: fault errors, no
// net/http): products (os:release:arch:variant, with aliases), their versions (serials) and the
// versions' files. The index lives in the store; the files live on disk under one directory, laid out
// as the simplestreams tree names them (images/<os>/<release>/<arch>/<variant>/<serial>/<file>, the
// "images/" being that directory). Uploads are streamed to a temporary file beside their target,
// hashed, classified (Classify) and then moved into place and recorded in one step; the generated
// streams/v1/index.json and images.json are cached (Tree); a retention round (Prune, Run) removes old
// versions that no LXD instance uses (Options.InUse).
package imagestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Defaults of Options.
const (
	DefaultMaxSize  = 4 << 30
	DefaultCacheTTL = 30 * time.Second
)

// Options configure a Service.
type Options struct {
	Store store.Store
	// Dir holds the files: item path images/<rest> is Dir/<rest>. Created if missing.
	Dir string
	// MaxSize bounds an uploaded file in bytes (0: DefaultMaxSize).
	MaxSize int64
	// KeepVersions is how many versions of each product retention keeps (0: no count limit).
	KeepVersions int
	// MaxAge removes versions uploaded longer ago than this (0: no age limit). The newest version of a
	// product is never removed for its age.
	MaxAge time.Duration
	// InUse answers the fingerprints of the images LXD instances use (their volatile.base_image), which
	// retention never removes. An error makes a round remove nothing. nil: no image is in use.
	InUse func(ctx context.Context) (map[string]bool, error)
	// CacheTTL is how long the generated tree is served without a look at the store (changes made
	// through this Service show at once; those of another replica sharing the store within CacheTTL).
	// 0: DefaultCacheTTL.
	CacheTTL time.Duration
	Log      *slog.Logger
	Now      func() time.Time
}

// Service is the image server.
type Service struct {
	opts Options
	st   store.Store
	dir  string
	log  *slog.Logger
	now  func() time.Time

	// dirMu orders the creation of directories and temporary files against the removal of empty
	// directories (failed uploads, retention), so that neither removes what the other just made.
	dirMu sync.Mutex

	mu       sync.Mutex
	inflight map[string]bool     // product\x00serial\x00name of uploads in progress
	versions map[string]int      // product\x00serial → uploads in progress
	pruning  map[string]bool     // product\x00serial being removed
	vlocks   map[string]*keyLock // product\x00serial → the lock of its finishing step

	tree atomic.Pointer[Tree]
}

type keyLock struct {
	mu sync.Mutex
	n  int
}

// New makes the image server; it creates Dir.
func New(opts Options) (*Service, error) {
	if opts.Store == nil || opts.Dir == "" {
		return nil, errors.New("imagestore: a store and a directory are needed")
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InUse == nil {
		opts.InUse = func(context.Context) (map[string]bool, error) { return map[string]bool{}, nil }
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("imagestore: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("imagestore: image directory: %w", err)
	}
	return &Service{opts: opts, st: opts.Store, dir: dir, log: opts.Log.With("component", "imagestore"), now: opts.Now,
		inflight: map[string]bool{}, versions: map[string]int{}, pruning: map[string]bool{}, vlocks: map[string]*keyLock{}}, nil
}

// Dir is the directory holding the files.
func (s *Service) Dir() string { return s.dir }

// MaxSize is the largest file an upload may bring.
func (s *Service) MaxSize() int64 { return s.opts.MaxSize }

// ProductSpec is what simplestream.add asks for.
type ProductSpec struct {
	OS, Release, Arch, Variant, ReleaseTitle string
	// Aliases is the comma-separated list LXD clients can launch the product by.
	Aliases string
	// By is the user adding it (0: unknown).
	By int64
}

// Product is a product with the serials of its versions, oldest first.
type Product struct {
	store.ImageProduct
	Versions []string
}

// AddProduct adds a product. The parts of its id must be safe path elements (fault.Invalid naming the
// member otherwise), aliases unique across products; a product or alias that exists is a conflict.
func (s *Service) AddProduct(ctx context.Context, spec ProductSpec) (Product, error) {
	if spec.Variant == "" {
		spec.Variant = DefaultVariant
	}
	for _, p := range []struct{ member, v string }{{"product_os", spec.OS}, {"product_release", spec.Release},
		{"product_variant", spec.Variant}} {
		if err := checkPart(p.member, p.v); err != nil {
			return Product{}, err
		}
	}
	if err := checkArch("product_arch", spec.Arch); err != nil {
		return Product{}, err
	}
	aliases, err := ParseAliases("product_aliases", spec.Aliases)
	if err != nil {
		return Product{}, err
	}
	title := strings.TrimSpace(spec.ReleaseTitle)
	if len(title) > 256 || strings.ContainsRune(title, 0) {
		return Product{}, fault.Memberf("product_release_title", "must be at most 256 characters, without NUL bytes")
	}
	p := store.ImageProduct{ID: ProductID(spec.OS, spec.Release, spec.Arch, spec.Variant), OS: spec.OS,
		Release: spec.Release, Arch: spec.Arch, Variant: spec.Variant, ReleaseTitle: title, Aliases: aliases,
		CreatedBy: spec.By, CreatedAt: s.now()}
	if err := s.st.CreateImageProduct(ctx, &p); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Product{}, s.productConflict(ctx, p)
		}
		return Product{}, err
	}
	s.invalidate()
	s.log.Info("image product added", "product", p.ID, "aliases", strings.Join(aliases, ","), "by", spec.By)
	return Product{ImageProduct: p, Versions: []string{}}, nil
}

// productConflict says which of a new product's id and aliases is taken.
func (s *Service) productConflict(ctx context.Context, p store.ImageProduct) error {
	if _, err := s.st.GetImageProduct(ctx, p.ID); err == nil {
		return fault.Conflictf("product %s exists already", p.ID)
	}
	list, err := s.st.ListImageProducts(ctx)
	if err == nil {
		for _, other := range list {
			for _, a := range other.Aliases {
				for _, mine := range p.Aliases {
					if a == mine {
						return fault.Conflictf("alias %q belongs to product %s already", a, other.ID)
					}
				}
			}
		}
	}
	return fault.Conflictf("product %s or one of its aliases exists already", p.ID)
}

// Products lists the products with their versions, by id.
func (s *Service) Products(ctx context.Context) ([]Product, error) {
	list, err := s.st.ListImageProducts(ctx)
	if err != nil {
		return nil, err
	}
	versions, err := s.st.ListImageVersions(ctx, "")
	if err != nil {
		return nil, err
	}
	byProduct := map[string][]string{}
	for _, v := range versions {
		byProduct[v.ProductID] = append(byProduct[v.ProductID], v.Serial)
	}
	out := make([]Product, 0, len(list))
	for _, p := range list {
		vs := byProduct[p.ID]
		if vs == nil {
			vs = []string{}
		}
		out = append(out, Product{ImageProduct: p, Versions: vs})
	}
	return out, nil
}

// Files lists every file, by product, serial and name.
func (s *Service) Files(ctx context.Context) ([]store.ImageFile, error) {
	return s.st.ListImageFiles(ctx, "")
}

// ItemPath is the path of a file in the simplestreams tree.
func ItemPath(p store.ImageProduct, serial, name string) string {
	return strings.Join([]string{"images", p.OS, p.Release, p.Arch, p.Variant, serial, name}, "/")
}

// versionDir is the directory of a version's files on disk.
func (s *Service) versionDir(p store.ImageProduct, serial string) string {
	return filepath.Join(s.dir, p.OS, p.Release, p.Arch, p.Variant, serial)
}

func versionKey(productID, serial string) string { return productID + "\x00" + serial }

// claim marks an upload of (product, serial, name) as in progress; a second one at the same time, or
// one into a version being removed, is a conflict. name "" claims only the version.
func (s *Service) claim(productID, serial, name string) (func(), error) {
	vk := versionKey(productID, serial)
	key := vk + "\x00" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pruning[vk] {
		return nil, fault.Conflictf("version %s of %s is being removed; upload it again in a moment", serial, productID)
	}
	if name != "" {
		if s.inflight[key] {
			return nil, fault.Conflictf("%s of version %s of %s is being uploaded already", name, serial, productID)
		}
		s.inflight[key] = true
	}
	s.versions[vk]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if name != "" {
			delete(s.inflight, key)
		}
		if s.versions[vk]--; s.versions[vk] == 0 {
			delete(s.versions, vk)
		}
	}, nil
}

// lockVersion serializes the finishing steps of uploads into one version (so that the combined hashes
// of a split image see both of its files).
func (s *Service) lockVersion(vk string) func() {
	s.mu.Lock()
	l := s.vlocks[vk]
	if l == nil {
		l = &keyLock{}
		s.vlocks[vk] = l
	}
	l.n++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		if l.n--; l.n == 0 {
			delete(s.vlocks, vk)
		}
		s.mu.Unlock()
	}
}

// removeEmptyDirs removes dir and its parents up to (not including) the image directory while they
// are empty. The caller holds dirMu.
func (s *Service) removeEmptyDirs(dir string) {
	for dir != s.dir && strings.HasPrefix(dir, s.dir+string(filepath.Separator)) {
		if err := os.Remove(dir); err != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// invalidate drops the cached tree.
func (s *Service) invalidate() { s.tree.Store(nil) }
