package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/imagestore"
	"github.com/deskhub/deskhub/internal/infra"
	"github.com/deskhub/deskhub/internal/store"
)

// The simplestreams image server: simplestream.add/list/images/upload (adapters over
// internal/imagestore) and the tree LXD and Incus read, served under two bases.

// Bases of the simplestreams tree. LXD and Incus are given a base as the image server's URL and read
// <base>/streams/v1/index.json, then images.json and the files at <base>/<item path>. ui-vmm's web
// panel tells LXD ${origin}/api/v1/simplestream.list, so the tree is served there as well.
const (
	treeBase    = "/simplestreams"
	treeBaseAPI = "/api/v1/simplestream.list"
)

// uploadFormSlack is what a multipart body may carry beyond the file (boundaries, headers, payload).
const uploadFormSlack = 1 << 20

// maxJSONUpload bounds simplestream.upload's JSON form (the file base64 in the body, held in memory):
// larger files go as multipart/form-data, streamed.
const maxJSONUpload = 64 << 20

// setupImages builds the image server when --simplestream is on. InUse is the seam for the images LXD
// instances use (see Options.ImagesInUse).
func (s *Server) setupImages(opts Options) error {
	cfg := opts.Config
	if !cfg.Features.SimplestreamEnabled {
		return nil
	}
	dir := cfg.Images.Dir
	if dir == "" {
		dir = filepath.Join(cfg.DataDir, "images")
	}
	inUse := opts.ImagesInUse
	if inUse == nil {
		// The images LXD instances of every server were created from (s.infra is built after this).
		inUse = func(ctx context.Context) (map[string]bool, error) { return s.infra.BaseImages(ctx) }
	}
	var err error
	s.images, err = imagestore.New(imagestore.Options{Store: s.store, Dir: dir, MaxSize: cfg.Images.MaxSize,
		KeepVersions: cfg.Images.KeepVersions, MaxAge: cfg.Images.MaxAge, InUse: inUse, Log: s.log})
	return err
}

// ownImages are the images of deskhub's image server as LXD sees them (its images.json read by the
// incus client's simplestreams code).
func (s *Server) ownImages(ctx context.Context) ([]api.Image, error) {
	if s.images == nil {
		return nil, errForbiddenFeature("the simplestreams image server")
	}
	t, err := s.images.Tree(ctx)
	if err != nil {
		return nil, err
	}
	return infra.ImagesFromStream(t.Images)
}

// imagesOn answers the image server, or a 403 when it is off.
func (s *Server) imagesOn() (*imagestore.Service, error) {
	if s.images == nil {
		return nil, errForbiddenFeature("the simplestreams image server")
	}
	return s.images, nil
}

// uploadRoute gives simplestream.upload its own body limit (the largest image plus the form) and body
// deadline (--image-upload-timeout instead of --body-timeout).
func (s *Server) uploadRoute(r httpapi.Route) httpapi.Route {
	max := s.cfg.Images.MaxSize
	if s.images != nil {
		max = s.images.MaxSize()
	}
	r.MaxBody = max + uploadFormSlack
	r.BodyTimeout = s.cfg.Images.UploadTimeout
	return r
}

func productResource(p imagestore.Product) jsonapi.Resource[vmm.SimplestreamProductAttributes] {
	return jsonapi.Resource[vmm.SimplestreamProductAttributes]{Type: vmm.TypeSimplestreamProduct, ID: p.ID,
		Attributes: vmm.SimplestreamProductAttributes{ProductID: p.ID, ProductAliases: strings.Join(p.Aliases, ","),
			ProductArch: p.Arch, ProductOS: p.OS, ProductRelease: p.Release, ProductReleaseTitle: p.ReleaseTitle,
			ProductVariant: p.Variant, ProductVersions: p.Versions, ProductCreatedAt: p.CreatedAt, Provider: vmm.ProviderInternal}}
}

