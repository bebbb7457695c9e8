package spawner

import (
	"net/http"
	"strings"
	"testing"
)

// TestEndpointTable: the seed's 22 endpoints, each once, complete, with a struct request type.
func TestEndpointTable(t *testing.T) {
	es := Endpoints()
	if len(es) != 22 {
		t.Fatalf("%d endpoints, want the seed's 22", len(es))
	}
	seen := map[string]bool{}
	for _, e := range es {
		s := e.Describe()
		switch s.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut:
		default:
			t.Errorf("%s: method %q", s.Seed(), s.Method)
		}
		if !strings.HasPrefix(s.Path, "/") || strings.Count(s.Path, "/") != 1 || s.Path == EventsPath {
			t.Errorf("%s: path %q", s.Seed(), s.Path)
		}
		if s.Tag == "" || s.Summary == "" {
			t.Errorf("%s: no tag or summary", s.Seed())
		}
		if seen[s.Path] {
			t.Errorf("%s: path served twice", s.Seed())
		}
		seen[s.Path] = true
		if req, resp := e.Types(); req == nil || req.Kind().String() != "struct" || resp == nil {
			t.Errorf("%s: types %v, %v", s.Seed(), req, resp)
		}
	}
}
