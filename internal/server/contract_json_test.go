package server

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/contract"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// The contract in the repository (contract/contract.json) is written from the seeds and the real
// clients, not from deskhub's types; these tests hold the two against each other, and the harness
// (harness_test.go) holds every live 2xx answer against it.

func contractAccess(a string) httpapi.Access {
	switch a {
	case "user":
		return httpapi.User
	case "admin":
		return httpapi.Admin
	}
	return httpapi.Public // public, and the desktop-scoped routes, which check ABCAuthorization themselves
}

// TestContractCoversRoutes: every routed method and path has its entry in the contract, every entry
// is routed, with the same access.
func TestContractCoversRoutes(t *testing.T) {
	s := newTestServer(t)
	routed := map[string]httpapi.Route{}
	for _, r := range s.Routes() {
		for _, m := range r.Methods {
			routed[m+" "+r.Path] = r
			e, ok := theContract.Find(m, r.Path)
			if !ok {
				t.Errorf("routed but not in contract/contract.json: %s %s", m, r.Path)
				continue
			}
			if contractAccess(e.Access) != r.Access {
				t.Errorf("%s %s: the contract says access %s, the route %s", m, r.Path, e.Access, r.Access)
			}
		}
	}
	n := 0
	for _, e := range theContract.Endpoints {
		for _, m := range e.Methods {
			n++
			if _, ok := routed[m+" "+e.Path]; !ok {
				t.Errorf("in contract/contract.json but not routed: %s %s", m, e.Path)
			}
		}
	}
	t.Logf("%d endpoints, %d method+path pairs", len(theContract.Endpoints), n)
}

// goMembers lists the JSON members of a request type (embedded structs flattened) with whether they
// are required.
func goMembers(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	out := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" {
			for k, v := range goMembers(f.Type) {
				out[k] = v
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Tag.Get("required") == "true"
	}
	return out
}

// TestContractRequestsMatchTypes: the members each route's request type takes are the contract's,
// required where the contract requires them.
func TestContractRequestsMatchTypes(t *testing.T) {
	s := newTestServer(t)
	for _, r := range s.Routes() {
		for _, m := range r.Methods {
			e, ok := theContract.Find(m, r.Path)
			if !ok {
				continue // TestContractCoversRoutes says so
			}
			var goReq map[string]bool
			if r.Op.Req != nil {
				goReq = goMembers(r.Op.Req)
			}
			want := map[string]bool{}
			for path, mem := range e.Request {
				if !strings.ContainsAny(path, ".[") {
					want[path] = mem.Required
				}
			}
			for name, req := range goReq {
				cw, ok := want[name]
				switch {
				case !ok:
					t.Errorf("%s %s: the route takes member %q, the contract does not list it", m, r.Path, name)
				case cw != req:
					t.Errorf("%s %s: member %q: the contract says required=%v, the route %v", m, r.Path, name, cw, req)
				}
			}
			for name := range want {
				if _, ok := goReq[name]; !ok {
					t.Errorf("%s %s: the contract lists member %q, the route does not take it", m, r.Path, name)
				}
			}
		}
	}
}

// seedText reads a seed document.
func seedText(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(seedsDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type seedMember struct {
	name     string
	required bool
}

// infraSeedMembers reads the request members of every endpoint from the Schemas section of the
// infrastructure seed.
func infraSeedMembers(t *testing.T) map[string][]seedMember {
	text := seedText(t, "infra-api.ui-vmm-v0.2.txt")
	i := strings.Index(text, "\nSchemas\n")
	if i < 0 {
		t.Fatal("infra seed: no Schemas section")
	}
	out := map[string][]seedMember{}
	re := regexp.MustCompile(`(?sm)^([a-z\-]+\.[A-Za-z]+)\n\n\{.*?\n\}\n\nProperties\n\nName Type Required Restrictions Description\n(.*?)(?:\n\n|\z)`)
	for _, m := range re.FindAllStringSubmatch(text[i:], -1) {
		for _, row := range strings.Split(strings.TrimSpace(m[2]), "\n") {
			f := strings.Fields(row)
			if len(f) < 3 || strings.HasPrefix(f[0], "»") {
				continue
			}
			out[m[1]] = append(out[m[1]], seedMember{f[0], f[2] == "true"})
		}
	}
	if len(out) != 36 { // the seed describes 36 request bodies
		t.Fatalf("infra seed: read the schemas of %d endpoints, want 36", len(out))
	}
	return out
}

// agentSeedMembers reads the parameters of every endpoint of the agent seed.
func agentSeedMembers(t *testing.T) map[string][]seedMember {
	text := seedText(t, "agent-api.spawner-v1.md")
	out := map[string][]seedMember{}
	head := regexp.MustCompile("`(GET|POST|PUT|DELETE) (/[A-Za-z]+)`")
	row := regexp.MustCompile(`(?m)^\|(»?\s?[A-Za-z]+)\|(body|query)\|[^|]+\|(true|false)\|`)
	for _, sec := range strings.Split(text, "\n## ")[1:] {
		h := head.FindStringSubmatch(sec)
		if h == nil {
			continue
		}
		key := h[1] + " " + h[2]
		out[key] = []seedMember{}
		for _, r := range row.FindAllStringSubmatch(sec, -1) {
			name := strings.TrimSpace(strings.TrimPrefix(r[1], "»"))
			if name == "body" {
				continue
			}
			out[key] = append(out[key], seedMember{name, r[3] == "true"})
		}
	}
	return out
}

// sessionSeedMembers reads the members of the Parameters of every call of the session seed.
func sessionSeedMembers(t *testing.T) map[string][]seedMember {
	lines := strings.Split(seedText(t, "session-api.fastx-v3.txt"), "\n")
	out := map[string][]seedMember{}
	name := regexp.MustCompile(`"([A-Za-z_]+)":`)
	path := ""
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "/v3/") && !strings.Contains(l, " ") {
			path = l
			out[path] = []seedMember{}
			continue
		}
		if l != "Parameters" || path == "" {
			continue
		}
		// The parameters run to "Result"; "<required>" is in the comment after a member, before the next.
		var block strings.Builder
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "Result"; i++ {
			block.WriteString(lines[i])
			block.WriteString("\n")
		}
		text := block.String()
		ms := name.FindAllStringSubmatchIndex(text, -1)
		for j, m := range ms {
			member := text[m[2]:m[3]]
			if member == "key1" || member == "key2" {
				continue
			}
			end := len(text)
			if j+1 < len(ms) {
				end = ms[j+1][0]
			}
			out[path] = append(out[path], seedMember{member, strings.Contains(text[m[1]:end], "<required>")})
		}
		i--
	}
	return out
}

