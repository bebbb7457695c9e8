package imagestore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Upload is one file for a product version.
type Upload struct {
	ProductID string
	Serial    string
	// FileName is the name to store the file under; "" names it after its class (Class.DefaultName).
	FileName string
	// SHA256, when set (hex), must be the file's SHA-256, else nothing is stored.
	SHA256 string
	// Body is the file. A read error other than io.EOF fails the upload with a *BodyError.
	Body io.Reader
	// Size is the size the client announced (-1: unknown); one over the limit is refused unread.
	Size int64
	// By is the uploading user (0: unknown).
	By int64
}

// BodyError is a failure to read an upload's body: the client went away or sent too little, or the
// body met a limit or deadline of the adapter. The adapter makes it a status from Err.
type BodyError struct{ Err error }

func (e *BodyError) Error() string { return "reading the uploaded file: " + e.Err.Error() }
func (e *BodyError) Unwrap() error { return e.Err }

// tempPrefix starts the names of files being uploaded; no served name starts with a dot.
const tempPrefix = ".upload-"

var hexSHA256 = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })

// Upload stores one file of a product version. The file is streamed to a temporary file in the
// version's directory while it is hashed and counted, then classified (Classify; a tarball's
// metadata.yaml must be of the product's architecture), then moved into place and recorded in the
// store in one step. Anything that fails on the way removes the temporary file (and directories made
// for it) and leaves the index as it was. Versions are immutable: a file whose name or type the version
// has already is a conflict, as is a second upload of the same name while the first runs.
func (s *Service) Upload(ctx context.Context, u Upload) (store.ImageFile, error) {
	var none store.ImageFile
	if _, err := splitProductID("payload.product_id", u.ProductID); err != nil {
		return none, err
	}
	if err := CheckSerial("payload.product_version_serial", u.Serial); err != nil {
		return none, err
	}
	want := strings.ToLower(strings.TrimSpace(u.SHA256))
	if want != "" && !hexSHA256().MatchString(want) {
		return none, fault.Memberf("payload.file_sha256", "must be 64 hexadecimal digits")
	}
	if u.FileName != "" {
		if err := checkFileName("file", u.FileName); err != nil {
			return none, err
		}
	}
	if u.Size > s.opts.MaxSize {
		return none, tooLarge(s.opts.MaxSize)
	}
	p, err := s.st.GetImageProduct(ctx, u.ProductID)
	if errors.Is(err, store.ErrNotFound) {
		return none, fault.NotFoundf("no product %s on this image server (add it with simplestream.add)", u.ProductID)
	}
	if err != nil {
		return none, err
	}
	release, err := s.claim(p.ID, u.Serial, u.FileName)
	if err != nil {
		return none, err
	}
	defer release()
	if u.FileName != "" {
		if err := s.checkFree(ctx, p.ID, u.Serial, u.FileName, ""); err != nil {
			return none, err
		}
	}

	dir := s.versionDir(p, u.Serial)
	tmp, err := s.createTemp(dir)
	if err != nil {
		return none, err
	}
	done := false
	defer func() {
		if !done {
			s.discard(tmp)
		}
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(u.Body, s.opts.MaxSize+1))
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == tmp.Name() {
			return none, fmt.Errorf("imagestore: writing %s: %w", tmp.Name(), err)
		}
		return none, &BodyError{Err: err}
	}
	if n > s.opts.MaxSize {
		return none, tooLarge(s.opts.MaxSize)
	}
	if n == 0 {
		return none, fault.Memberf("file", "is empty")
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if want != "" && want != sum {
		return none, fault.Memberf("payload.file_sha256", "%s does not match the file's SHA-256 %s: nothing was stored", want, sum)
	}
	if err := tmp.Sync(); err != nil {
		return none, fmt.Errorf("imagestore: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return none, fmt.Errorf("imagestore: %w", err)
	}
	class, err := Classify(tmp, n)
	if err != nil {
		return none, err
	}
	if err := checkMetadataArch(class.Metadata, p.Arch); err != nil {
		return none, err
	}
	name := u.FileName
	if name == "" {
		name = class.DefaultName()
		rel, err := s.claim(p.ID, u.Serial, name)
		if err != nil {
			return none, err
		}
		defer rel()
	}
	f := store.ImageFile{ProductID: p.ID, Serial: u.Serial, Name: name, Type: class.Type,
		Path: ItemPath(p, u.Serial, name), Size: n, SHA256: sum, UploadedBy: u.By, UploadedAt: s.now()}
	if err := s.finish(ctx, p, &f, tmp); err != nil {
		return none, err
	}
	done = true
	s.log.Info("image file uploaded", "product", p.ID, "serial", u.Serial, "file", name, "ftype", class.Type,
		"size", n, "sha256", sum, "by", u.By)
	return f, nil
}

func tooLarge(max int64) error {
	return fault.New(fault.TooLarge, "the file is larger than this image server's limit of %d bytes", max)
}

// checkFree refuses a file whose name (or type, when typ is set) the version has already, and the
// mixing of a unified image with a split one in a version.
func (s *Service) checkFree(ctx context.Context, productID, serial, name, typ string) error {
	files, err := s.st.ListImageFiles(ctx, productID)
	if err != nil {
		return err
	}
	for _, f := range files {
		if f.Serial != serial {
			continue
		}
		switch {
		case f.Name == name:
			return fault.Conflictf("version %s of %s has a file %s already; versions are immutable: upload a new version", serial, productID, name)
		case typ == "":
		case f.Type == typ:
			return fault.Conflictf("version %s of %s has a %s file already (%s); versions are immutable: upload a new version", serial, productID, typ, f.Name)
		case f.Type == store.ImageUnified || typ == store.ImageUnified:
			return fault.Conflictf("version %s of %s would mix a unified image with a split one: upload a new version", serial, productID)
		}
	}
	return nil
}

// createTemp makes the version's directory (and its parents) and a temporary file in it.
func (s *Service) createTemp(dir string) (*os.File, error) {
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("imagestore: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	f, err := os.OpenFile(filepath.Join(dir, tempPrefix+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		s.removeEmptyDirs(dir)
		return nil, fmt.Errorf("imagestore: %w", err)
	}
	return f, nil
}

// discard removes a temporary file and the directories left empty without it.
func (s *Service) discard(tmp *os.File) {
	_ = tmp.Close()
	s.dirMu.Lock()
	defer s.dirMu.Unlock()
	if err := os.Remove(tmp.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Error("cannot remove a failed upload", "file", tmp.Name(), "error", err)
	}
	s.removeEmptyDirs(filepath.Dir(tmp.Name()))
}

// finish records f and moves tmp into place, in one step: under the version's lock, it checks that the
// version is free for f, works out the combined hashes of a split image, and, in one transaction,
// stores the rows and links the file to its name (the commit failing removes the name again).
func (s *Service) finish(ctx context.Context, p store.ImageProduct, f *store.ImageFile, tmp *os.File) error {
	unlock := s.lockVersion(versionKey(f.ProductID, f.Serial))
	defer unlock()
	if err := s.checkFree(ctx, f.ProductID, f.Serial, f.Name, f.Type); err != nil {
		return err
	}
	files, err := s.st.ListImageFiles(ctx, f.ProductID)
	if err != nil {
		return err
	}
	var meta *store.ImageFile // the version's metadata file, when f completes it
	for i := range files {
		o := &files[i]
		if o.Serial != f.Serial {
			continue
		}
		switch {
		case f.Type == store.ImageMetadata && isRoot(o.Type):
			if err := s.setCombined(f, tmp.Name(), o.Type, s.path(o.Path)); err != nil {
				return err
			}
		case isRoot(f.Type) && o.Type == store.ImageMetadata:
			meta = o
			if err := s.setCombined(meta, s.path(meta.Path), f.Type, tmp.Name()); err != nil {
				return err
			}
		}
	}
	final := s.path(f.Path)
	placed := false
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.CreateImageFile(ctx, f); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Wrap(fault.Conflict, err, fmt.Sprintf("version %s of %s has a file %s (or a %s file) already", f.Serial, f.ProductID, f.Name, f.Type))
			}
			return err
		}
		if meta != nil {
			if err := tx.SetImageFileCombined(ctx, meta); err != nil {
				return err
			}
		}
		if err := place(tmp.Name(), final); err != nil {
			return err
		}
		placed = true
		return nil
	})
	if err != nil {
		if placed {
			_ = os.Remove(final) // in place, then the commit failed
		}
		return err
	}
	_ = tmp.Close()
	_ = os.Remove(tmp.Name())
	s.invalidate()
	return nil
}

