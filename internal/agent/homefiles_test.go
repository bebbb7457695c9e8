package agent

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHomeFiles: PUT /files writes a file into the home (not over an existing one unless asked), GET
// /files reads it back with its MIME type; paths out of the home — "..", absolute, a symlink leading
// out — and bad base64 are refused with a 4xx that says why, and nothing is written.
func TestHomeFiles(t *testing.T) {
	home := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(home, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(home, "Documents"), 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Display: ":99", Home: home})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // its PulseAudio, if a test started one
	h := a.Handler()
	put := func(path, content string, overwrite bool) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"path": path, "content": base64.StdEncoding.EncodeToString([]byte(content)), "overwrite": overwrite})
		return do(t, h, "PUT", "/files", string(b))
	}
	if code, m := put("Documents/notes.txt", "hello from the browser\n", false); code != 200 || m["data"].(map[string]any)["size"] != 23.0 {
		t.Fatalf("PUT: %d %v", code, m)
	}
	if b, err := os.ReadFile(filepath.Join(home, "Documents", "notes.txt")); err != nil || string(b) != "hello from the browser\n" {
		t.Fatalf("written file: %q %v", b, err)
	}
	if code, m := put("Documents/notes.txt", "again", false); code != 409 || !strings.Contains(m["data"].(string), "overwrite") {
		t.Fatalf("PUT over an existing file: %d %v", code, m)
	}
	if code, _ := put("Documents/notes.txt", "replaced\n", true); code != 200 {
		t.Fatalf("PUT with overwrite: %d", code)
	}
	code, m := get(t, h, "/files?path="+url.QueryEscape("Documents/notes.txt"))
	d, _ := m["data"].(map[string]any)
	if code != 200 || d["content"] != base64.StdEncoding.EncodeToString([]byte("replaced\n")) || d["mime"] != "text/plain" || d["size"] != 9.0 {
		t.Fatalf("GET: %d %v", code, m)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "Documents/../../x", "escape/secret.txt", "escape/new.txt", "nodir/x.txt", "Documents"} {
		if code, m := put(bad, "x", false); code < 400 || code > 499 {
			t.Errorf("PUT %q: %d %v", bad, code, m)
		}
		if code, m := get(t, h, "/files?path="+url.QueryEscape(bad)); code < 400 || code > 499 || strings.Contains(m["data"].(string), "secret") && code == 200 {
			t.Errorf("GET %q: %d %v", bad, code, m)
		}
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); err == nil {
		t.Errorf("a PUT through the symlink wrote outside the home")
	}
	if code, m := do(t, h, "PUT", "/files", `{"path":"b.txt","content":"not base64!"}`); code != 400 || !strings.Contains(m["data"].(string), "base64") {
		t.Errorf("bad base64: %d %v", code, m)
	}
}
