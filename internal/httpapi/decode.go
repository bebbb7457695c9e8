package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// DefaultMaxBody is the request body limit when Options.MaxBody is zero.
const DefaultMaxBody = 1 << 20

// Validator is implemented by request types with checks beyond types and required members. Validate
// returns a *Error (usually from BadRequest) or a *field.Error naming the member at fault; any other
// error becomes a 400 that names no member.
type Validator interface {
	Validate() error
}

// Decode reads the request's parameters into dst and validates them. Parameters come from the JSON body;
// a GET (or any request with an empty body) takes them from the query string instead, converted by the
// types of dst's members. On the infrastructure surface a JSON:API wrapper {"data":{"attributes":{…}}}
// is accepted as well as the flat object. Members tagged `required:"true"` must be present and not null.
// Members the request type does not have are refused. Errors are 400s naming the member at fault (413
// for an oversized body, 408 for one that did not arrive in time).
func Decode(c *Call, dst any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	rt := reflect.TypeOf(dst).Elem()
	if len(bytes.TrimSpace(body)) == 0 {
		body, err = queryJSON(c.R.URL.Query(), rt)
		if err != nil {
			return err
		}
	}
	return DecodeJSON(body, dst, c.Route != nil && c.Route.Surface == Infra)
}

// DecodeJSON decodes one JSON object into dst with the same checks as Decode. unwrapJSONAPI accepts a
// JSON:API document and decodes its data.attributes.
func DecodeJSON(body []byte, dst any, unwrapJSONAPI bool) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		return jsonError(err)
	}
	if members == nil {
		return BadRequest("", "request body must be a JSON object, not null")
	}
	if unwrapJSONAPI {
		if inner, ok := jsonapiAttributes(members); ok {
			body, members = inner.raw, inner.members
		}
	}
	rv := reflect.ValueOf(dst).Elem()
	if err := checkMembers(rv.Type(), members, ""); err != nil {
		return err
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return jsonError(err)
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			var e *Error
			if errors.As(err, &e) {
				return e
			}
			var fe *field.Error
			if errors.As(err, &fe) {
				return BadRequest(fe.Field, "%s", fe.Error())
			}
			return BadRequest("", "%s", err.Error())
		}
	}
	return nil
}

// BufferBody reads the whole request body into memory and puts it back for the handler, so that a body
// over the limit (413) or too slow to arrive (408) is refused before anything is done with it — a proxy
// that streamed it on would find out halfway and could only answer 502.
func BufferBody(c *Call) error {
	body, err := readBody(c)
	if err != nil || len(body) == 0 {
		return err // an empty body is read to its end already
	}
	c.R.Body = io.NopCloser(bytes.NewReader(body))
	c.R.ContentLength = int64(len(body))
	c.R.Header.Del("Transfer-Encoding")
	c.R.TransferEncoding = nil
	return nil
}

func readBody(c *Call) ([]byte, error) {
	if c.R.Body == nil || c.R.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(c.R.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		var slow *BodyTimeoutError
		if errors.As(err, &tooBig) || errors.As(err, &slow) {
			return nil, AsError(err)
		}
		return nil, BadRequest("", "cannot read request body: %v", err)
	}
	return body, nil
}

type attributes struct {
	raw     []byte
	members map[string]json.RawMessage
}

// jsonapiAttributes finds data.attributes in a JSON:API request document.
func jsonapiAttributes(members map[string]json.RawMessage) (attributes, bool) {
	data, ok := members["data"]
	if !ok || len(members) > 3 { // data, plus at most meta and jsonapi
		return attributes{}, false
	}
	var doc struct {
		Attributes json.RawMessage `json:"attributes"`
	}
	if json.Unmarshal(data, &doc) != nil || len(doc.Attributes) == 0 {
		return attributes{}, false
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(doc.Attributes, &inner) != nil || inner == nil {
		return attributes{}, false
	}
	return attributes{raw: doc.Attributes, members: inner}, true
}

// jsonError turns an encoding/json error into a 400 naming the member and the expected type.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return BadRequest("", "request body must be a JSON object, not %s", typeErr.Value)
		}
		return BadRequest(typeErr.Field, "member %q must be %s, not %s",
			typeErr.Field, kindName(typeErr.Type), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return BadRequest("", "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("", "malformed JSON: unexpected end of input")
	}
	return BadRequest("", "invalid request body: %v", err)
}

