package apidoc_test

// The schema generator is checked against kin-openapi's openapi3gen, which deskhub's documents were made
// with before (apidoc.go says why it no longer is), and whole documents against kin-openapi's loader and
// validator: the document must mean to an independent OpenAPI implementation what it meant before.

import (
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3gen"

	"github.com/deskhub/deskhub/internal/apidoc"
	"github.com/deskhub/deskhub/internal/httpapi"
)

type flexible struct{ v int }

func (flexible) JSONSchemaTypes() []string { return []string{"integer", "string"} }

type Inner struct {
	Name  string  `json:"name" doc:"the inner name" required:"true"`
	Score float32 `json:"score,omitempty"`
}

type embeddedBase struct {
	ID      int64 `json:"id" doc:"flattened from an embedded struct"`
	private int
}

type kinds struct {
	embeddedBase
	*Inner
	Named       Inner             `json:"named_inner"`
	Bool        bool              `json:"b"`
	I           int               `json:"i"`
	I8          int8              `json:"i8"`
	I16         int16             `json:"i16"`
	I32         int32             `json:"i32"`
	I64         *int64            `json:"i64"`
	U           uint              `json:"u"`
	U8          uint8             `json:"u8"`
	U16         uint16            `json:"u16"`
	U32         uint32            `json:"u32"`
	U64         uint64            `json:"u64"`
	F32         float32           `json:"f32"`
	F64         *float64          `json:"f64"`
	S           string            `json:"s" enum:"a,b,c" doc:"one of three"`
	Bytes       []byte            `json:"bytes" format:"binary"`
	Raw         json.RawMessage   `json:"raw" types:"object,array"`
	When        time.Time         `json:"when"`
	WhenPtr     *time.Time        `json:"when_ptr"`
	List        []Inner           `json:"list"`
	PtrList     []*Inner          `json:"ptr_list"`
	Map         map[string][]int  `json:"map"`
	MapPtr      map[string]*Inner `json:"map_ptr"`
	Any         any               `json:"any"`
	Flex        flexible          `json:"flex" doc:"an integer or a numeric string"`
	FlexPtr     *flexible         `json:"flex_ptr"`
	Typed       []string          `json:"typed" types:"string,array"`
	TypedObject map[string]int    `json:"typed_object" types:"string"`
	Fixed       [2]int            `json:"fixed"`
	Untagged    string
	Skipped     string   `json:"-"`
	Fn          func()   `json:"fn"`
	Ch          chan int `json:"ch"`
	Empty       struct{} `json:"empty"`
	Anonymous   struct {
		X int `json:"x" required:"true"`
	} `json:"anonymous"`
	Renamed string `json:",omitempty" required:"true"`
}

type outer struct {
	Kinds  kinds  `json:"kinds"`
	Kinds2 *kinds `json:"kinds2"`
}

// customize is the schema customizer apidoc used with openapi3gen (git history of apidoc.go).
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
	typer := reflect.TypeFor[apidoc.SchemaTyper]()
	if t.Implements(typer) || reflect.PointerTo(t).Implements(typer) {
		types := openapi3.Types(reflect.New(t).Interface().(apidoc.SchemaTyper).JSONSchemaTypes())
		s.Type = &types
		s.Format = ""
	}
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

