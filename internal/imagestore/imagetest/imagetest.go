// Package imagetest builds image files for tests of the image server (imagestore, the server's
// simplestream.* endpoints): tarballs with metadata.yaml, plain or compressed, and the magic of
// squashfs and qcow2 files. Tests only; nothing here touches the network.
package imagetest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// Tar describes a tarball.
type Tar struct {
	// Metadata is metadata.yaml's content ("": the tarball has none).
	Metadata string
	// Rootfs adds rootfs/ with a file (a unified container image).
	Rootfs bool
	// Files are more regular files, by name.
	Files map[string]string
	// Compression: "" (plain), "gzip", "xz" or "zstd".
	Compression string
}

// Meta is a metadata.yaml of the architecture (kernel or Debian name).
func Meta(arch string) string {
	return fmt.Sprintf("architecture: %s\ncreation_date: 1764547200\nproperties:\n  os: debian\n  release: bookworm\n  description: test image\n", arch)
}

// Tarball builds the tarball.
func Tarball(t testing.TB, spec Tar) []byte {
	t.Helper()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	add := func(name, content string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, content); err != nil {
			t.Fatal(err)
		}
	}
	if spec.Metadata != "" {
		add("metadata.yaml", spec.Metadata)
	}
	names := make([]string, 0, len(spec.Files))
	for name := range spec.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		add(name, spec.Files[name])
	}
	if spec.Rootfs {
		if err := tw.WriteHeader(&tar.Header{Name: "rootfs/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			t.Fatal(err)
		}
		add("rootfs/etc/hostname", "deskhub-test\n")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return Compress(t, raw.Bytes(), spec.Compression)
}

// Compress compresses b: "" (as is), "gzip", "xz" or "zstd".
func Compress(t testing.TB, b []byte, how string) []byte {
	t.Helper()
	var out bytes.Buffer
	var w io.WriteCloser
	var err error
	switch how {
	case "":
		return b
	case "gzip":
		w = gzip.NewWriter(&out)
	case "xz":
		w, err = xz.NewWriter(&out)
	case "zstd":
		w, err = zstd.NewWriter(&out)
	default:
		t.Fatalf("imagetest: unknown compression %q", how)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// SquashFS is a file of size bytes with squashfs's magic (enough for the classifier).
func SquashFS(size int, seed byte) []byte { return withMagic("hsqs", size, seed) }

// Qcow2 is a file of size bytes with qcow2's magic.
func Qcow2(size int, seed byte) []byte { return withMagic("QFI\xfb", size, seed) }

func withMagic(magic string, size int, seed byte) []byte {
	b := make([]byte, max(size, len(magic)))
	for i := range b {
		b[i] = byte(i) ^ seed
	}
	copy(b, magic)
	return b
}
