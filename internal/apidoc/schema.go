package apidoc

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Schema is a JSON Schema (draft 2020-12, the dialect of OpenAPI 3.1): the part of it deskhub's documents
// use. It marshals with its keys in sorted order and without its empty members.
type Schema struct {
	Ref                  string // "$ref"; the other members are then empty
	Type                 []string
	Format               string
	Description          string
	Enum                 []string
	Properties           map[string]*Schema
	Required             []string
	Items                *Schema
	AdditionalProperties *Schema
	Minimum, Maximum     *float64
}

// MarshalJSON writes one type as a string and several as an array, as JSON Schema does.
func (s *Schema) MarshalJSON() ([]byte, error) {
	if s.Ref != "" {
		return json.Marshal(map[string]string{"$ref": s.Ref})
	}
	m := map[string]any{}
	switch len(s.Type) {
	case 0:
	case 1:
		m["type"] = s.Type[0]
	default:
		m["type"] = s.Type
	}
	set := func(key string, v any, ok bool) {
		if ok {
			m[key] = v
		}
	}
	set("format", s.Format, s.Format != "")
	set("description", s.Description, s.Description != "")
	set("enum", s.Enum, len(s.Enum) > 0)
	set("properties", s.Properties, len(s.Properties) > 0)
	set("required", s.Required, len(s.Required) > 0)
	set("items", s.Items, s.Items != nil)
	set("additionalProperties", s.AdditionalProperties, s.AdditionalProperties != nil)
	set("minimum", s.Minimum, s.Minimum != nil)
	set("maximum", s.Maximum, s.Maximum != nil)
	return json.Marshal(m)
}

func (s *Schema) hasType(t string) bool { return slices.Contains(s.Type, t) }

func objectSchema(props map[string]*Schema, required ...string) *Schema {
	return &Schema{Type: []string{"object"}, Properties: props, Required: required}
}

func typed(t string) *Schema { return &Schema{Type: []string{t}} }

func bound(f float64) *float64 { return &f }

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// SchemaOf answers the schema of values of Go type t as encoding/json writes and reads them: members
// with a json tag only, embedded structs without one flattened, pointers adding "null" below the top,
// []byte a base64 string, time.Time a date-time string, and what the struct tags add (see customize).
// A type that contains itself is refused: documents inline every schema.
func SchemaOf(t reflect.Type) (*Schema, error) {
	if t == nil || t == reflect.TypeFor[any]() {
		return &Schema{}, nil
	}
	s, err := schemaFor(nil, t, "", true)
	if s == nil && err == nil {
		s = &Schema{}
	}
	return s, err
}

func schemaFor(parents []reflect.Type, t reflect.Type, tag reflect.StructTag, root bool) (*Schema, error) {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		nullable = !root
	}
	if slices.Contains(parents, t) {
		return nil, fmt.Errorf("type %s contains itself", t)
	}
	parents = append(parents, t)
	s := &Schema{}
	switch t.Kind() {
	case reflect.Func, reflect.Chan:
		return nil, nil
	case reflect.Bool:
		s.Type = []string{"boolean"}
	case reflect.Int:
		s.Type = []string{"integer"}
	case reflect.Int8:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(math.MinInt8), bound(math.MaxInt8)
	case reflect.Int16:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(math.MinInt16), bound(math.MaxInt16)
	case reflect.Int32:
		s.Type, s.Format = []string{"integer"}, "int32"
	case reflect.Int64:
		s.Type, s.Format = []string{"integer"}, "int64"
	case reflect.Uint:
		s.Type, s.Minimum = []string{"integer"}, bound(0)
	case reflect.Uint8:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(0), bound(math.MaxUint8)
	case reflect.Uint16:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(0), bound(math.MaxUint16)
	case reflect.Uint32:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(0), bound(math.MaxUint32)
	case reflect.Uint64:
		s.Type, s.Minimum, s.Maximum = []string{"integer"}, bound(0), bound(math.MaxUint64)
	case reflect.Float32:
		s.Type, s.Format = []string{"number"}, "float"
	case reflect.Float64:
		s.Type, s.Format = []string{"number"}, "double"
	case reflect.String:
		s.Type = []string{"string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if t != rawMessageType {
				s.Type, s.Format = []string{"string"}, "byte"
			}
			break
		}
		s.Type = []string{"array"}
		items, err := schemaFor(parents, t.Elem(), tag, false)
		if err != nil {
			return nil, err
		}
		s.Items = items
	case reflect.Map:
		s.Type = []string{"object"}
		values, err := schemaFor(parents, t.Elem(), tag, false)
		if err != nil {
			return nil, err
		}
		s.AdditionalProperties = values
	case reflect.Struct:
		if t == timeType {
			s.Type, s.Format = []string{"string"}, "date-time"
			break
		}
		for _, f := range jsonFields(t, false, nil) {
			fs, err := schemaFor(parents, f.Type, f.Tag, false)
			if err != nil {
				return nil, err
			}
			if fs == nil {
				continue
			}
			if s.Properties == nil {
				s.Properties = map[string]*Schema{}
			}
			s.Properties[f.Name] = fs
		}
		if s.Properties != nil {
			s.Type = []string{"object"}
		}
	}
	customize(t, tag, s)
	if nullable && len(s.Type) > 0 && !s.hasType("null") {
		s.Type = append(s.Type, "null")
	}
	return s, nil
}

// jsonFields lists the members of struct t that carry a json tag, by their JSON name (sorted), embedded
// structs without a json name flattened into their parent.
func jsonFields(t reflect.Type, embedded bool, out []reflect.StructField) []reflect.StructField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && tag != "-" && name == "" {
			out = jsonFields(f.Type, true, out)
			continue
		}
		r, _ := utf8.DecodeRuneInString(f.Name)
		if tag == "" || tag == "-" || unicode.IsLower(r) || f.Type.Kind() == reflect.Func || f.Type.Kind() == reflect.Chan {
			continue
		}
		if name != "" {
			f.Name = name
		}
		out = append(out, f)
	}
	if !embedded {
		slices.SortStableFunc(out, func(a, b reflect.StructField) int { return strings.Compare(a.Name, b.Name) })
	}
	return out
}

// customize adds what Go types don't say: descriptions (doc tag), formats (format tag: "binary" for a
// file part), enums (enum tag, comma-separated), JSON types (types tag, comma-separated),
// required members (required:"true"), and the JSON types of members with custom decoding.
func customize(t reflect.Type, tag reflect.StructTag, s *Schema) {
	if d := tag.Get("doc"); d != "" {
		s.Description = d
	}
	if f := tag.Get("format"); f != "" {
		s.Format = f
	}
	if e := tag.Get("enum"); e != "" {
		s.Enum = append(s.Enum, strings.Split(e, ",")...)
	}
	if t.Implements(schemaTyperType) || reflect.PointerTo(t).Implements(schemaTyperType) {
		s.Type = reflect.New(t).Interface().(SchemaTyper).JSONSchemaTypes()
		s.Format = ""
	}
	// types:"string,integer" says which JSON types a member with custom encoding takes.
	if ts := tag.Get("types"); ts != "" {
		s.Type = strings.Split(ts, ",")
		s.Format = ""
		if !s.hasType("object") {
			s.Properties = nil
		}
		if !s.hasType("array") {
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
}
