package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// In-process benchmarks of the request pipeline (routing, decoding, envelope, logging off, metrics on),
// without the network: the cost deskhub adds per call. The loopback figures are in bench/run.sh. Raw
// in-process calls on purpose: the SDK would put the loopback network into the figures, and
// BenchmarkRejectMalformed sends a malformed body.

func benchCall(b *testing.B, method, path, body string, want int) {
	s := newTestServerB(b)
	h := s.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
		}
	}
}

func newTestServerB(b *testing.B) *Server {
	cfg := testConfigDir(b.TempDir())
	st := openSQLiteTB(b, cfg.DataDir)
	s, err := New(Options{Config: cfg, Store: st})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkHealthAlive(b *testing.B) {
	benchCall(b, "POST", "/api/v1/health.alive", "{}", http.StatusOK)
}

func BenchmarkConfigGet(b *testing.B) {
	benchCall(b, "POST", "/api/v1/config.get", "{}", http.StatusOK)
}

func BenchmarkHealthReadySQLite(b *testing.B) {
	benchCall(b, "POST", "/api/v1/health.ready", "{}", http.StatusOK)
}

func BenchmarkFastXConfigGET(b *testing.B) {
	benchCall(b, "GET", "/v3/api", "", http.StatusOK)
}

func BenchmarkRejectMalformed(b *testing.B) {
	benchCall(b, "POST", "/api/v1/config.get", `{"a":`, http.StatusBadRequest)
}

func BenchmarkUnknownRoute(b *testing.B) {
	benchCall(b, "POST", "/api/v1/no.such", "{}", http.StatusNotFound)
}
