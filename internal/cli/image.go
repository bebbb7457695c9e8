package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strings"

	"golang.org/x/term"

	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/imagebuild"
)

// `deskhub image build`: the desktop image for LXD/Incus (internal/imagebuild), and its upload to a
// deskhub server's image server with --publish.

func imageUsage(w io.Writer) {
	fmt.Fprintln(w, `Usage: deskhub image <subcommand> [flags]

Subcommands:
  build  [--suite bookworm] [--arch amd64] [--packages …] [--extra-packages …] [--output FILE]
         [--compression xz|gzip|zstd] [--download-only] [--offline] [--publish URL] …
         build the desktop image (Debian with debootstrap, deskhub, the desktop user) as a unified
         LXD/Incus image tarball; 'deskhub image build --help' lists every flag`)
}

func runImage(ctx context.Context, e *Env, args []string) error {
	return dispatch(ctx, e, "image", args, imageUsage, map[string]func(context.Context, *Env, []string) error{
		"build": runImageBuild})
}

// splitList splits a comma (or space) separated list.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

func runImageBuild(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "image build", "image build [flags]")
	b := &envFlags{e: e, fs: fs}
	var o imagebuild.Options
	var packages, extra, publish, token string
	var asJSON bool
	b.string(&o.Suite, "suite", "DESKHUB_IMAGE_SUITE", imagebuild.DefaultSuite, "Debian suite")
	b.string(&o.Arch, "arch", "DESKHUB_IMAGE_ARCH", imagebuild.DebianArch(runtime.GOARCH), "Debian architecture (amd64, arm64, …; default: this machine's)")
	b.string(&o.Variant, "variant", "DESKHUB_IMAGE_VARIANT", imagebuild.DefaultVariant, "debootstrap variant")
	b.string(&packages, "packages", "DESKHUB_IMAGE_PACKAGES", strings.Join(imagebuild.DefaultPackages, ","), "packages to install (comma-separated; their dependencies come along, recommendations do not)")
	b.string(&extra, "extra-packages", "DESKHUB_IMAGE_EXTRA_PACKAGES", "", "more packages, added to --packages (comma-separated)")
	b.string(&o.Mirror, "mirror", "DESKHUB_IMAGE_MIRROR", "", "Debian mirror (default: the one this machine's apt sources name, else "+imagebuild.DefaultMirror+")")
	b.string(&o.Output, "output", "DESKHUB_IMAGE_OUTPUT", "", "image file to write (default: deskhub-<suite>-<arch>-<serial>.tar.xz here)")
	b.string(&o.Compression, "compression", "DESKHUB_IMAGE_COMPRESSION", imagebuild.DefaultCompression, "xz (smallest), zstd or gzip: each needs its binary")
	b.string(&o.CacheDir, "cache-dir", "DESKHUB_IMAGE_CACHE_DIR", imagebuild.DefaultCacheDir, "cache of debootstrap tarballs and built images")
	b.string(&o.Binary, "deskhub-binary", "DESKHUB_IMAGE_BINARY", "", "deskhub binary to put in the image, static (make build) (default: this one)")
	b.string(&o.Serial, "serial", "DESKHUB_IMAGE_SERIAL", "", "version serial of the image (default: now, UTC YYYYMMDD_HHMM; a cached image keeps its own)")
	b.bool(&o.DownloadOnly, "download-only", "DESKHUB_IMAGE_DOWNLOAD_ONLY", false, "only download the packages into the cache (debootstrap --make-tarball)")
	b.bool(&o.Offline, "offline", "DESKHUB_IMAGE_OFFLINE", false, "never download: fail if the packages are not in the cache")
	b.string(&publish, "publish", "DESKHUB_IMAGE_PUBLISH", "", "after the build, upload the image to the deskhub server at this URL")
	b.string(&token, "token", "DESKHUB_TOKEN", "", "token for --publish (default: the one of deskhub login for that URL)")
	fs.BoolVar(&asJSON, "json", false, "print the build report as JSON")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	o.Packages = splitList(packages)
	o.ExtraPackages = splitList(extra)
	if len(o.Packages) == 0 {
		return usageError(e, fs, "deskhub image build: --packages is empty")
	}

	// --publish is checked before the build, which takes minutes.
	var pub imagebuild.Publisher
	if publish != "" {
		if o.DownloadOnly {
			return usageError(e, fs, "deskhub image build: --publish and --download-only exclude each other")
		}
		c, err := publishClient(e, publish, token)
		if err != nil {
			return fmt.Errorf("--publish: %w", err)
		}
		pub = &clientPublisher{c: c}
	}

	tty := false
	if f, ok := e.Stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	progress := imagebuild.NewProgress(e.Stderr, tty)
	o.Progress = progress.Event
	rep, err := imagebuild.Build(ctx, o)
	progress.Close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("interrupted: nothing was left behind (temporary files removed)")
		}
		return err
	}
	// The report first: a failed upload leaves a good image, whose path the user then has.
	if asJSON {
		if err := printJSON(e.Stdout, rep); err != nil {
			return err
		}
	} else {
		printImageReport(e.Stdout, rep)
	}
	if pub != nil {
		fmt.Fprintf(e.Stderr, "publishing to %s …\n", publish)
		if err := imagebuild.Publish(ctx, pub, rep); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "published as %s (%s), version %s\n", imagebuild.ProductOf(rep).Aliases, publish, rep.Serial)
	}
	return nil
}

