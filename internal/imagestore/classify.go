package imagestore

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"io"
	"path"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"go.yaml.in/yaml/v4"

	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// Compressions of tarballs, by their magic bytes.
const (
	CompressNone  = ""
	CompressGzip  = "gzip"
	CompressXz    = "xz"
	CompressZstd  = "zstd"
	CompressBzip2 = "bzip2"
)

// maxMetadata bounds metadata.yaml (LXD's are a few hundred bytes, with templates listed in them).
const maxMetadata = 1 << 20

// Class is what an uploaded file is.
type Class struct {
	// Type is the simplestreams ftype: store.ImageUnified, ImageMetadata, ImageSquashFS or ImageDiskKVM.
	Type string
	// Compression of a tarball (CompressNone for a plain one and for disks).
	Compression string
	// Metadata is metadata.yaml of a tarball (nil for root files).
	Metadata *Metadata
}

// Metadata is what deskhub reads of an image's metadata.yaml.
type Metadata struct {
	Architecture string            `yaml:"architecture"`
	CreationDate int64             `yaml:"creation_date"`
	ExpiryDate   int64             `yaml:"expiry_date"`
	Properties   map[string]string `yaml:"properties"`
}

// DefaultName is the name a file of this class is stored under when the upload names none.
func (c Class) DefaultName() string {
	ext := map[string]string{CompressGzip: ".gz", CompressXz: ".xz", CompressZstd: ".zst", CompressBzip2: ".bz2"}[c.Compression]
	switch c.Type {
	case store.ImageUnified:
		return "lxd_combined.tar" + ext
	case store.ImageMetadata:
		return "lxd.tar" + ext
	case store.ImageSquashFS:
		return "root.squashfs"
	}
	return "disk.qcow2"
}

var (
	magicSquashFS = []byte("hsqs")
	magicQcow2    = []byte("QFI\xfb")
	magicGzip     = []byte{0x1f, 0x8b}
	magicXz       = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd     = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2    = []byte("BZh")
)

// notImage is the 400 of a file that is none of the kinds an image server holds.
func notImage(format string, args ...any) error {
	return fault.Memberf("file", ": not an image: "+format, args...)
}

// Classify tells what the file read from r is: a squashfs (magic "hsqs") or a qcow2 disk (magic
// "QFI\xfb") is a split image's root file; a tarball, plain or compressed (gzip, xz, zstd or bzip2,
// told by their magic), with metadata.yaml is a unified image when it also has rootfs/ (a container)
// or rootfs.img (a virtual machine), else a split image's metadata. metadata.yaml must name the
// architecture and the creation date. Anything else is refused (fault.Invalid about "file").
// Classify reads no more of a tarball than it needs, and holds no more than metadata.yaml in memory;
// a compressed tarball that unpacks to more than 32 times size plus 64 MiB before both are found is
// refused as a decompression bomb (size is the file's length; LXD's images unpack to a few times it).
func Classify(r io.Reader, size int64) (Class, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, _ := br.Peek(512)
	switch {
	case bytes.HasPrefix(head, magicSquashFS):
		return Class{Type: store.ImageSquashFS}, nil
	case bytes.HasPrefix(head, magicQcow2):
		return Class{Type: store.ImageDiskKVM}, nil
	}
	var (
		c   = Class{Compression: CompressNone}
		in  io.Reader
		err error
	)
	switch {
	case bytes.HasPrefix(head, magicGzip):
		c.Compression = CompressGzip
		var z *gzip.Reader
		if z, err = gzip.NewReader(br); err == nil {
			defer z.Close()
			in = z
		}
	case bytes.HasPrefix(head, magicXz):
		c.Compression = CompressXz
		in, err = xz.NewReader(br)
	case bytes.HasPrefix(head, magicZstd):
		c.Compression = CompressZstd
		var z *zstd.Decoder
		if z, err = zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(256<<20)); err == nil {
			defer z.Close()
			in = z
		}
	case bytes.HasPrefix(head, magicBzip2):
		c.Compression = CompressBzip2
		in = bzip2.NewReader(br)
	default:
		in = br
	}
	if err != nil {
		return Class{}, notImage("a broken %s stream (%v)", c.Compression, err)
	}
	if c.Compression != CompressNone {
		in = &unpackLimit{r: in, left: 32*max(size, 0) + 64<<20}
	}
	tb := bufio.NewReaderSize(in, 4096)
	th, _ := tb.Peek(512)
	if !isTar(th) {
		if c.Compression != CompressNone {
			return Class{}, notImage("a %s stream that holds no tarball", c.Compression)
		}
		return Class{}, notImage("want a tarball with metadata.yaml (plain, gzip, xz, zstd or bzip2), a squashfs or a qcow2 disk")
	}
	meta, rootfs, err := scanTar(tb)
	if err != nil {
		return Class{}, err
	}
	if meta == nil {
		return Class{}, notImage("no metadata.yaml")
	}
	m, err := parseMetadata(meta)
	if err != nil {
		return Class{}, err
	}
	c.Metadata = m
	c.Type = store.ImageMetadata
	if rootfs {
		c.Type = store.ImageUnified
	}
	return c, nil
}