// place links tmp to final, refusing to replace a file that is there (a link cannot clobber). On a
// file system without hard links it renames, having made sure nothing is there.
func place(tmp, final string) error {
	err := os.Link(tmp, final)
	if errors.Is(err, fs.ErrExist) {
		return fault.Wrap(fault.Conflict, err, fmt.Sprintf("%s exists on disk already", filepath.Base(final)))
	}
	if err != nil {
		if _, statErr := os.Lstat(final); statErr == nil {
			return fault.Conflictf("%s exists on disk already", filepath.Base(final))
		}
		if rerr := os.Rename(tmp, final); rerr != nil {
			return fmt.Errorf("imagestore: moving the upload into place: %w (link: %v)", rerr, err)
		}
	}
	return nil
}

// isRoot tells the root files of split images.
func isRoot(typ string) bool { return typ == store.ImageSquashFS || typ == store.ImageDiskKVM }

// path is the file on disk of an item path.
func (s *Service) path(item string) string {
	return filepath.Join(s.dir, filepath.FromSlash(strings.TrimPrefix(item, "images/")))
}

// setCombined sets meta's combined hash for a root file of rootType: sha256(metadata || root), the
// fingerprint LXD gives the split image.
func (s *Service) setCombined(meta *store.ImageFile, metaPath, rootType, rootPath string) error {
	h := sha256.New()
	for _, name := range []string{metaPath, rootPath} {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("imagestore: combined hash: %w", err)
		}
		_, err = io.Copy(h, f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("imagestore: combined hash: %w", err)
		}
	}
	sum := hex.EncodeToString(h.Sum(nil))
	switch rootType {
	case store.ImageSquashFS:
		meta.CombinedSquashFS = sum
	case store.ImageDiskKVM:
		meta.CombinedDiskKVM = sum
	}
	return nil
}
