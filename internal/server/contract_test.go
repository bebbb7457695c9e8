package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/deskhub/deskhub/internal/apidoc"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// seedsDir is contract/seeds in the repository: the three API documents deskhub serves.
func seedsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("../../contract/seeds")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("the seeds must be in the repository (contract/seeds): %v", err)
	}
	return dir
}

// seedEndpoints reads the endpoints a seed document lists, in the form routes carry in Seed.
func seedEndpoints(t *testing.T, file string, re *regexp.Regexp, format func(m []string) string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(seedsDir(t), file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
			out = append(out, format(m))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func allSeedEndpoints(t *testing.T) map[httpapi.Surface][]string {
	return map[httpapi.Surface][]string{
		httpapi.Agent: seedEndpoints(t, "agent-api.spawner-v1.md",
			regexp.MustCompile("^`(GET|POST|PUT|DELETE) (/[A-Za-z]+)`$"), func(m []string) string { return m[1] + " " + m[2] }),
		httpapi.Session: seedEndpoints(t, "session-api.fastx-v3.txt",
			regexp.MustCompile(`^(/v3/[A-Za-z/\-]*[A-Za-z])$`), func(m []string) string { return m[1] }),
		httpapi.Infra: seedEndpoints(t, "infra-api.ui-vmm-v0.2.txt",
			regexp.MustCompile(`^(POST|GET) (/v1/[A-Za-z\-]+\.[A-Za-z]+)$`), func(m []string) string { return m[1] + " " + m[2] }),
	}
}

// TestEverySeedEndpointIsRouted: the route tables serve exactly the seeds' 107 endpoints (22 agent,
// 38 session, 47 infrastructure), each once.
func TestEverySeedEndpointIsRouted(t *testing.T) {
	s := newTestServer(t)
	seeds := allSeedEndpoints(t)
	wantCounts := map[httpapi.Surface]int{httpapi.Agent: 22, httpapi.Session: 38, httpapi.Infra: 47}
	routed := map[httpapi.Surface][]string{}
	for _, r := range s.Routes() {
		if r.Seed != "" {
			routed[r.Surface] = append(routed[r.Surface], r.Seed)
		}
	}
	for surface, want := range seeds {
		if len(want) != wantCounts[surface] {
			t.Errorf("%s seed: parsed %d endpoints, the seed README says %d", surface, len(want), wantCounts[surface])
		}
		got := routed[surface]
		sort.Strings(got)
		if dup := duplicates(got); len(dup) > 0 {
			t.Errorf("%s: seed endpoints routed twice: %v", surface, dup)
		}
		got = slices.Compact(got)
		for _, e := range want {
			if !slices.Contains(got, e) {
				t.Errorf("%s: seed endpoint %q is not routed", surface, e)
			}
		}
		for _, e := range got {
			if !slices.Contains(want, e) {
				t.Errorf("%s: route claims seed endpoint %q, which the seed does not have", surface, e)
			}
		}
	}
}

func duplicates(sorted []string) []string {
	var d []string
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			d = append(d, sorted[i])
		}
	}
	return d
}

// TestOpenAPIDocumentMatchesRoutes: /openapi.json is a valid OpenAPI 3.1 document; every routed
// path+method is documented, every documented one is routed, and planned ones are marked.
func TestOpenAPIDocumentMatchesRoutes(t *testing.T) {
	s := newTestServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}

	routed := map[string]httpapi.Route{}
	for _, r := range s.Routes() {
		for _, m := range r.Methods {
			routed[m+" "+r.Path] = r
		}
	}
	documented := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			documented[method+" "+path] = op
		}
	}
	for key, r := range routed {
		op, ok := documented[key]
		if !ok {
			t.Errorf("routed but not documented: %s", key)
			continue
		}
		_, planned := op.Extensions[apidoc.ExtPlanned]
		if planned == r.Op.Implemented() {
			t.Errorf("%s: implemented=%v but x-deskhub-planned present=%v", key, r.Op.Implemented(), planned)
		}
		if (op.Security != nil && len(*op.Security) == 0) != (r.Access == httpapi.Public) {
			t.Errorf("%s: security requirement does not match access %s", key, r.Access)
		}
	}
	for key := range documented {
		if _, ok := routed[key]; !ok {
			t.Errorf("documented but not routed: %s", key)
		}
	}
	if len(routed) < 107 {
		t.Errorf("only %d path+method pairs routed", len(routed))
	}
}

// TestPlannedRoutesAnswer501: every planned route answers 501 in its surface's envelope. When the
// server has none left, one planned route per surface on a mux of their own shows the mechanism.
func TestPlannedRoutesAnswer501(t *testing.T) {
	s := newTestServer(t)
	var h http.Handler = s.Handler()
	routes := s.Routes()
	planned := 0
	for _, r := range routes {
		if !r.Op.Implemented() {
			planned++
		}
	}
	if planned == 0 {
		t.Log("every route of the server is implemented; checking planned routes on a mux of their own")
		routes = []httpapi.Route{
			{Surface: httpapi.Infra, Methods: []string{"POST"}, Path: "/api/v1/later.do", Op: httpapi.Planned[httpapi.Empty, httpapi.Empty]("a later issue")},
			{Surface: httpapi.Session, Methods: []string{"GET", "POST"}, Path: "/v3/api/later", Op: httpapi.Planned[httpapi.Empty, httpapi.Empty]("a later issue")},
			{Surface: httpapi.Agent, Methods: []string{"GET"}, Path: "/spawner/{session_id}/later", Op: httpapi.Planned[httpapi.Empty, httpapi.Empty]("a later issue")},
		}
		h = httpapi.NewMux(httpapi.Options{}, routes)
	}
	n := 0
	for _, r := range routes {
		if r.Op.Implemented() {
			continue
		}
		path := strings.ReplaceAll(r.Path, "{session_id}", "0f0e0d0c")
		req := httptest.NewRequest(r.Methods[0], path, strings.NewReader("{}"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotImplemented {
			t.Errorf("%s %s: status %d, want 501", r.Methods[0], path, rec.Code)
			continue
		}
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		var ok bool
		switch r.Surface {
		case httpapi.Infra:
			_, ok = body["errors"]
		case httpapi.Session:
			_, ok = body["error"]
		case httpapi.Agent:
			ok = body["code"] == 501.0
		}
		if !ok {
			t.Errorf("%s: 501 not in the %s envelope: %s", path, r.Surface, rec.Body)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no planned route found")
	}
	t.Logf("%d planned routes answer 501", n)
}
