package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/deskhub/deskhub/internal/store"
)

// Conformance tests for the simplestreams image server's tables: products, aliases, versions and
// files.

func mkImageProduct(t *testing.T, s store.Store, id string, aliases ...string) store.ImageProduct {
	t.Helper()
	p := store.ImageProduct{ID: id, OS: "debian", Release: "bookworm", Arch: "amd64", Variant: "default",
		ReleaseTitle: "12", Aliases: aliases, CreatedAt: ts(0)}
	must(t, s.CreateImageProduct(ctx(t), &p))
	return p
}

func mkImageFile(productID, serial, name, typ string) store.ImageFile {
	return store.ImageFile{ProductID: productID, Serial: serial, Name: name, Type: typ,
		Path: fmt.Sprintf("images/x/%s/%s", serial, name), Size: 42, SHA256: "ab" + name, UploadedAt: ts(0)}
}

func testImageProducts(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	p := store.ImageProduct{ID: "debian:bookworm:amd64:desktop", OS: "debian", Release: "bookworm", Arch: "amd64",
		Variant: "desktop", ReleaseTitle: "Debian 12", Aliases: []string{"debian/12/desktop", "bookworm"},
		CreatedBy: u.ID, CreatedAt: ts(0)}
	must(t, s.CreateImageProduct(c, &p))
	got, err := s.GetImageProduct(c, p.ID)
	must(t, err)
	equal(t, "GetImageProduct", got, p)

	// No aliases, no creator, a zero time: now.
	q := store.ImageProduct{ID: "alpine:3.20:arm64:default", OS: "alpine", Release: "3.20", Arch: "arm64", Variant: "default"}
	must(t, s.CreateImageProduct(c, &q))
	if q.CreatedAt.IsZero() {
		t.Error("CreateImageProduct did not set CreatedAt")
	}
	got, err = s.GetImageProduct(c, q.ID)
	must(t, err)
	equal(t, "product without aliases", got, q)

	// Ordered by id, byte-wise ("A" before "a").
	mkImageProduct(t, s, "Zed:1:amd64:default")
	list, err := s.ListImageProducts(c)
	count(t, "ListImageProducts", list, err, 3)
	if list[0].ID != "Zed:1:amd64:default" || list[1].ID != q.ID || list[2].ID != p.ID {
		t.Errorf("ListImageProducts order: %v, %v, %v", list[0].ID, list[1].ID, list[2].ID)
	}

	_, err = s.GetImageProduct(c, "nope:1:amd64:default")
	isErr(t, err, store.ErrNotFound, "GetImageProduct of a missing product")

	// Deleting the creator keeps the product.
	must(t, s.DeleteUser(c, u.ID))
	got, err = s.GetImageProduct(c, p.ID)
	must(t, err)
	if got.CreatedBy != 0 {
		t.Errorf("CreatedBy after the user went: %d", got.CreatedBy)
	}
}

func testImageProductConflicts(t *testing.T, s store.Store) {
	c := ctx(t)
	mkImageProduct(t, s, "debian:bookworm:amd64:default", "debian", "debian/12")

	dup := store.ImageProduct{ID: "debian:bookworm:amd64:default", OS: "debian", Release: "bookworm", Arch: "amd64", Variant: "default"}
	isErr(t, s.CreateImageProduct(c, &dup), store.ErrConflict, "the same product id twice")

	// An alias another product has: nothing of the new product is stored.
	other := store.ImageProduct{ID: "debian:trixie:amd64:default", OS: "debian", Release: "trixie", Arch: "amd64",
		Variant: "default", Aliases: []string{"trixie", "debian/12"}}
	isErr(t, s.CreateImageProduct(c, &other), store.ErrConflict, "an alias of another product")
	_, err := s.GetImageProduct(c, other.ID)
	isErr(t, err, store.ErrNotFound, "the product whose alias was taken")
	// Its other alias was not kept either: a third product may take it.
	third := store.ImageProduct{ID: "debian:trixie:arm64:default", OS: "debian", Release: "trixie", Arch: "arm64",
		Variant: "default", Aliases: []string{"trixie"}}
	must(t, s.CreateImageProduct(c, &third))

	missing := store.ImageProduct{ID: "a:b:amd64:default", OS: "a", Release: "b", Arch: "amd64", Variant: "default", CreatedBy: 9999}
	isErr(t, s.CreateImageProduct(c, &missing), store.ErrNotFound, "a product of a missing user")
}

