package imagebuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Product is the simplestreams product (image line) an image belongs to on a deskhub server: its id
// there is os:release:arch:variant, e.g. debian:bookworm:amd64:desktop.
type Product struct {
	OS, Release, Arch, Variant string
	ReleaseTitle               string
	Aliases                    string // comma-separated aliases LXD clients launch it by
}

// ProductOf is the product of a build: debian, the suite, the Debian architecture, variant desktop.
func ProductOf(r *Report) Product {
	return Product{OS: "debian", Release: r.Suite, Arch: r.Arch, Variant: "desktop",
		ReleaseTitle: "Debian " + r.Suite + " (deskhub desktop)",
		Aliases:      "deskhub/" + r.Suite + "/desktop"}
}

// Publisher uploads images to an image server. The command line implements it with the Go client of a
// deskhub server (simplestream.add and simplestream.upload).
type Publisher interface {
	// EnsureProduct finds the product on the server, adding it when missing, and returns its id.
	EnsureProduct(ctx context.Context, p Product) (id string, err error)
	// Upload sends the image file of version serial of the product: size bytes read from r, under
	// fileName (the image's base name; simplestreams ftype lxd_combined.tar.gz, a unified tarball), whose
	// SHA-256 is sha256 (the server refuses a file that does not match).
	Upload(ctx context.Context, productID, serial, fileName string, r io.Reader, size int64, sha256 string) error
}

// Publish uploads the image of a finished build through p.
func Publish(ctx context.Context, p Publisher, r *Report) error {
	if r.Output == "" {
		return fmt.Errorf("publish: the build made no image")
	}
	f, err := os.Open(r.Output)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	id, err := p.EnsureProduct(ctx, ProductOf(r))
	if err != nil {
		return fmt.Errorf("publish: product: %w", err)
	}
	if err := p.Upload(ctx, id, r.Serial, filepath.Base(r.Output), f, info.Size(), r.SHA256); err != nil {
		return fmt.Errorf("publish: upload %s as %s version %s: %w", filepath.Base(r.Output), id, r.Serial, err)
	}
	return nil
}