func imageResource(f store.ImageFile) jsonapi.Resource[vmm.SimplestreamImageAttributes] {
	fps := imagestore.Fingerprints(f)
	if fps == nil {
		fps = []string{}
	}
	return jsonapi.Resource[vmm.SimplestreamImageAttributes]{Type: vmm.TypeSimplestreamImage, ID: f.Path,
		Attributes: vmm.SimplestreamImageAttributes{ProductID: f.ProductID, ProductVersionSerial: f.Serial, FileName: f.Name,
			FileType: f.Type, FileSize: f.Size, FileSHA256: f.SHA256, FilePath: f.Path, FileUploadedAt: f.UploadedAt,
			FileFingerprints: fps, Provider: vmm.ProviderInternal},
		Relationships: map[string]jsonapi.Relationship{"product": {Data: jsonapi.Identifier{Type: vmm.TypeSimplestreamProduct, ID: f.ProductID}}}}
}

func (s *Server) simplestreamAdd(c *httpapi.Call, r *vmm.SimplestreamAddRequest) (jsonapi.One[vmm.SimplestreamProductAttributes], error) {
	var none jsonapi.One[vmm.SimplestreamProductAttributes]
	images, err := s.imagesOn()
	if err != nil {
		return none, err
	}
	p, err := images.AddProduct(c.Ctx, imagestore.ProductSpec{OS: r.ProductOS, Release: r.ProductRelease, Arch: r.ProductArch,
		Variant: r.ProductVariant, ReleaseTitle: r.ProductReleaseTitle, Aliases: r.ProductAliases, By: who(c).UserID})
	if err != nil {
		return none, err
	}
	s.audit(c, "simplestream.add", p.ID, map[string]any{"aliases": strings.Join(p.Aliases, ",")})
	return jsonapi.One[vmm.SimplestreamProductAttributes]{Data: productResource(p)}, nil
}

func (s *Server) simplestreamList(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.SimplestreamProductAttributes], error) {
	out := jsonapi.Many[vmm.SimplestreamProductAttributes]{Data: []jsonapi.Resource[vmm.SimplestreamProductAttributes]{}}
	images, err := s.imagesOn()
	if err != nil {
		return out, err
	}
	list, err := images.Products(c.Ctx)
	if err != nil {
		return out, err
	}
	for _, p := range list {
		out.Data = append(out.Data, productResource(p))
	}
	return out, nil
}

func (s *Server) simplestreamImages(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.SimplestreamImageAttributes], error) {
	out := jsonapi.Many[vmm.SimplestreamImageAttributes]{Data: []jsonapi.Resource[vmm.SimplestreamImageAttributes]{}}
	images, err := s.imagesOn()
	if err != nil {
		return out, err
	}
	files, err := images.Files(c.Ctx)
	if err != nil {
		return out, err
	}
	for _, f := range files {
		out.Data = append(out.Data, imageResource(f))
	}
	return out, nil
}

// recorder remembers the first error reading the request body met (a limit, a deadline, the client
// going away), whatever the readers above it make of it.
type recorder struct {
	r   io.Reader
	err error
}

func (b *recorder) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
	}
	return n, err
}

// bodyFailure is the answer to a body that did not arrive whole: the body's limit (413) or deadline
// (408) if it met one, else a 400.
func bodyFailure(rec *recorder, err error) error {
	var tooBig *http.MaxBytesError
	var slow *httpapi.BodyTimeoutError
	for _, e := range []error{rec.err, err} {
		if errors.As(e, &tooBig) || errors.As(e, &slow) {
			return httpapi.AsError(e)
		}
	}
	return fault.Memberf("file", ": the upload did not arrive whole (%v): nothing was stored", err)
}

