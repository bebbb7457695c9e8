package infra

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDomainImports: infra is a domain package. Its errors are internal/fault errors that
// internal/httpapi alone maps to statuses, so none of its own source files imports net/http or
// internal/httpapi. Talking to LXD does go over HTTP(S) — the incus client's transport, raw queries,
// LXD's status codes — but that lives in internal/lxdconn (the registry of links to the servers),
// which infra uses; there is no exception here. Importing net/http indirectly through lxdconn and the
// incus client is expected; the rule is about what infra's code itself speaks. Test files are not
// checked (a test may well talk HTTP).
func TestDomainImports(t *testing.T) {
	forbidden := map[string]string{
		"net/http":          "speak LXD's HTTP API in internal/lxdconn; return fault errors",
		"net/http/httptest": "tests only",
		"github.com/deskhub/deskhub/internal/httpapi": "return internal/fault errors; httpapi.AsError maps them",
		"github.com/deskhub/deskhub/internal/server":  "the HTTP layer calls infra, not the other way",
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if why, bad := forbidden[path]; bad {
				t.Errorf("%s imports %s: %s", name, path, why)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}
