package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/deskhub/deskhub/internal/store"
)

// ---- image server (simplestreams) -------------------------------------------

const imageProductCols = `id, os, release_name, arch, variant, release_title, aliases, created_by, created_at`

func scanImageProduct(r scanner) (store.ImageProduct, error) {
	var v store.ImageProduct
	var aliases string
	err := r.Scan(&v.ID, &v.OS, &v.Release, &v.Arch, &v.Variant, &v.ReleaseTitle, &aliases, intCol{&v.CreatedBy},
		timeCol{&v.CreatedAt})
	v.Aliases = splitAliases(aliases)
	return v, err
}

func splitAliases(s string) []string {
	out := []string{}
	for _, a := range strings.Split(s, ",") {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (s *Store) CreateImageProduct(ctx context.Context, p *store.ImageProduct) error {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now()
	}
	p.CreatedAt = norm(p.CreatedAt)
	if p.Aliases == nil {
		p.Aliases = []string{}
	}
	what := fmt.Sprintf("create image product %q", p.ID)
	parent := ""
	if p.CreatedBy != 0 {
		parent = fmt.Sprintf("user %d", p.CreatedBy)
	}
	return s.InTx(ctx, func(tx store.Store) error {
		t := tx.(*Store)
		_, err := t.q.ExecContext(ctx, `INSERT INTO image_products (`+imageProductCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			p.ID, p.OS, p.Release, p.Arch, p.Variant, p.ReleaseTitle, strings.Join(p.Aliases, ","), iv(p.CreatedBy),
			tv(p.CreatedAt))
		if err != nil {
			return t.fail(err, what, parent)
		}
		for _, a := range p.Aliases {
			if _, err := t.q.ExecContext(ctx, `INSERT INTO image_aliases (alias, product_id) VALUES ($1, $2)`, a, p.ID); err != nil {
				return t.fail(err, fmt.Sprintf("%s: alias %q", what, a), "")
			}
		}
		return nil
	})
}

func (s *Store) GetImageProduct(ctx context.Context, id string) (store.ImageProduct, error) {
	return one(ctx, s, fmt.Sprintf("image product %q", id), scanImageProduct,
		`SELECT `+imageProductCols+` FROM image_products WHERE id = $1`, id)
}

// Text orderings are made in Go, byte-wise: a PostgreSQL database's collation (its locale) would
// otherwise order ids differently from SQLite.

func (s *Store) ListImageProducts(ctx context.Context) ([]store.ImageProduct, error) {
	out, err := list(ctx, s, "list image products", scanImageProduct, `SELECT `+imageProductCols+` FROM image_products`)
	slices.SortFunc(out, func(a, b store.ImageProduct) int { return strings.Compare(a.ID, b.ID) })
	return out, err
}

func scanImageVersion(r scanner) (store.ImageVersion, error) {
	var v store.ImageVersion
	err := r.Scan(&v.ProductID, &v.Serial, timeCol{&v.CreatedAt})
	return v, err
}

func (s *Store) ListImageVersions(ctx context.Context, productID string) ([]store.ImageVersion, error) {
	const q = `SELECT product_id, serial, created_at FROM image_versions`
	var out []store.ImageVersion
	var err error
	if productID == "" {
		out, err = list(ctx, s, "list image versions", scanImageVersion, q)
	} else {
		out, err = list(ctx, s, fmt.Sprintf("list versions of image product %q", productID), scanImageVersion,
			q+` WHERE product_id = $1`, productID)
	}
	slices.SortFunc(out, func(a, b store.ImageVersion) int {
		return cmp.Or(strings.Compare(a.ProductID, b.ProductID), strings.Compare(a.Serial, b.Serial))
	})
	return out, err
}

const imageFileCols = `id, product_id, serial, name, ftype, path, size, sha256, combined_squashfs_sha256,
	combined_disk_kvm_sha256, uploaded_by, uploaded_at`

func scanImageFile(r scanner) (store.ImageFile, error) {
	var v store.ImageFile
	err := r.Scan(&v.ID, &v.ProductID, &v.Serial, &v.Name, &v.Type, &v.Path, &v.Size, &v.SHA256, &v.CombinedSquashFS,
		&v.CombinedDiskKVM, intCol{&v.UploadedBy}, timeCol{&v.UploadedAt})
	return v, err
}

// CreateImageFile inserts the version unless it exists (ON CONFLICT DO
// NOTHING), then the file, in one transaction.
func (s *Store) CreateImageFile(ctx context.Context, f *store.ImageFile) error {
	if f.UploadedAt.IsZero() {
		f.UploadedAt = now()
	}
	f.UploadedAt = norm(f.UploadedAt)
	what := fmt.Sprintf("create image file %q of %s version %s", f.Name, f.ProductID, f.Serial)
	return s.InTx(ctx, func(tx store.Store) error {
		t := tx.(*Store)
		_, err := t.q.ExecContext(ctx, `INSERT INTO image_versions (product_id, serial, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (product_id, serial) DO NOTHING`, f.ProductID, f.Serial, tv(f.UploadedAt))
		if err != nil {
			return t.fail(err, what, fmt.Sprintf("image product %q", f.ProductID))
		}
		parent := ""
		if f.UploadedBy != 0 {
			parent = fmt.Sprintf("user %d", f.UploadedBy)
		}
		err = t.q.QueryRowContext(ctx, `INSERT INTO image_files (product_id, serial, name, ftype, path, size, sha256,
				combined_squashfs_sha256, combined_disk_kvm_sha256, uploaded_by, uploaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			f.ProductID, f.Serial, f.Name, f.Type, f.Path, f.Size, f.SHA256, f.CombinedSquashFS, f.CombinedDiskKVM,
			iv(f.UploadedBy), tv(f.UploadedAt)).Scan(&f.ID)
		return t.fail(err, what, parent)
	})
}

func (s *Store) SetImageFileCombined(ctx context.Context, f *store.ImageFile) error {
	return s.execOne(ctx, fmt.Sprintf("image file %d", f.ID), "",
		`UPDATE image_files SET combined_squashfs_sha256 = $2, combined_disk_kvm_sha256 = $3 WHERE id = $1`,
		f.ID, f.CombinedSquashFS, f.CombinedDiskKVM)
}

func (s *Store) ListImageFiles(ctx context.Context, productID string) ([]store.ImageFile, error) {
	const q = `SELECT ` + imageFileCols + ` FROM image_files`
	var out []store.ImageFile
	var err error
	if productID == "" {
		out, err = list(ctx, s, "list image files", scanImageFile, q)
	} else {
		out, err = list(ctx, s, fmt.Sprintf("list files of image product %q", productID), scanImageFile,
			q+` WHERE product_id = $1`, productID)
	}
	slices.SortFunc(out, func(a, b store.ImageFile) int {
		return cmp.Or(strings.Compare(a.ProductID, b.ProductID), strings.Compare(a.Serial, b.Serial),
			strings.Compare(a.Name, b.Name))
	})
	return out, err
}

func (s *Store) DeleteImageVersion(ctx context.Context, productID, serial string) error {
	return s.execOne(ctx, fmt.Sprintf("image product %q version %s", productID, serial), "",
		`DELETE FROM image_versions WHERE product_id = $1 AND serial = $2`, productID, serial)
}
