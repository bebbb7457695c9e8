package account

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestDomainImports: account is a domain package. Its errors are internal/fault errors that
// internal/httpapi alone maps to statuses, and internal/server and internal/cli are its adapters, so
// none of account's own source files imports net/http, internal/httpapi or an adapter. Test files are
// not checked.
func TestDomainImports(t *testing.T) {
	forbidden := map[string]string{
		"net/http":          "return internal/fault errors; the HTTP layer is internal/server",
		"net/http/httptest": "tests only",
		"github.com/deskhub/deskhub/internal/httpapi": "return internal/fault errors; httpapi.AsError maps them",
		"github.com/deskhub/deskhub/internal/server":  "the HTTP layer calls account, not the other way",
		"github.com/deskhub/deskhub/internal/cli":     "the command line calls account, not the other way",
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