// TestContractFollowsSeeds: every request member a seed names is in the contract, marked as the
// seed's; where the contract departs from the seed's "required", or leaves a member out, a note says
// why (and docs/compat-*.md says it at length).
func TestContractFollowsSeeds(t *testing.T) {
	check := func(where string, e *contract.Endpoint, seed []seedMember) {
		for _, sm := range seed {
			m, ok := e.Request[sm.name]
			if !ok {
				if !slices.ContainsFunc(e.Notes, func(n string) bool { return strings.Contains(n, sm.name) }) {
					t.Errorf("%s: the seed's member %q is not in the contract, and no note says why", where, sm.name)
				}
				continue
			}
			if m.From != "seed" {
				t.Errorf("%s: member %q comes from the seed, the contract says from %q", where, sm.name, m.From)
			}
			if m.Required != sm.required && m.Note == "" {
				t.Errorf("%s: member %q: the seed says required=%v, the contract %v without a note", where, sm.name, sm.required, m.Required)
			}
		}
	}
	infra := infraSeedMembers(t)
	for name, seed := range infra {
		method := "POST"
		if strings.HasPrefix(name, "simplestream.images") || strings.HasPrefix(name, "simplestream.list") {
			method = "GET"
		}
		e, ok := theContract.Find(method, "/api/v1/"+name)
		if !ok {
			t.Errorf("infra %s: not in the contract", name)
			continue
		}
		check("infra "+name, e, seed)
	}
	agent := agentSeedMembers(t)
	if len(agent) != 22 {
		t.Fatalf("agent seed: read %d endpoints, want 22", len(agent))
	}
	for key, seed := range agent {
		method, path, _ := strings.Cut(key, " ")
		e, ok := theContract.Find(method, "/spawner/{session_id}"+path)
		if !ok {
			t.Errorf("agent %s: not in the contract", key)
			continue
		}
		check("agent "+key, e, seed)
	}
	session := sessionSeedMembers(t)
	if len(session) < 30 {
		t.Fatalf("session seed: read %d calls", len(session))
	}
	var paths []string
	for p := range session {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		e, ok := theContract.Find("POST", p)
		if !ok {
			t.Errorf("session %s: not in the contract", p)
			continue
		}
		check("session "+p, e, session[p])
	}
}

// TestContractChecker: the checker finds what it should (a wrong type, a missing required member, an
// unknown request member, a wrong constant) and passes what it should.
func TestContractChecker(t *testing.T) {
	c, err := contract.Parse([]byte(`{"version":1,"surfaces":[{"name":"infra","seed":"s","envelope":"e"}],
		"sources":[{"name":"seed","what":"w"}],"endpoints":[{"surface":"infra","methods":["POST"],"path":"/x","access":"user",
		"sources":["seed"],"request":{"a":{"type":["integer","string"],"required":true},"b.c":{"type":"string","required":false}},
		"answer":{"data":{"type":"array","required":true},"data[].id":{"type":"integer","required":true},
		"data[].type":{"type":"string","required":true,"const":"t"},"meta.*":{"type":"string","required":false}}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c.Find("POST", "/x")
	for body, want := range map[string]int{
		`{"a":1}`: 0, `{"a":"1","b":{"c":"x"}}`: 0, `{"data":{"attributes":{"a":2}}}`: 0,
		`{}`: 1, `{"a":true}`: 1, `{"a":1,"z":1}`: 1, `{"a":1,"b":{"c":3}}`: 1,
	} {
		if ps := e.CheckRequest([]byte(body), nil); len(ps) != want {
			t.Errorf("request %s: %v, want %d problems", body, ps, want)
		}
	}
	for body, want := range map[string]int{
		`{"data":[]}`: 0, `{"data":[{"id":1,"type":"t"}],"meta":{"k":"v"}}`: 0,
		`{}`: 1, `{"data":[{"id":"1","type":"t"}]}`: 1, `{"data":[{"type":"u"},{"id":2,"type":"t"}]}`: 2, `{"data":[],"meta":{"k":1}}`: 1,
	} {
		if ps := e.CheckAnswer([]byte(body)); len(ps) != want {
			t.Errorf("answer %s: %v, want %d problems", body, ps, want)
		}
	}
	if ps := e.CheckRequest(nil, map[string][]string{"a": {"x"}, "_": {"1"}}); len(ps) != 0 {
		t.Errorf("query: %v", ps)
	}
	if _, err := contract.Parse([]byte(`{"version":1,"surfaces":[],"sources":[],"endpoints":[],"extra":1}`)); err == nil {
		t.Error("an unknown member of the contract was taken")
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(`{}`), &doc); err != nil {
		t.Fatal(err)
	}
}