// unpackLimit fails a decompressed stream once it has given more than left bytes.
type unpackLimit struct {
	r    io.Reader
	left int64
}

var errUnpackLimit = errors.New("it unpacks to far more than its size (a decompression bomb?)")

func (u *unpackLimit) Read(p []byte) (int, error) {
	if u.left <= 0 {
		return 0, errUnpackLimit
	}
	if int64(len(p)) > u.left {
		p = p[:u.left]
	}
	n, err := u.r.Read(p)
	u.left -= int64(n)
	return n, err
}

// isTar tells a tar header block: "ustar" at offset 257 (POSIX and GNU).
func isTar(block []byte) bool {
	return len(block) >= 262 && string(block[257:262]) == "ustar"
}

// scanTar walks a tarball until it has seen metadata.yaml and a root file system, and answers
// metadata.yaml's content (nil if absent) and whether rootfs/ or rootfs.img is there.
func scanTar(r io.Reader) ([]byte, bool, error) {
	tr := tar.NewReader(r)
	var meta []byte
	rootfs := false
	for meta == nil || !rootfs {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, notImage("a broken tarball (%v)", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		switch {
		case name == "metadata.yaml":
			if h.Typeflag != tar.TypeReg {
				return nil, false, notImage("metadata.yaml is not a regular file")
			}
			if meta != nil {
				return nil, false, notImage("the tarball has metadata.yaml twice")
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxMetadata+1))
			if err != nil {
				return nil, false, notImage("a broken tarball (%v)", err)
			}
			if len(b) > maxMetadata {
				return nil, false, notImage("metadata.yaml is larger than %d bytes", maxMetadata)
			}
			meta = b
		case name == "rootfs" || strings.HasPrefix(name, "rootfs/") || name == "rootfs.img":
			rootfs = true
		}
	}
	return meta, rootfs, nil
}

// parseMetadata reads metadata.yaml: architecture and creation_date are required.
func parseMetadata(b []byte) (*Metadata, error) {
	var m Metadata
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, notImage("metadata.yaml is not valid YAML of an image's metadata (%v)", firstLine(err.Error()))
	}
	if strings.TrimSpace(m.Architecture) == "" {
		return nil, notImage("metadata.yaml has no architecture")
	}
	if m.CreationDate <= 0 {
		return nil, notImage("metadata.yaml has no creation_date (seconds since 1970)")
	}
	return &m, nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// checkMetadataArch refuses metadata of another architecture than the product's.
func checkMetadataArch(m *Metadata, productArch string) error {
	if m == nil || sameArch(m.Architecture, productArch) {
		return nil
	}
	return fault.Memberf("file", ": metadata.yaml says architecture %q, the product is %s", m.Architecture, productArch)
}
