package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/imagebuild"
)

func TestImageBuildUsage(t *testing.T) {
	r := run(t, nil, "", "image", "build", "--help")
	if r.code != 0 {
		t.Fatalf("image build --help: exit %d: %s", r.code, r.stderr)
	}
	for _, f := range []string{"--suite", "--arch", "--variant", "--packages", "--extra-packages", "--mirror", "--output",
		"--compression", "--cache-dir", "--deskhub-binary", "--serial", "--download-only", "--offline", "--publish",
		"[DESKHUB_IMAGE_CACHE_DIR]", "[DESKHUB_TOKEN]", `(default "bookworm")`, `(default "xz")`, "tigervnc-standalone-server"} {
		if !strings.Contains(r.stdout, f) {
			t.Errorf("image build --help lacks %s", f)
		}
	}
	if r := run(t, nil, "", "image", "--help"); r.code != 0 || !strings.Contains(r.stdout, "build") {
		t.Errorf("image --help: exit %d %q", r.code, r.stdout)
	}
	for _, args := range [][]string{{"image"}, {"image", "frob"}, {"image", "build", "stray"}, {"image", "build", "--packages", ","},
		{"image", "build", "--download-only", "--publish", "http://127.0.0.1:1"}} {
		if r := run(t, nil, "", args...); r.code != 2 || !strings.Contains(r.stderr, "Usage: deskhub") {
			t.Errorf("%v: exit %d (want 2), stderr %q", args, r.code, r.stderr)
		}
	}
	r = run(t, map[string]string{"DESKHUB_IMAGE_OFFLINE": "maybe"}, "", "image", "build")
	if r.code != 1 || !strings.Contains(r.stderr, "DESKHUB_IMAGE_OFFLINE") {
		t.Errorf("bad environment: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestImageBuildOfflineWithoutCache: the command reaches the builder and, offline with an empty cache,
// says how to fill it (no download, no debootstrap).
func TestImageBuildOfflineWithoutCache(t *testing.T) {
	cache := t.TempDir()
	r := run(t, map[string]string{"DESKHUB_IMAGE_CACHE_DIR": cache}, "", "image", "build", "--offline", "--download-only",
		"--mirror", "http://127.0.0.1:1/debian")
	if r.code != 1 || !strings.Contains(r.stderr, "not in the cache") || !strings.Contains(r.stderr, "--download-only --cache-dir "+cache) {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestImageBuildPublishChecks: --publish is checked (URL, token) before the build starts.
func TestImageBuildPublishChecks(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.json")
	env := map[string]string{"DESKHUB_CONFIG": cfg}
	// --arch bogus makes the build itself fail at once: an error about it means the publish checks passed.
	r := run(t, env, "", "image", "build", "--publish", "ftp://x", "--arch", "bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "not an http(s) URL") {
		t.Errorf("ftp URL: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, env, "", "image", "build", "--publish", "http://127.0.0.1:1", "--arch", "bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "no token for http://127.0.0.1:1") {
		t.Errorf("no token: exit %d, stderr %q", r.code, r.stderr)
	}
	if err := saveConfig(cfg, remoteConfig{URL: "http://127.0.0.1:1/", Token: "tok"}); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "", "image", "build", "--publish", "http://127.0.0.1:1", "--arch", "bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown architecture") {
		t.Errorf("token of deskhub login: exit %d, stderr %q", r.code, r.stderr)
	}
	r = run(t, env, "", "image", "build", "--publish", "http://127.0.0.2:1", "--arch", "bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "no token") {
		t.Errorf("the saved token was sent to another server: exit %d, stderr %q", r.code, r.stderr)
	}
	env["DESKHUB_TOKEN"] = "t2"
	r = run(t, env, "", "image", "build", "--publish", "http://127.0.0.2:1", "--arch", "bogus")
	if r.code != 1 || !strings.Contains(r.stderr, "unknown architecture") {
		t.Errorf("DESKHUB_TOKEN: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestClientPublisher: the product is found by os/release/arch/variant or added; the upload goes
// through the Go client's streamed upload, or says what is missing while the client has none.
func TestClientPublisher(t *testing.T) {
	var added []map[string]any
	products := []map[string]any{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/simplestream.list":
			data := []map[string]any{}
			for _, p := range products {
				data = append(data, map[string]any{"type": "simplestream-product", "id": p["product_id"], "attributes": p})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
		case "/api/v1/simplestream.add":
			var req map[string]any
			_ = json.NewDecoder(r.Body).Decode(&req)
			added = append(added, req)
			req["product_id"] = "debian:bookworm:amd64:desktop"
			products = append(products, req)
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"type": "simplestream-product",
				"id": req["product_id"], "attributes": req}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, err := client.New(srv.URL, &client.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	p := &clientPublisher{c: c}
	pr := imagebuild.ProductOf(&imagebuild.Report{Suite: "bookworm", Arch: "amd64"})
	for i := 0; i < 2; i++ {
		id, err := p.EnsureProduct(context.Background(), pr)
		if err != nil || id != "debian:bookworm:amd64:desktop" {
			t.Fatalf("EnsureProduct #%d: %q %v", i, id, err)
		}
	}
	if len(added) != 1 || added[0]["product_os"] != "debian" || added[0]["product_release"] != "bookworm" ||
		added[0]["product_arch"] != "amd64" || added[0]["product_variant"] != "desktop" {
		t.Errorf("simplestream.add calls: %v (want one, for debian bookworm amd64 desktop)", added)
	}
}