func kindName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// jsonName returns the JSON member name of a struct field, and false for fields JSON ignores.
func jsonName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	tag := f.Tag.Get("json")
	if tag == "-" {
		return "", false
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		name = f.Name
	}
	return name, true
}

// memberField is a struct field as JSON sees it.
type memberField struct {
	name     string
	typ      reflect.Type
	required bool
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonMembers lists the JSON members of struct type t, flattening embedded structs as encoding/json
// does.
func jsonMembers(t reflect.Type) []memberField {
	var out []memberField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Tag.Get("json") == "" {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				out = append(out, jsonMembers(ft)...)
				continue
			}
		}
		if name, ok := jsonName(f); ok {
			out = append(out, memberField{name: name, typ: f.Type, required: f.Tag.Get("required") == "true"})
		}
	}
	return out
}

// checkMembers reports the first problem with the members of a JSON object decoded into struct type t:
// a member tagged required:"true" that is absent or null, or a member t does not have. It descends into
// nested objects and arrays of objects. Types with their own JSON decoding are not looked into.
func checkMembers(t reflect.Type, members map[string]json.RawMessage, prefix string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	fields := jsonMembers(t)
	known := make(map[string]bool, len(fields))
	for _, f := range fields {
		known[f.name] = true
		path := prefix + f.name
		raw, present := members[f.name]
		if f.required && (!present || string(raw) == "null") {
			return BadRequest(path, "member %q is required", path)
		}
		if !present {
			continue
		}
		ft := f.typ
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			var sub map[string]json.RawMessage
			if json.Unmarshal(raw, &sub) == nil && sub != nil {
				if err := checkMembers(ft, sub, path+"."); err != nil {
					return err
				}
			}
		case ft.Kind() == reflect.Slice && structElem(ft.Elem()):
			var items []map[string]json.RawMessage
			if json.Unmarshal(raw, &items) == nil {
				for j, item := range items {
					if err := checkMembers(ft.Elem(), item, fmt.Sprintf("%s[%d].", path, j)); err != nil {
						return err
					}
				}
			}
		}
	}
	var unknown []string
	for name := range members {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		slices.Sort(unknown)
		path := prefix + unknown[0]
		names := make([]string, 0, len(fields))
		for _, f := range fields {
			names = append(names, f.name)
		}
		if len(names) == 0 {
			return BadRequest(path, "member %q is not known: this call takes no parameters", path)
		}
		return BadRequest(path, "member %q is not known; this call takes %s", path, strings.Join(names, ", "))
	}
	return nil
}

func structElem(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// queryJSON builds a JSON object from query parameters, typed by the members of t: string members get
// the text as is, string arrays get every value, other members get the text parsed as JSON (so that a
// wrong type is reported like one in a body).
func queryJSON(q url.Values, t reflect.Type) ([]byte, error) {
	fields := map[string]reflect.Type{}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			if name, ok := jsonName(t.Field(i)); ok {
				fields[name] = t.Field(i).Type
			}
		}
	}
	obj := make(map[string]json.RawMessage, len(q))
	for key, vals := range q {
		if len(vals) == 0 {
			continue
		}
		ft, known := fields[key]
		if !known {
			if strings.HasPrefix(key, "_") {
				continue // cache busters such as jQuery's _=123
			}
			raw, _ := json.Marshal(vals[len(vals)-1])
			obj[key] = raw // reported as an unknown member
			continue
		}
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var raw []byte
		switch {
		case ft.Kind() == reflect.String:
			raw, _ = json.Marshal(vals[len(vals)-1])
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			raw, _ = json.Marshal(vals)
		default:
			v := vals[len(vals)-1]
			if json.Valid([]byte(v)) {
				raw = []byte(v)
			} else {
				raw, _ = json.Marshal(v)
			}
		}
		obj[key] = raw
	}
	return json.Marshal(obj)
}
