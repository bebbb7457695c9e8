// Package apidoc builds deskhub's OpenAPI 3.1 document from the route tables: paths, methods, access,
// and the request and result types each route carries. The document cannot drift from what is routed,
// because it is made from the same data.
package apidoc

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

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
func Build(info Info, routes []httpapi.Route) (*openapi3.T, error) {
	doc := &openapi3.T{
		OpenAPI: "3.1.0",
		Info:    &openapi3.Info{Title: info.Title, Version: info.Version, Description: info.Description},
		Paths:   openapi3.NewPaths(),
		Components: &openapi3.Components{
			SecuritySchemes: openapi3.SecuritySchemes{
				"bearer": &openapi3.SecuritySchemeRef{Value: openapi3.NewJWTSecurityScheme().WithBearerFormat("opaque")},
				"fastxToken": &openapi3.SecuritySchemeRef{Value: openapi3.NewSecurityScheme().
					WithType("apiKey").WithIn("header").WithName("X-FASTX-TOKEN")},
			},
			Schemas: openapi3.Schemas{},
		},
	}
	doc.Components.SecuritySchemes["bearer"].Value.BearerFormat = "opaque"
	b := &builder{doc: doc}
	if err := b.errorSchemas(); err != nil {
		return nil, err
	}
	for i := range routes {
		if err := b.route(&routes[i]); err != nil {
			return nil, fmt.Errorf("%s: %w", routes[i].Path, err)
		}
	}
	return doc, nil
}

// JSON renders the document.
func JSON(doc *openapi3.T) ([]byte, error) {
	return json.MarshalIndent(doc, "", "  ")
}

type builder struct {
	doc *openapi3.T
}

func (b *builder) schema(t reflect.Type) (*openapi3.SchemaRef, error) {
	if t == nil || t == reflect.TypeFor[any]() {
		return openapi3.NewSchemaRef("", &openapi3.Schema{}), nil
	}
	// A fresh generator per type: its NewSchemaRefForValue inlines every nested schema (clearing the Go
	// type names it keeps as refs while generating).
	gen := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customize))
	ref, err := gen.NewSchemaRefForValue(reflect.New(t).Elem().Interface(), nil)
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return openapi3.NewSchemaRef("", &openapi3.Schema{}), nil
	}
	return openapi3.NewSchemaRef("", ref.Value), nil
}

var errorSchemaName = map[httpapi.Surface]string{
	httpapi.Infra:   "InfraError",
	httpapi.Session: "SessionError",
	httpapi.Agent:   "AgentError",
}

func (b *builder) errorSchemas() error {
	for s, t := range map[httpapi.Surface]reflect.Type{
		httpapi.Infra:   reflect.TypeFor[jsonapi.Errors](),
		httpapi.Session: reflect.TypeFor[httpapi.SessionError](),
		httpapi.Agent:   reflect.TypeFor[httpapi.AgentReply[string]](),
	} {
		ref, err := b.schema(t)
		if err != nil {
			return err
		}
		b.doc.Components.Schemas[errorSchemaName[s]] = ref
	}
	return nil
}

// envelope wraps a result schema in the surface's success envelope.
func envelope(s httpapi.Surface, result *openapi3.SchemaRef) *openapi3.SchemaRef {
	switch s {
	case httpapi.Session:
		return openapi3.NewSchemaRef("", openapi3.NewObjectSchema().
			WithPropertyRef("result", result).WithRequired([]string{"result"}))
	case httpapi.Agent:
		return openapi3.NewSchemaRef("", openapi3.NewObjectSchema().
			WithProperty("code", openapi3.NewIntegerSchema()).
			WithPropertyRef("data", result).WithRequired([]string{"code", "data"}))
	}
	return result
}

