// Package apidoc builds deskhub's OpenAPI 3.1 document from the route tables: paths, methods, access,
// and the request and result types each route carries. The document cannot drift from what is routed,
// because it is made from the same data.
//
// It writes the document with its own small model (document.go, schema.go) rather than a general
// OpenAPI library: kin-openapi, used before, links a JSON Schema validator whose package initialisation
// leaves ~1.2 MiB in every deskhub process, each desktop's agent included (docs/PERFORMANCE.md). The
// tests still load and validate the document, and every request and answer of the API tests, with
// kin-openapi.
package apidoc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Extension keys on operations.
const (
	ExtSurface = "x-deskhub-surface"
	ExtPlanned = "x-deskhub-planned"
	ExtSeed    = "x-deskhub-seed"
	ExtAccess  = "x-deskhub-access"
)

// SchemaTyper lets a type with custom JSON decoding say which JSON types it accepts (e.g. an integer
// that also takes a numeric string).
type SchemaTyper interface {
	JSONSchemaTypes() []string
}

var schemaTyperType = reflect.TypeFor[SchemaTyper]()

// Info describes the document.
type Info struct {
	Title, Version, Description string
}

// Build makes the OpenAPI document of the given routes.
func Build(info Info, routes []httpapi.Route) (*Document, error) {
	doc := &Document{
		OpenAPI: "3.1.0",
		Info:    docInfo{Title: info.Title, Version: info.Version, Description: info.Description},
		Paths:   map[string]pathItem{},
		Components: components{
			SecuritySchemes: map[string]securityScheme{
				"bearer":     {Type: "http", Scheme: "bearer", BearerFormat: "opaque"},
				"fastxToken": {Type: "apiKey", In: "header", Name: "X-FASTX-TOKEN"},
			},
			Schemas: map[string]*Schema{},
		},
	}
	for s, t := range map[httpapi.Surface]reflect.Type{
		httpapi.Infra:   reflect.TypeFor[jsonapi.Errors](),
		httpapi.Session: reflect.TypeFor[httpapi.SessionError](),
		httpapi.Agent:   reflect.TypeFor[httpapi.AgentReply[string]](),
	} {
		schema, err := SchemaOf(t)
		if err != nil {
			return nil, err
		}
		doc.Components.Schemas[errorSchemaName[s]] = schema
	}
	for i := range routes {
		if err := doc.route(&routes[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", routes[i].Path, err)
		}
	}
	return doc, nil
}

// JSON renders the document.
func JSON(doc *Document) ([]byte, error) {
	return json.MarshalIndent(doc, "", "  ")
}

var errorSchemaName = map[httpapi.Surface]string{
	httpapi.Infra:   "InfraError",
	httpapi.Session: "SessionError",
	httpapi.Agent:   "AgentError",
}

// envelope wraps a result schema in the surface's success envelope.
func envelope(s httpapi.Surface, result *Schema) *Schema {
	switch s {
	case httpapi.Session:
		return objectSchema(map[string]*Schema{"result": result}, "result")
	case httpapi.Agent:
		return objectSchema(map[string]*Schema{"code": typed("integer"), "data": result}, "code", "data")
	}
	return result
}

var pathParam = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

func (d *Document) route(r *httpapi.Route) error {
	resp, err := SchemaOf(r.Op.Resp)
	if err != nil {
		return err
	}
	req, err := SchemaOf(r.Op.Req)
	if err != nil {
		return err
	}
	item := d.Paths[r.Path]
	if item == nil {
		item = pathItem{}
		d.Paths[r.Path] = item
	}
	for _, method := range r.Methods {
		op := &operation{
			// Several routes on one path (GET and PUT of /files, each its own types) are told apart by method too.
			OperationID: operationID(r, method, len(r.Methods) > 1 || len(item) > 0),
			Summary:     r.Summary,
			Surface:     r.Surface.String(),
			Access:      r.Access.String(),
			Seed:        r.Seed,
			Security:    []map[string][]string{},
		}
		if r.Tag != "" {
			op.Tags = []string{r.Tag}
		}
		if !r.Op.Implemented() {
			op.Planned = r.Op.Planned
			op.Description = "Not implemented yet: answers 501 until " + r.Op.Planned + "."
		}
		if r.Access != httpapi.Public {
			op.Security = append(op.Security, map[string][]string{"bearer": {}})
			if r.Surface == httpapi.Session {
				op.Security = append(op.Security, map[string][]string{"fastxToken": {}})
			}
		}
		for _, m := range pathParam().FindAllStringSubmatch(r.Path, -1) {
			op.Parameters = append(op.Parameters, parameter{In: "path", Name: m[1], Required: true, Schema: typed("string")})
		}
		if method == http.MethodGet || method == http.MethodHead {
			op.Parameters = append(op.Parameters, queryParams(req)...)
		} else if r.Op.Req != nil {
			op.RequestBody = &requestBody{Content: content(req, mediaTypes(r.Surface)...)}
			if r.Op.Form != nil {
				mt, err := form(r.Op.Form)
				if err != nil {
					return err
				}
				op.RequestBody.Content["multipart/form-data"] = mt
			}
		}
		op.Responses = responses(r, resp)
		item[strings.ToLower(method)] = op
	}
	return nil
}

func content(s *Schema, types ...string) map[string]mediaType {
	c := make(map[string]mediaType, len(types))
	for _, t := range types {
		c[t] = mediaType{Schema: s}
	}
	return c
}

// form is the multipart/form-data media type of a form struct: members of struct type are JSON parts,
// the others (files: []byte with format:"binary") raw parts.
func form(t reflect.Type) (mediaType, error) {
	schema, err := SchemaOf(t)
	if err != nil {
		return mediaType{}, err
	}
	mt := mediaType{Schema: schema}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			if mt.Encoding == nil {
				mt.Encoding = map[string]encoding{}
			}
			mt.Encoding[name] = encoding{ContentType: "application/json"}
		}
	}
	return mt, nil
}

