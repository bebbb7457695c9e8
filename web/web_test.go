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

// TestModulesResolve: every module the viewer loads, from static/viewer.js through noVNC's core/rfb.js,
// is embedded (a missing vendored file breaks the viewer only in the browser otherwise).
func TestModulesResolve(t *testing.T) {
	for _, p := range []string{"viewer.html", "passkey.html", "infra.html", "static/infra.js", "static/ui.js", "static/api.js", "static/infra.css", "static/viewer.css", "static/novnc/LICENSE.txt", "static/novnc/vendor/pako/LICENSE"} {
		if _, err := fs.Stat(FS, p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	seen := map[string]bool{}
	todo := []string{"static/viewer.js"}
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
	if !seen["static/novnc/core/rfb.js"] || len(seen) < 20 {
		t.Errorf("viewer.js reaches %d modules, rfb.js among them: %v", len(seen), seen["static/novnc/core/rfb.js"])
	}
}
