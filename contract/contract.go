// Package contract is the machine-readable contract of deskhub's three API surfaces, contract.json:
// for every endpoint its method, path, who may call it, the members a request may carry (their JSON
// types, whether they are required, and who names them: the seed, a real client or deskhub) and the
// members of the answer the clients read. It is written from the seeds in seeds/ and, where they are
// silent, from the real clients (ui-vmm's panel, abcdesktop's browser code) — not from deskhub's Go
// types — so that tests can hold live answers against it (internal/server's harness does, for every
// call it makes). README.md describes the format.
//
// The package has no dependencies beyond the standard library.
package contract

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
)

//go:embed contract.json
var raw []byte

// JSON types a member may have.
const (
	String  = "string"
	Integer = "integer"
	Number  = "number"
	Boolean = "boolean"
	Array   = "array"
	Object  = "object"
	Null    = "null"
)

// Contract is the whole contract.
type Contract struct {
	Version   int        `json:"version"`
	About     string     `json:"about"`
	Surfaces  []Surface  `json:"surfaces"`
	Sources   []Source   `json:"sources"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Surface is one of deskhub's API surfaces.
type Surface struct {
	Name     string `json:"name"`
	Seed     string `json:"seed"`
	Envelope string `json:"envelope"`
	Notes    string `json:"notes,omitempty"`
}

// Source is where members come from: a seed, a real client or deskhub itself.
type Source struct {
	Name string `json:"name"`
	What string `json:"what"`
}

// Endpoint is one path of a surface with its methods.
type Endpoint struct {
	Surface string   `json:"surface"`
	Methods []string `json:"methods"`
	Path    string   `json:"path"`
	// Access: "public", "user" (a token), "admin", "desktop" (a desktop-scoped token of the session,
	// ABCAuthorization), "desktop-write" (the same, not for viewers).
	Access  string   `json:"access"`
	Sources []string `json:"sources"`
	Summary string   `json:"summary,omitempty"`
	// Request lists the members a request may carry: a JSON body's members, or the query of a GET.
	// A path is a member name, or a dotted path into nested objects ("response.clientDataJSON",
	// "payload.product_id"); "[]" after a name steps into every element of an array.
	Request map[string]Member `json:"request"`
	// OpenRequest says the request takes members beyond those listed (free-form objects).
	OpenRequest bool `json:"open_request,omitempty"`
	// Answer lists members of the answer (the whole body, envelope included) by path, as Request does;
	// "*" steps into every value of an object, "$" is the document itself.
	Answer map[string]Member `json:"answer"`
	// Stream names the form of an answer that is not one JSON document: "sse", "websocket", "file".
	Stream string   `json:"stream,omitempty"`
	Notes  []string `json:"notes,omitempty"`
}

// Member is one member of a request or an answer.
type Member struct {
	Type     Types  `json:"type"`
	Required bool   `json:"required"`
	From     string `json:"from,omitempty"`
	Note     string `json:"note,omitempty"`
	// Const, when set, is the only value the member may have.
	Const any `json:"const,omitempty"`
}

// Types is one JSON type or several.
type Types []string

// UnmarshalJSON takes "string" or ["integer", "string"].
func (t *Types) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*t = Types{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("contract: a type is a string or a list of strings, not %s", b)
	}
	*t = many
	return nil
}

// MarshalJSON writes one type as a string.
func (t Types) MarshalJSON() ([]byte, error) {
	if len(t) == 1 {
		return json.Marshal(t[0])
	}
	return json.Marshal([]string(t))
}

// Load parses the embedded contract.json and checks its form.
func Load() (*Contract, error) {
	return Parse(raw)
}

// Parse parses a contract and checks its form: known surfaces, sources, access kinds and types, no
// endpoint twice.
func Parse(b []byte) (*Contract, error) {
	var c Contract
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("contract: %w", err)
	}
	surfaces := map[string]bool{}
	for _, s := range c.Surfaces {
		surfaces[s.Name] = true
	}
	sources := map[string]bool{}
	for _, s := range c.Sources {
		sources[s.Name] = true
	}
	seen := map[string]bool{}
	for _, e := range c.Endpoints {
		where := strings.Join(e.Methods, ",") + " " + e.Path
		if !surfaces[e.Surface] {
			return nil, fmt.Errorf("contract: %s: unknown surface %q", where, e.Surface)
		}
		if len(e.Methods) == 0 || !strings.HasPrefix(e.Path, "/") {
			return nil, fmt.Errorf("contract: %s: an endpoint needs methods and a path", where)
		}
		switch e.Access {
		case "public", "user", "admin", "desktop", "desktop-write":
		default:
			return nil, fmt.Errorf("contract: %s: unknown access %q", where, e.Access)
		}
		if len(e.Sources) == 0 {
			return nil, fmt.Errorf("contract: %s: no sources", where)
		}
		for _, s := range e.Sources {
			if !sources[s] {
				return nil, fmt.Errorf("contract: %s: unknown source %q", where, s)
			}
		}
		for _, m := range e.Methods {
			if seen[m+" "+e.Path] {
				return nil, fmt.Errorf("contract: %s %s is listed twice", m, e.Path)
			}
			seen[m+" "+e.Path] = true
		}
		for side, members := range map[string]map[string]Member{"request": e.Request, "answer": e.Answer} {
			for path, m := range members {
				if len(m.Type) == 0 {
					return nil, fmt.Errorf("contract: %s: %s member %q has no type", where, side, path)
				}
				for _, t := range m.Type {
					switch t {
					case String, Integer, Number, Boolean, Array, Object, Null:
					default:
						return nil, fmt.Errorf("contract: %s: %s member %q: unknown type %q", where, side, path, t)
					}
				}
				if m.From != "" && !sources[m.From] {
					return nil, fmt.Errorf("contract: %s: %s member %q: unknown source %q", where, side, path, m.From)
				}
			}
		}
	}
	return &c, nil
}

// Find answers the endpoint of a method and a path template (as routes write it, e.g.
// "/spawner/{session_id}/launch").
func (c *Contract) Find(method, path string) (*Endpoint, bool) {
	for i := range c.Endpoints {
		e := &c.Endpoints[i]
		if e.Path == path && slices.Contains(e.Methods, method) {
			return e, true
		}
	}
	return nil, false
}

// Problem is one way a request or an answer breaks the contract.
type Problem struct {
	Path string // the member ("" for the whole document)
	Msg  string
}

func (p Problem) String() string {
	if p.Path == "" {
		return p.Msg
	}
	return p.Path + ": " + p.Msg
}

// Problems is a list of problems; its Error joins them.
type Problems []Problem

func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// Err answers nil for no problems.
func (ps Problems) Err() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// CheckAnswer holds an answer body (the whole JSON document) against the endpoint's answer members:
// every required member is there wherever its parent is, and every member listed has one of its types.
func (e *Endpoint) CheckAnswer(body []byte) Problems {
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return Problems{{Msg: "the answer is not JSON: " + err.Error()}}
	}
	return check(doc, e.Answer)
}

// CheckRequest holds a request against the endpoint's request members: its JSON body, or, when the
// body is empty, its query (whose values are text: a member typed integer must parse as one, and so
// on; an array takes the parameter's values). Members the contract does not list are problems unless the endpoint is open; query
// parameters starting with "_" (cache busters) are ignored. A JSON:API document
// {"data":{"attributes":{…}}} is checked by its attributes (the infrastructure surface takes both).
func (e *Endpoint) CheckRequest(body []byte, query url.Values) Problems {
	if len(strings.TrimSpace(string(body))) == 0 {
		return e.checkQuery(query)
	}
	var doc any
	if err := json.Unmarshal(body, &doc); err != nil {
		return Problems{{Msg: "the request is not JSON: " + err.Error()}}
	}
	if m, ok := doc.(map[string]any); ok && e.Surface == "infra" {
		if d, ok := m["data"].(map[string]any); ok {
			if a, ok := d["attributes"].(map[string]any); ok {
				doc = a
			}
		}
	}
	ps := check(doc, e.Request)
	if !e.OpenRequest {
		if m, ok := doc.(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if !e.knownRequestMember(k) {
					ps = append(ps, Problem{k, "not a member of the contract's request"})
				}
			}
		}
	}
	return ps
}

// knownRequestMember tells whether the contract lists a top-level request member, by itself or by a
// path into it.
func (e *Endpoint) knownRequestMember(k string) bool {
	if _, ok := e.Request[k]; ok {
		return true
	}
	for path := range e.Request {
		if strings.HasPrefix(path, k+".") || strings.HasPrefix(path, k+"[]") {
			return true
		}
	}
	return false
}

func (e *Endpoint) checkQuery(q url.Values) Problems {
	var ps Problems
	for _, k := range sortedKeys(q) {
		if strings.HasPrefix(k, "_") {
			continue
		}
		m, known := e.Request[k]
		if !known {
			if !e.OpenRequest && !e.knownRequestMember(k) {
				ps = append(ps, Problem{k, "not a member of the contract's request"})
			}
			continue
		}
		v := q.Get(k)
		if !textIs(v, m.Type) {
			ps = append(ps, Problem{k, fmt.Sprintf("%q is not %s", v, strings.Join(m.Type, " or "))})
		}
	}
	for _, k := range sortedKeys(e.Request) {
		if e.Request[k].Required && !strings.ContainsAny(k, ".[") && !q.Has(k) {
			ps = append(ps, Problem{k, "required, missing"})
		}
	}
	return ps
}

// textIs tells whether a query value can be read as one of the types.
func textIs(v string, types Types) bool {
	for _, t := range types {
		switch t {
		case String:
			return true
		case Integer:
			if _, err := strconv.ParseInt(v, 10, 64); err == nil {
				return true
			}
		case Number:
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return true
			}
		case Boolean:
			if v == "true" || v == "false" {
				return true
			}
		case Array:
			return true // a query parameter repeated: each value is an element
		case Object:
			var x any
			if json.Unmarshal([]byte(v), &x) == nil && typeOf(x) == t {
				return true
			}
		}
	}
	return false
}

// check holds doc against members by path.
func check(doc any, members map[string]Member) Problems {
	var ps Problems
	for _, path := range sortedKeys(members) {
		m := members[path]
		for _, v := range resolve(doc, splitPath(path)) {
			switch {
			case v.missing:
				if m.Required {
					ps = append(ps, Problem{v.path, "required, missing"})
				}
			case !is(v.value, m.Type):
				ps = append(ps, Problem{v.path, fmt.Sprintf("is %s, the contract says %s", typeOf(v.value), strings.Join(m.Type, " or "))})
			case m.Const != nil && !sameJSON(v.value, m.Const):
				ps = append(ps, Problem{v.path, fmt.Sprintf("is %v, the contract says %v", v.value, m.Const)})
			}
		}
	}
	return ps
}

type step struct {
	name  string // member name; "" for the document itself
	each  bool   // [] after the name: every element of the array
	every bool   // "*": every value of the object
}

func splitPath(path string) []step {
	if path == "$" {
		return nil // the document itself
	}
	var out []step
	for _, part := range strings.Split(path, ".") {
		if part == "*" {
			out = append(out, step{every: true})
			continue
		}
		name, each := strings.CutSuffix(part, "[]")
		out = append(out, step{name: name})
		if each {
			out = append(out, step{each: true})
		}
	}
	return out
}

type found struct {
	path    string
	value   any
	missing bool
}

// resolve finds the values a path names in doc: one per element of arrays stepped into; a missing
// last member is reported as missing; a missing or mistyped parent names nothing (its own entry
// reports it).
func resolve(doc any, steps []step) []found {
	cur := []found{{path: "", value: doc}}
	for i, s := range steps {
		last := i == len(steps)-1
		var next []found
		for _, f := range cur {
			switch {
			case s.each:
				arr, ok := f.value.([]any)
				if !ok {
					continue
				}
				for j, el := range arr {
					next = append(next, found{path: fmt.Sprintf("%s[%d]", f.path, j), value: el})
				}
			case s.every:
				obj, ok := f.value.(map[string]any)
				if !ok {
					continue
				}
				for _, k := range sortedKeys(obj) {
					next = append(next, found{path: join(f.path, k), value: obj[k]})
				}
			default:
				obj, ok := f.value.(map[string]any)
				if !ok {
					continue
				}
				v, present := obj[s.name]
				if !present {
					if last {
						next = append(next, found{path: join(f.path, s.name), missing: true})
					}
					continue
				}
				next = append(next, found{path: join(f.path, s.name), value: v})
			}
		}
		cur = next
	}
	return cur
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// typeOf is the JSON type of a decoded value ("integer" for whole numbers).
func typeOf(v any) string {
	switch x := v.(type) {
	case nil:
		return Null
	case string:
		return String
	case bool:
		return Boolean
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return Integer
		}
		return Number
	case []any:
		return Array
	case map[string]any:
		return Object
	}
	return fmt.Sprintf("%T", v)
}

func is(v any, types Types) bool {
	t := typeOf(v)
	for _, want := range types {
		if want == t || (want == Number && t == Integer) {
			return true
		}
	}
	return false
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
