package session

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDomainImports: session is a domain package. Its errors are internal/fault errors that
// internal/httpapi alone maps to statuses, and internal/server converts requests and answers, so none
// of session's own source files imports net/http or internal/httpapi. What it uses may speak HTTP (the
// display relay is a websocket handler); the rule is about session's code itself. Test files are not
// checked.
func TestDomainImports(t *testing.T) {
	forbidden := map[string]string{
		"net/http":          "return internal/fault errors; the HTTP layer is internal/server",
		"net/http/httptest": "tests only",
		"github.com/deskhub/deskhub/internal/httpapi": "return internal/fault errors; httpapi.AsError maps them",
		"github.com/deskhub/deskhub/internal/server":  "the HTTP layer calls session, not the other way",
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