func testImageFiles(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	p := mkImageProduct(t, s, "debian:bookworm:amd64:default")

	meta := mkImageFile(p.ID, "20250101_0000", "lxd.tar.xz", store.ImageMetadata)
	meta.UploadedBy = u.ID
	must(t, s.CreateImageFile(c, &meta))
	if meta.ID == 0 {
		t.Fatal("CreateImageFile did not set ID")
	}
	root := mkImageFile(p.ID, "20250101_0000", "root.squashfs", store.ImageSquashFS)
	root.UploadedAt = ts(0) // the version exists: only the file is added
	must(t, s.CreateImageFile(c, &root))
	meta.CombinedSquashFS, meta.CombinedDiskKVM = "c1", "c2"
	must(t, s.SetImageFileCombined(c, &meta))

	newer := mkImageFile(p.ID, "20250102", "lxd_combined.tar.gz", store.ImageUnified)
	newer.UploadedAt = ts(3600e9)
	must(t, s.CreateImageFile(c, &newer))

	files, err := s.ListImageFiles(c, p.ID)
	count(t, "ListImageFiles", files, err, 3)
	equal(t, "ListImageFiles", files, []store.ImageFile{meta, root, newer})
	all, err := s.ListImageFiles(c, "")
	must(t, err)
	equal(t, "ListImageFiles of every product", all, files)
	none, err := s.ListImageFiles(c, "nope")
	count(t, "files of a missing product", none, err, 0)

	versions, err := s.ListImageVersions(c, p.ID)
	must(t, err)
	equal(t, "ListImageVersions", versions, []store.ImageVersion{
		{ProductID: p.ID, Serial: "20250101_0000", CreatedAt: ts(0)}, {ProductID: p.ID, Serial: "20250102", CreatedAt: ts(3600e9)}})

	// One file per name and one per type in a version.
	same := mkImageFile(p.ID, "20250101_0000", "lxd.tar.xz", store.ImageDiskKVM)
	isErr(t, s.CreateImageFile(c, &same), store.ErrConflict, "a second file of the same name")
	sameType := mkImageFile(p.ID, "20250101_0000", "other.squashfs", store.ImageSquashFS)
	isErr(t, s.CreateImageFile(c, &sameType), store.ErrConflict, "a second file of the same type")
	// Other versions and products are free to have them.
	again := mkImageFile(p.ID, "20250103", "lxd.tar.xz", store.ImageMetadata)
	must(t, s.CreateImageFile(c, &again))

	orphan := mkImageFile("nope:1:amd64:default", "20250101", "lxd.tar.xz", store.ImageMetadata)
	isErr(t, s.CreateImageFile(c, &orphan), store.ErrNotFound, "a file of a missing product")
	ghost := mkImageFile(p.ID, "20250104", "x.squashfs", store.ImageSquashFS)
	ghost.UploadedBy = 9999
	isErr(t, s.CreateImageFile(c, &ghost), store.ErrNotFound, "a file of a missing uploader")
	// The failed insert left no empty version behind.
	versions, err = s.ListImageVersions(c, p.ID)
	count(t, "versions after failed inserts", versions, err, 3)

	unknown := store.ImageFile{ID: 9999}
	isErr(t, s.SetImageFileCombined(c, &unknown), store.ErrNotFound, "SetImageFileCombined of a missing file")

	// Deleting a version takes its files and nothing else.
	must(t, s.DeleteImageVersion(c, p.ID, "20250101_0000"))
	files, err = s.ListImageFiles(c, p.ID)
	count(t, "files after DeleteImageVersion", files, err, 2)
	if files[0].Serial != "20250102" || files[1].Serial != "20250103" {
		t.Errorf("files after DeleteImageVersion: %+v", files)
	}
	isErr(t, s.DeleteImageVersion(c, p.ID, "20250101_0000"), store.ErrNotFound, "deleting a version twice")
	versions, err = s.ListImageVersions(c, "")
	count(t, "every version", versions, err, 2)

	// The uploader's deletion keeps the files.
	must(t, s.DeleteUser(c, u.ID))
	_, err = s.ListImageFiles(c, p.ID)
	must(t, err)
}

// testImageFileConcurrent: of concurrent inserts of the same file, exactly one wins; the others
// get ErrConflict (the backstop of the image store's in-process lock).
func testImageFileConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	p := mkImageProduct(t, s, "debian:bookworm:amd64:default")
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			f := mkImageFile(p.ID, "20250101", "root.squashfs", store.ImageSquashFS)
			errs[i] = s.CreateImageFile(c, &f)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("concurrent CreateImageFile: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent inserts of one file succeeded, want 1", ok)
	}
	files, err := s.ListImageFiles(c, p.ID)
	count(t, "files after concurrent inserts", files, err, 1)
}

// testImageInTxRollback: a file created in a transaction that fails is gone with its version.
func testImageInTxRollback(t *testing.T, s store.Store) {
	c := ctx(t)
	p := mkImageProduct(t, s, "debian:bookworm:amd64:default")
	boom := errors.New("boom")
	err := s.InTx(c, func(tx store.Store) error {
		f := mkImageFile(p.ID, "20250101", "root.squashfs", store.ImageSquashFS)
		must(t, tx.CreateImageFile(c, &f))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v", err)
	}
	versions, err := s.ListImageVersions(c, "")
	count(t, "versions after rollback", versions, err, 0)
	files, err := s.ListImageFiles(c, "")
	count(t, "files after rollback", files, err, 0)
}
