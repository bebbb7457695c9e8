package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestStaticAssetsGzip: the app's script and noVNC's modules are answered gzipped to a browser that
// accepts it (the same bytes once decompressed, their own ETag, Vary: Accept-Encoding, 304 on a match),
// and as they are otherwise or when gzip is refused with q=0.
func TestStaticAssetsGzip(t *testing.T) {
	h := newTestServer(t).Handler()
	get := func(path, accept, ifNoneMatch string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		if ifNoneMatch != "" {
			req.Header.Set("If-None-Match", ifNoneMatch)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, p := range []string{"/app/app.js", "/app/sshkey.js", "/static/novnc/core/rfb.js"} {
		plain := get(p, "", "")
		if plain.Code != 200 || plain.Header().Get("Content-Encoding") != "" || plain.Header().Get("Vary") != "Accept-Encoding" {
			t.Fatalf("GET %s without Accept-Encoding: %d %v", p, plain.Code, plain.Header())
		}
		gz := get(p, "gzip, deflate, br", "")
		if gz.Code != 200 || gz.Header().Get("Content-Encoding") != "gzip" || gz.Header().Get("ETag") == plain.Header().Get("ETag") {
			t.Fatalf("GET %s with gzip: %d %v", p, gz.Code, gz.Header())
		}
		if gz.Body.Len()*2 > plain.Body.Len() {
			t.Errorf("GET %s: gzipped %d bytes of %d", p, gz.Body.Len(), plain.Body.Len())
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz.Body.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(b, plain.Body.Bytes()) {
			t.Fatalf("GET %s: the gzipped body does not decompress to the plain one (%v)", p, err)
		}
		if rec := get(p, "gzip", gz.Header().Get("ETag")); rec.Code != http.StatusNotModified {
			t.Errorf("GET %s with the gzip ETag: %d, want 304", p, rec.Code)
		}
		if rec := get(p, "gzip;q=0, identity", ""); rec.Header().Get("Content-Encoding") != "" || !bytes.Equal(rec.Body.Bytes(), plain.Body.Bytes()) {
			t.Errorf("GET %s with gzip;q=0: Content-Encoding %q", p, rec.Header().Get("Content-Encoding"))
		}
	}
}