func printImageReport(w io.Writer, r *imagebuild.Report) {
	if r.Output == "" {
		state := "downloaded"
		if r.TarballCached {
			state = "already cached"
		}
		fmt.Fprintf(w, "packages  %s (%s)\nlog       %s\n", r.Tarball, state, r.Log)
		return
	}
	serial := r.Serial
	if r.Cached {
		serial += " (the cached image, reused: nothing changed since it was built, so it was not repacked)"
	}
	fmt.Fprintf(w, "image     %s\n", r.Output)
	fmt.Fprintf(w, "serial    %s\n", serial)
	fmt.Fprintf(w, "sha256    %s (LXD's fingerprint)\n", r.SHA256)
	fmt.Fprintf(w, "size      %s compressed, %s uncompressed\n", imagebuild.MiB(r.Size), imagebuild.MiB(r.Uncompressed))
	fmt.Fprintf(w, "deskhub   %s\n", dash(r.Version))
	fmt.Fprintf(w, "time      %s\n", r.Elapsed.Round(100_000_000))
	fmt.Fprintf(w, "import    lxc image import %s --alias deskhub-desktop\n", r.Output)
}

// publishClient checks the --publish URL and finds its token: --token (DESKHUB_TOKEN), else the token
// deskhub login saved for that same server.
func publishClient(e *Env, raw, token string) (*client.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL of a deskhub server", raw)
	}
	if token == "" {
		cfg, _, err := loadConfig(e)
		if err != nil {
			return nil, err
		}
		if strings.TrimSuffix(cfg.URL, "/") == strings.TrimSuffix(raw, "/") {
			token = cfg.Token
		}
	}
	if token == "" {
		return nil, fmt.Errorf("no token for %s: run 'deskhub login %s' first, or pass --token (DESKHUB_TOKEN)", raw, raw)
	}
	return client.New(raw, &client.Options{Token: token, UserAgent: userAgent()})
}

// clientPublisher publishes through the Go client: simplestream.list and simplestream.add for the
// product, the streamed upload for the file.
type clientPublisher struct{ c *client.Client }

func (p *clientPublisher) EnsureProduct(ctx context.Context, pr imagebuild.Product) (string, error) {
	list, err := p.c.SimplestreamList(ctx)
	if err != nil {
		return "", err
	}
	for _, r := range list.Data {
		a := r.Attributes
		if a.ProductOS == pr.OS && a.ProductRelease == pr.Release && a.ProductArch == pr.Arch && a.ProductVariant == pr.Variant {
			return a.ProductID, nil
		}
	}
	doc, err := p.c.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductAliases: pr.Aliases, ProductArch: pr.Arch,
		ProductOS: pr.OS, ProductRelease: pr.Release, ProductReleaseTitle: pr.ReleaseTitle, ProductVariant: pr.Variant})
	if err != nil {
		return "", err
	}
	return doc.Data.Attributes.ProductID, nil
}

// Upload streams the file (multipart, not base64 in JSON); the server checks it against sha256.
func (p *clientPublisher) Upload(ctx context.Context, productID, serial, fileName string, r io.Reader, size int64, sha256 string) error {
	doc, err := p.c.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: productID, ProductVersionSerial: serial,
		FileSHA256: sha256}, fileName, r, size)
	if err != nil {
		return err
	}
	if got := doc.Data.Attributes.FileSize; got != 0 && got != size {
		return fmt.Errorf("the server stored %d bytes of %d", got, size)
	}
	return nil
}