func mediaTypes(s httpapi.Surface) []string {
	if s == httpapi.Infra {
		return []string{jsonapi.MediaType, "application/json"}
	}
	return []string{"application/json"}
}

func responses(r *httpapi.Route, result *Schema) map[string]response {
	out := map[string]response{}
	ct := httpapi.ContentType(r.Surface)
	if !r.Op.Raw || r.Op.Document {
		schema := envelope(r.Surface, result)
		if r.Bare {
			schema = result
		}
		out["200"] = response{Description: "OK", Content: content(schema, ct)}
	} else {
		out["200"] = response{Description: "a stream or file, see the summary"}
	}
	errRef := &Schema{Ref: "#/components/schemas/" + errorSchemaName[r.Surface]}
	codes := []int{400, 404, 405, 413, 500}
	if r.Access != httpapi.Public {
		codes = append(codes, 401)
	}
	if r.Access == httpapi.Admin {
		codes = append(codes, 403)
	}
	if !r.Op.Implemented() {
		codes = append(codes, 501)
	}
	out["default"] = response{Content: content(errRef, ct),
		Description: "any other error (409 conflict, 429 too many tries with Retry-After, 502 a peer failed, 503 unavailable…), in the surface's error envelope"}
	for _, c := range codes {
		out[strconv.Itoa(c)] = response{Description: http.StatusText(c), Content: content(errRef, ct)}
	}
	return out
}

// queryParams are the members of a GET's request type, each a query parameter.
func queryParams(s *Schema) []parameter {
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	out := make([]parameter, 0, len(names))
	for _, name := range names {
		p := s.Properties[name]
		out = append(out, parameter{In: "query", Name: name, Required: slices.Contains(s.Required, name),
			Description: p.Description, Schema: p})
	}
	return out
}

// operationID makes a unique, readable id, e.g. "infra.user.login", "session.post.session.list".
func operationID(r *httpapi.Route, method string, manyMethods bool) string {
	p := strings.TrimPrefix(r.Path, "/")
	for _, prefix := range []string{"api/v1/", "v3/", "spawner/{session_id}/"} {
		p = strings.TrimPrefix(p, prefix)
	}
	p = strings.NewReplacer("/", ".", "{", "", "}", "").Replace(p)
	if p == "api" {
		p = "api.root"
	}
	id := r.Surface.String() + "." + p
	if manyMethods {
		id += "." + strings.ToLower(method)
	}
	return id
}
