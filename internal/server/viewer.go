package server

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/web"
)

// viewerCSP lets the viewer load its own scripts and styles, open the display websocket on this origin
// ('self' covers ws: and wss: to the same host) and show screenshots (data: URLs) and noVNC's cursor.
const viewerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; " +
	"media-src 'self' blob:; worker-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func pageHeaders(h http.Header, csp string) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", csp)
}

// appPage serves / : the web app (web/app, built into web/app/dist): login, launcher, viewer,
// sharing, account and admin pages, routed in the URL's fragment.
func appPage() http.Handler { return htmlPage("app/dist/index.html") }

// intoApp redirects an old page's URL (/infra, /passkey) to its place in the app.
func intoApp(fragment string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/#"+fragment, http.StatusFound)
	})
}

// htmlPage serves one of web's pages that load their script and style from /app and /static.
func htmlPage(name string) http.Handler {
	page, err := fs.ReadFile(web.FS, name)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err != nil {
			http.Error(w, name+" is missing from this build", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		pageHeaders(h, viewerCSP)
		_, _ = w.Write(page)
	})
}

type staticFile struct {
	data   []byte
	ctype  string
	etag   string
	gzOnce sync.Once
	gz     []byte // gzip of data (level 9, made at the first request), nil when it would not save a tenth
}

// gzipBody answers the file gzipped, compressing it the first time.
func (f *staticFile) gzipBody() []byte {
	f.gzOnce.Do(func() { f.gz = gzipped(f.data) })
	return f.gz
}

// gzipped answers b compressed, or nil when compression saves less than a tenth (images, tiny files).
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = zw.Write(b)
	_ = zw.Close()
	if buf.Len() > len(b)*9/10 {
		return nil
	}
	return buf.Bytes()
}

// acceptsGzip tells whether the request's Accept-Encoding allows gzip (and does not refuse it with q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// staticTypes are the content types of the assets by extension (explicit: the system's MIME table may
// say application/javascript, or nothing, for .js).
var staticTypes = map[string]string{
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
	".txt":  "text/plain; charset=utf-8",
	"":      "text/plain; charset=utf-8", // LICENSE, AUTHORS, VERSION
}

// staticAssets serves /static/... (the vendored noVNC modules) and /app/... (the built app's script and
// style, web/app/dist), from the binary. They are revalidated on each use (Cache-Control: no-cache) against a content ETag, so an
// upgraded deskhub never mixes old and new modules.
func staticAssets() http.Handler {
	files := map[string]*staticFile{}
	walk := func(root, prefix string) {
		_ = fs.WalkDir(web.FS, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || path.Base(p) == "index.html" {
				return err
			}
			ctype, ok := staticTypes[path.Ext(p)]
			if !ok {
				ctype = "application/octet-stream"
			}
			b, err := fs.ReadFile(web.FS, p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			files[prefix+strings.TrimPrefix(p, root)] = &staticFile{data: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
			return nil
		})
	}
	walk("static", "/static")
	walk("app/dist", "/app")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok || strings.Contains(r.URL.Path, "..") {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.ctype)
		h.Set("Cache-Control", "no-cache")
		pageHeaders(h, "default-src 'none'; frame-ancestors 'none'")
		body, etag := f.data, f.etag
		if gz := f.gzipBody(); gz != nil {
			h.Set("Vary", "Accept-Encoding")
			if acceptsGzip(r) { // the app's script and noVNC's modules shrink to about a quarter
				body, etag = gz, strings.TrimSuffix(f.etag, `"`)+`-gz"`
				h.Set("Content-Encoding", "gzip")
			}
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}