func kinSchema(t *testing.T, typ reflect.Type) []byte {
	t.Helper()
	gen := openapi3gen.NewGenerator(openapi3gen.SchemaCustomizer(customize))
	ref, err := gen.NewSchemaRefForValue(reflect.New(typ).Elem().Interface(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(ref.Value, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSchemaOfMatchesOpenAPI3Gen(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[outer](), reflect.TypeFor[kinds](), reflect.TypeFor[*kinds](), reflect.TypeFor[Inner](),
		reflect.TypeFor[[]Inner](), reflect.TypeFor[map[string]Inner](), reflect.TypeFor[string](),
		reflect.TypeFor[*int](), reflect.TypeFor[[]byte](), reflect.TypeFor[flexible](), reflect.TypeFor[time.Time](),
		reflect.TypeFor[httpapi.SessionError](), reflect.TypeFor[httpapi.AgentReply[[]Inner]](),
	} {
		s, err := apidoc.SchemaOf(typ)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		got, err := json.MarshalIndent(s, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if want := kinSchema(t, typ); string(got) != string(want) {
			t.Errorf("%s:\n got %s\nwant %s", typ, got, want)
		}
	}
	// The fixture reaches what it should: a renamed member, a nullable pointer, a flattened embedded one.
	s, _ := apidoc.SchemaOf(reflect.TypeFor[kinds]())
	for name, want := range map[string]string{"Renamed": `{"type":"string"}`, "i64": `{"format":"int64","type":["integer","null"]}`,
		"id":       `{"description":"flattened from an embedded struct","format":"int64","type":"integer"}`,
		"flex_ptr": `{"type":["integer","string","null"]}`} {
		if b, _ := json.Marshal(s.Properties[name]); string(b) != want {
			t.Errorf("%s: %s, want %s", name, b, want)
		}
	}
	for _, gone := range []string{"Untagged", "Skipped", "-", "fn", "ch", "private"} {
		if _, ok := s.Properties[gone]; ok {
			t.Errorf("%s is in the schema", gone)
		}
	}
}

type loop struct {
	Next *loop `json:"next"`
}

func TestSchemaOfRefusesCycles(t *testing.T) {
	if _, err := apidoc.SchemaOf(reflect.TypeFor[loop]()); err == nil || !strings.Contains(err.Error(), "contains itself") {
		t.Fatalf("a type that contains itself: %v", err)
	}
}

type listReq struct {
	Filter string `json:"filter" doc:"only these"`
	Limit  int    `json:"limit" required:"true"`
}

type uploadForm struct {
	Meta Inner  `json:"meta"`
	File []byte `json:"file" format:"binary"`
}

func TestBuildValidatesWithKinOpenAPI(t *testing.T) {
	ok := func(*httpapi.Call, *listReq) (Inner, error) { return Inner{}, nil }
	routes := []httpapi.Route{
		{Surface: httpapi.Infra, Methods: []string{"POST"}, Path: "/api/v1/thing.list", Access: httpapi.User, Op: httpapi.Op(ok), Tag: "thing", Seed: "thing.list"},
		{Surface: httpapi.Session, Methods: []string{"GET", "POST"}, Path: "/v3/api/thing/list", Access: httpapi.Admin, Op: httpapi.Op(ok)},
		{Surface: httpapi.Agent, Methods: []string{"PUT"}, Path: "/spawner/{session_id}/files/{name}", Access: httpapi.Public,
			Op: httpapi.FormOp[listReq, uploadForm, Inner](func(*httpapi.Call) (Inner, error) { return Inner{}, nil })},
		{Surface: httpapi.Agent, Methods: []string{"GET"}, Path: "/spawner/{session_id}/files/{name}", Access: httpapi.User,
			Op: httpapi.RawOp[listReq, any](func(*httpapi.Call) error { return nil })},
		{Surface: httpapi.Infra, Methods: []string{"POST"}, Path: "/api/v1/thing.later", Access: httpapi.User, Op: httpapi.Planned[listReq, Inner]("issue 99")},
	}
	doc, err := apidoc.Build(apidoc.Info{Title: "t", Version: "1"}, routes)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := apidoc.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Validate(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	get := loaded.Paths.Find("/v3/api/thing/list").Get
	if get == nil || get.OperationID != "session.api.thing.list.get" || len(get.Parameters) != 2 ||
		get.Parameters[0].Value.Name != "filter" || get.Parameters[0].Value.Required || !get.Parameters[1].Value.Required ||
		get.Parameters[0].Value.Description != "only these" || len(*get.Security) != 2 || get.Responses.Status(403) == nil {
		t.Errorf("session GET: %s", raw)
	}
	put := loaded.Paths.Find("/spawner/{session_id}/files/{name}").Put
	// The path's second route (GET) is told apart by its method; the first keeps the plain id.
	if put == nil || put.OperationID != "agent.files.name" || loaded.Paths.Find("/spawner/{session_id}/files/{name}").Get.OperationID != "agent.files.name.get" || len(put.Parameters) != 2 || put.Security == nil || len(*put.Security) != 0 ||
		put.RequestBody.Value.Content["multipart/form-data"].Encoding["meta"].ContentType != "application/json" ||
		put.Responses.Status(401) != nil {
		t.Errorf("public form PUT: %s", raw)
	}
	later := loaded.Paths.Find("/api/v1/thing.later").Post
	if later.Extensions[apidoc.ExtPlanned] != "issue 99" || later.Responses.Status(501) == nil ||
		later.Responses.Status(200).Value.Content["application/vnd.api+json"] == nil {
		t.Errorf("planned: %s", raw)
	}
	env := loaded.Paths.Find("/spawner/{session_id}/files/{name}").Put.Responses.Status(200).Value.Content["application/json"].Schema.Value
	if !slices.Equal(env.Required, []string{"code", "data"}) || env.Properties["data"].Value.Properties["name"] == nil {
		t.Errorf("agent envelope: %s", raw)
	}
}