var pathParam = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`) })

func (b *builder) route(r *httpapi.Route) error {
	resp, err := b.schema(r.Op.Resp)
	if err != nil {
		return err
	}
	req, err := b.schema(r.Op.Req)
	if err != nil {
		return err
	}
	item := b.doc.Paths.Value(r.Path)
	if item == nil {
		item = &openapi3.PathItem{}
		b.doc.Paths.Set(r.Path, item)
	}
	for _, method := range r.Methods {
		op := openapi3.NewOperation()
		// Several routes on one path (GET and PUT of /files, each its own types) are told apart by method too.
		op.OperationID = operationID(r, method, len(r.Methods) > 1 || len(item.Operations()) > 0)
		op.Summary = r.Summary
		if r.Tag != "" {
			op.Tags = []string{r.Tag}
		}
		op.Extensions = map[string]any{ExtSurface: r.Surface.String(), ExtAccess: r.Access.String()}
		if r.Seed != "" {
			op.Extensions[ExtSeed] = r.Seed
		}
		if !r.Op.Implemented() {
			op.Extensions[ExtPlanned] = r.Op.Planned
			op.Description = "Not implemented yet: answers 501 until " + r.Op.Planned + "."
		}
		if r.Access == httpapi.Public {
			op.Security = &openapi3.SecurityRequirements{}
		} else {
			sec := openapi3.SecurityRequirements{{"bearer": {}}}
			if r.Surface == httpapi.Session {
				sec = append(sec, openapi3.SecurityRequirement{"fastxToken": {}})
			}
			op.Security = &sec
		}
		for _, m := range pathParam().FindAllStringSubmatch(r.Path, -1) {
			op.AddParameter(openapi3.NewPathParameter(m[1]).WithSchema(openapi3.NewStringSchema()).WithRequired(true))
		}
		if method == http.MethodGet || method == http.MethodHead {
			addQueryParams(op, req.Value)
		} else if r.Op.Req != nil {
			op.RequestBody = &openapi3.RequestBodyRef{Value: openapi3.NewRequestBody().
				WithContent(openapi3.NewContentWithSchemaRef(req, mediaTypes(r.Surface)))}
			if r.Op.Form != nil {
				mt, err := b.form(r.Op.Form)
				if err != nil {
					return err
				}
				op.RequestBody.Value.Content["multipart/form-data"] = mt
			}
		}
		b.responses(op, r, resp)
		item.SetOperation(method, op)
	}
	return nil
}

// form is the multipart/form-data media type of a form struct: members of struct type are JSON parts,
// the others (files: []byte with format:"binary") raw parts.
func (b *builder) form(t reflect.Type) (*openapi3.MediaType, error) {
	schema, err := b.schema(t)
	if err != nil {
		return nil, err
	}
	mt := openapi3.NewMediaType().WithSchemaRef(schema)
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
			mt.WithEncoding(name, &openapi3.Encoding{ContentType: "application/json"})
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

func (b *builder) responses(op *openapi3.Operation, r *httpapi.Route, result *openapi3.SchemaRef) {
	op.Responses = openapi3.NewResponses()
	ct := httpapi.ContentType(r.Surface)
	ok := "OK"
	if !r.Op.Raw || r.Op.Document {
		schema := envelope(r.Surface, result)
		if r.Bare {
			schema = result
		}
		op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription(ok).
			WithContent(openapi3.NewContentWithSchemaRef(schema, []string{ct}))})
	} else {
		op.Responses.Set("200", &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription("a stream or file, see the summary")})
	}
	errRef := openapi3.NewSchemaRef("#/components/schemas/"+errorSchemaName[r.Surface], nil)
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
	slices.Sort(codes)
	op.Responses.Set("default", &openapi3.ResponseRef{Value: openapi3.NewResponse().
		WithDescription("any other error (409 conflict, 429 too many tries with Retry-After, 502 a peer failed, 503 unavailable…), in the surface's error envelope").
		WithContent(openapi3.NewContentWithSchemaRef(errRef, []string{ct}))})
	for _, c := range codes {
		op.Responses.Set(fmt.Sprint(c), &openapi3.ResponseRef{Value: openapi3.NewResponse().
			WithDescription(http.StatusText(c)).
			WithContent(openapi3.NewContentWithSchemaRef(errRef, []string{ct}))})
	}
}

func addQueryParams(op *openapi3.Operation, s *openapi3.Schema) {
	if s == nil {
		return
	}
	names := make([]string, 0, len(s.Properties))
	for name := range s.Properties {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		p := openapi3.NewQueryParameter(name).WithSchema(s.Properties[name].Value)
		p.Required = slices.Contains(s.Required, name)
		p.Description = s.Properties[name].Value.Description
		op.AddParameter(p)
	}
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

// customize adds what Go types don't say: descriptions (doc tag), formats (format tag: "binary" for a
// file part), enums (enum tag, comma-separated), JSON types (types tag, comma-separated),
// required members (required:"true"), JSON Schema 2020 null types in place of 3.0's nullable, and the
// JSON types of members with custom decoding.
func customize(_ string, t reflect.Type, tag reflect.StructTag, s *openapi3.Schema) error {
	if d := tag.Get("doc"); d != "" {
		s.Description = d
	}
	if f := tag.Get("format"); f != "" {
		s.Format = f
	}
	if e := tag.Get("enum"); e != "" {
		for _, v := range strings.Split(e, ",") {
			s.Enum = append(s.Enum, v)
		}
	}
	if t.Implements(schemaTyperType) || reflect.PointerTo(t).Implements(schemaTyperType) {
		v := reflect.New(t).Interface().(SchemaTyper)
		types := openapi3.Types(v.JSONSchemaTypes())
		s.Type = &types
		s.Format = ""
	}
	// types:"string,integer" says which JSON types a member with custom encoding takes.
	if ts := tag.Get("types"); ts != "" {
		types := openapi3.Types(strings.Split(ts, ","))
		s.Type = &types
		s.Format = ""
		if !types.Includes("object") {
			s.Properties = nil
		}
		if !types.Includes("array") {
			s.Items = nil
		}
	}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Tag.Get("required") != "true" {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" {
				name = f.Name
			}
			if !slices.Contains(s.Required, name) {
				s.Required = append(s.Required, name)
			}
		}
	}
	if s.Nullable {
		s.Nullable = false
		if s.Type != nil && !s.Type.Includes("null") {
			types := append(openapi3.Types{}, *s.Type...)
			types = append(types, "null")
			s.Type = &types
		}
	}
	return nil
}
