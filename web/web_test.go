package web

import (
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing"
)

// importRe finds the specifiers of static imports and re-exports.
var importRe = regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']`)

// TestAppEmbedded: the built app is embedded, its page loads its script and style from /app/ and
// preloads noVNC, and the module the app imports at run time (static/novnc/core/rfb.js) reaches, through
// relative imports only, every module it needs (a missing vendored file breaks the viewer only in the
// browser otherwise).
func TestAppEmbedded(t *testing.T) {
	for _, p := range []string{"app/dist/index.html", "app/dist/app.js", "app/dist/app.css", "static/novnc/LICENSE.txt", "static/novnc/vendor/pako/LICENSE"} {
		if _, err := fs.Stat(FS, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	page, _ := fs.ReadFile(FS, "app/dist/index.html")
	for _, want := range []string{`src="/app/app.js"`, `href="/app/app.css"`, `href="/static/novnc/core/rfb.js"`} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index.html lacks %s", want)
		}
	}
	if strings.Contains(string(page), "<script>") || strings.Contains(string(page), "style=") {
		t.Errorf("index.html has inline script or style (the CSP forbids them)")
	}
	app, _ := fs.ReadFile(FS, "app/dist/app.js")
	if !strings.Contains(string(app), "/static/novnc/core/rfb.js") {
		t.Errorf("app.js does not import noVNC from /static/novnc/core/rfb.js")
	}
	seen := map[string]bool{}
	todo := []string{"static/novnc/core/rfb.js"}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		src, err := fs.ReadFile(FS, p)
		if err != nil {
			t.Errorf("module %s: %v", p, err)
			continue
		}
		for _, m := range importRe.FindAllStringSubmatch(string(src), -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports are served", p, spec)
				continue
			}
			todo = append(todo, path.Join(path.Dir(p), spec))
		}
	}
	if len(seen) < 20 {
		t.Errorf("rfb.js reaches only %d modules", len(seen))
	}
}