// simplestreamUpload takes one file of a product version, as multipart/form-data (streamed) or as a
// JSON body with the file base64 (small files).
func (s *Server) simplestreamUpload(c *httpapi.Call) (jsonapi.One[vmm.SimplestreamImageAttributes], error) {
	var none jsonapi.One[vmm.SimplestreamImageAttributes]
	images, err := s.imagesOn()
	if err != nil {
		return none, err
	}
	if c.R.ContentLength > images.MaxSize()+uploadFormSlack {
		return none, fault.New(fault.TooLarge, "the upload is larger than this image server's limit of %d bytes", images.MaxSize())
	}
	rec := &recorder{r: c.R.Body}
	var up imagestore.Upload
	mt, params, _ := mime.ParseMediaType(c.R.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		form, err := readUploadForm(rec, params["boundary"])
		if err != nil {
			var tooBig *http.MaxBytesError
			var slow *httpapi.BodyTimeoutError
			if errors.As(rec.err, &tooBig) || errors.As(rec.err, &slow) {
				return none, httpapi.AsError(rec.err)
			}
			return none, err
		}
		up = imagestore.Upload{ProductID: form.Payload.ProductID, Serial: form.Payload.ProductVersionSerial,
			SHA256: form.Payload.FileSHA256, FileName: form.FileName, Body: form.File, Size: -1}
	} else {
		c.R.Body = http.MaxBytesReader(c.W, c.R.Body, maxJSONUpload)
		var req vmm.SimplestreamUploadRequest
		if err := httpapi.Decode(c, &req); err != nil {
			return none, err
		}
		up = imagestore.Upload{ProductID: req.Payload.ProductID, Serial: req.Payload.ProductVersionSerial,
			SHA256: req.Payload.FileSHA256, Body: bytes.NewReader(req.File), Size: int64(len(req.File))}
	}
	up.By = who(c).UserID
	f, err := images.Upload(c.Ctx, up)
	if err != nil {
		var be *imagestore.BodyError
		if errors.As(err, &be) {
			return none, bodyFailure(rec, be.Err)
		}
		return none, err
	}
	s.audit(c, "simplestream.upload", f.Path, map[string]any{"ftype": f.Type, "size": f.Size, "sha256": f.SHA256})
	return jsonapi.One[vmm.SimplestreamImageAttributes]{Data: imageResource(f)}, nil
}

// serveTree serves the simplestreams tree under base: streams/v1/index.json, streams/v1/images.json
// (cached, with ETag and Last-Modified) and the files they list (http.ServeContent: Range, ETag,
// Last-Modified, Content-Length). Nothing else below base is answered, and no file that the index
// does not list.
func (s *Server) serveTree(base string) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		images, err := s.imagesOn()
		if err != nil {
			return httpapi.NotFound("the simplestreams image server is off on this server (--simplestream)")
		}
		rel := strings.TrimPrefix(r.URL.Path, base+"/")
		switch {
		case rel == imagestore.IndexPath || rel == imagestore.ImagesPath:
			t, err := images.Tree(r.Context())
			if err != nil {
				return err
			}
			doc, tag := t.Index, t.IndexTag
			if rel == imagestore.ImagesPath {
				doc, tag = t.Images, t.ImagesTag
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("ETag", tag)
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeContent(w, r, "", t.Updated, bytes.NewReader(doc))
			return nil
		case strings.HasPrefix(rel, "images/"):
			f, rec, err := images.Open(r.Context(), rel)
			if err != nil {
				return err
			}
			defer f.Close()
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("ETag", `"`+rec.SHA256+`"`)
			w.Header().Set("Cache-Control", "public, max-age=86400")
			http.ServeContent(w, r, "", rec.UploadedAt, f)
			return nil
		}
		return httpapi.NotFound("no such file in the simplestreams tree: %s (see %s/%s)", rel, base, imagestore.IndexPath)
	}
}

// runImageRetention runs retention rounds until ctx ends.
func (s *Server) runImageRetention(ctx context.Context) {
	if s.images == nil || s.cfg.Images.RetentionInterval <= 0 {
		return
	}
	s.log.Info("image retention on", "every", s.cfg.Images.RetentionInterval.String(),
		"keep_versions", s.cfg.Images.KeepVersions, "max_age", s.cfg.Images.MaxAge.String())
	s.images.Run(ctx, s.cfg.Images.RetentionInterval)
}
