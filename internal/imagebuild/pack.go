package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
)

// Compressions are the output compressions, each made by its own binary.
var Compressions = map[string]struct {
	Ext  string   // file name extension of the image
	Argv []string // the compressor, reading the tar stream on stdin
}{
	// xz: the smallest image. -T0: a thread per core (blocks of 3×dictionary, still one .xz file).
	"xz": {".tar.xz", []string{"xz", "-T0", "-6", "-c"}},
	// gzip: the fastest to decompress, biggest.
	"gzip": {".tar.gz", []string{"gzip", "-6", "-c"}},
	// zstd -19: a little bigger than xz, much faster to decompress.
	"zstd": {".tar.zst", []string{"zstd", "-q", "-T0", "-19", "-c"}},
}

// DefaultCompression is xz: see Compressions and docs/IMAGES.md for the measurements.
const DefaultCompression = "xz"

// inode returns the inode number of a file from its FileInfo.
func inode(info fs.FileInfo) (uint64, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Ino, true
}

// counter counts the bytes written through it, for progress.
type counter struct{ n atomic.Int64 }

func (c *counter) Write(p []byte) (int, error) { c.n.Add(int64(len(p))); return len(p), nil }

// packResult is what pack made.
type packResult struct {
	SHA256       string
	Size         int64 // compressed
	Uncompressed int64 // the tar stream
}

// pack writes the unified image tarball of dir (metadata.yaml, templates/, rootfs/) to out: GNU tar
// (numeric owners, extended attributes such as file capabilities, sorted names, one file system) piped
// through the compressor. in and outN count the tar and compressed bytes as they flow (progress).
func pack(ctx context.Context, dir string, compression string, out io.Writer, in, outN *counter) (packResult, error) {
	comp := Compressions[compression]
	tarCmd := command(ctx, "tar", "--create", "--file=-", "--numeric-owner", "--xattrs", "--xattrs-include=*",
		"--sort=name", "--one-file-system", "--directory="+dir, "metadata.yaml", "templates", "rootfs")
	zCmd := command(ctx, comp.Argv[0], comp.Argv[1:]...)
	var tarErr, zErr limitedBuffer
	tarCmd.Stderr = &tarErr
	zCmd.Stderr = &zErr

	tarOut, err := tarCmd.StdoutPipe()
	if err != nil {
		return packResult{}, err
	}
	zIn, err := zCmd.StdinPipe()
	if err != nil {
		return packResult{}, err
	}
	zOut, err := zCmd.StdoutPipe()
	if err != nil {
		return packResult{}, err
	}
	if err := zCmd.Start(); err != nil {
		return packResult{}, fmt.Errorf("%s: %w", comp.Argv[0], err)
	}
	if err := tarCmd.Start(); err != nil {
		killGroup(zCmd)
		_ = zCmd.Wait()
		return packResult{}, fmt.Errorf("tar: %w", err)
	}

	// tar → (count) → compressor
	feedErr := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.MultiWriter(zIn, in), tarOut)
		cerr := zIn.Close()
		if err == nil {
			err = cerr
		}
		feedErr <- err
	}()
	// compressor → (count, hash) → out
	h := sha256.New()
	_, copyErr := io.Copy(io.MultiWriter(out, h, outN), zOut)
	if copyErr != nil {
		killGroup(tarCmd)
		killGroup(zCmd)
	}
	ferr := <-feedErr
	terr := tarCmd.Wait()
	zerr := zCmd.Wait()
	killGroup(tarCmd)
	killGroup(zCmd)
	if ctx.Err() != nil {
		return packResult{}, ctx.Err()
	}
	switch {
	case terr != nil:
		return packResult{}, fmt.Errorf("tar: %v: %s", terr, tarErr.String())
	case zerr != nil:
		return packResult{}, fmt.Errorf("%s: %v: %s", comp.Argv[0], zerr, zErr.String())
	case copyErr != nil:
		return packResult{}, fmt.Errorf("write image: %w", copyErr)
	case ferr != nil && !errors.Is(ferr, os.ErrClosed):
		return packResult{}, fmt.Errorf("feed %s: %w", comp.Argv[0], ferr)
	}
	return packResult{SHA256: hex.EncodeToString(h.Sum(nil)), Size: outN.n.Load(), Uncompressed: in.n.Load()}, nil
}

// limitedBuffer keeps the first 8 KiB written to it (a command's stderr).
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 8<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// haveCompressor reports whether the binary of a compression is installed.
func haveCompressor(compression string) error {
	c, ok := Compressions[compression]
	if !ok {
		return fmt.Errorf("unknown compression %q (xz, gzip or zstd)", compression)
	}
	if _, err := exec.LookPath(c.Argv[0]); err != nil {
		return fmt.Errorf("compression %s needs the %s binary: %w", compression, c.Argv[0], err)
	}
	return nil
}
