// Package archtest keeps docs/ARCHITECTURE.md true: each rule there about who may import what is a row
// of the table below, checked against the import lines of every non-test Go file of the module.
package archtest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/deskhub/deskhub"

// rule: packages matching a prefix may not import any of forbid (prefix match), except allow.
type rule struct {
	room    string   // the name docs/ARCHITECTURE.md gives it
	pkgs    []string // package paths within the module; "x/..." matches x and below
	forbid  []string // import paths; a trailing "/..." matches below
	allowed []string // only these (prefix) may be imported, when set (stdlib is always allowed)
}

var rules = []rule{
	{room: "wire types", pkgs: []string{"api/..."}, forbid: []string{module + "/internal/...", module + "/client/..."}},
	{room: "Go SDK", pkgs: []string{"client/..."}, allowed: []string{module + "/api/", "github.com/coder/websocket"}},
	{room: "domain", pkgs: []string{"internal/session/...", "internal/infra", "internal/unixid/...",
		"internal/placement/...", "internal/fault/...", "internal/revoke/...", "internal/provider/...",
		"internal/store/...", "internal/lxdconn/...", "internal/auth/...", "internal/account/...",
		"internal/xdesk/...", "internal/initd/...", "internal/tlscert/...", "internal/imagestore/...", "internal/imagebuild/...", "internal/desktoptoken"},
		forbid: []string{"net/http/...", module + "/internal/httpapi/...", module + "/internal/server/...",
			module + "/internal/cli/..."}},
	{room: "domain errors", pkgs: []string{"internal/fault/..."}, forbid: []string{module + "/..."}},
	{room: "contract", pkgs: []string{"contract"}, forbid: []string{module + "/..."}},
	{room: "wiring", pkgs: []string{"internal/server/..."}, forbid: []string{module + "/internal/agent/..."}},
}

// exceptions are imports a rule forbids that a package needs, each with its reason.
var exceptions = map[string]string{
	// lxdconn is the one place that speaks LXD's HTTP API (the incus client's transport and its errors).
	"internal/lxdconn net/http": "LXD's REST API is HTTP: lxdconn wraps it so that infra need not",
}

func match(pattern, path string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

// imports maps module-relative package dirs to the imports of their non-test files.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if name == "node_modules" || name == "testdata" || (strings.HasPrefix(name, ".") && p != root) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, im := range f.Imports {
			v, _ := strconv.Unquote(im.Path.Value)
			out[rel][v] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func stdlib(path string) bool { return !strings.Contains(strings.SplitN(path, "/", 2)[0], ".") }

func TestImportRules(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", root)
	}
	all := imports(t, root)
	dirs := make([]string, 0, len(all))
	for d := range all {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	checked := map[string]int{}
	for _, r := range rules {
		for _, dir := range dirs {
			in := false
			for _, p := range r.pkgs {
				in = in || match(p, dir)
			}
			if !in {
				continue
			}
			checked[r.room]++
			for im := range all[dir] {
				if exceptions[dir+" "+im] != "" {
					continue
				}
				for _, f := range r.forbid {
					if match(f, im) {
						t.Errorf("%s (%s) imports %s: forbidden by docs/ARCHITECTURE.md", dir, r.room, im)
					}
				}
				if len(r.allowed) > 0 && !stdlib(im) {
					ok := false
					for _, a := range r.allowed {
						ok = ok || strings.HasPrefix(im, a)
					}
					if !ok {
						t.Errorf("%s (%s) imports %s: it may import only the standard library and %v", dir, r.room, im, r.allowed)
					}
				}
			}
		}
	}
	for _, r := range rules {
		if checked[r.room] == 0 {
			t.Errorf("rule %q matched no package: the layout changed, update the rule and docs/ARCHITECTURE.md", r.room)
		}
	}
}

// TestRuleCatchesAViolation: the checker sees a forbidden import (so a passing TestImportRules means
// something).
func TestRuleCatchesAViolation(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n"), 0o644))
	must(os.MkdirAll(filepath.Join(dir, "internal", "session"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "internal", "session", "s.go"), []byte("package session\nimport _ \"net/http\"\n"), 0o644))
	got := imports(t, dir)
	if !got["internal/session"]["net/http"] || !match("net/http/...", "net/http") || !match("internal/session/...", "internal/session") {
		t.Fatalf("the checker missed a forbidden import: %v", got)
	}
}
