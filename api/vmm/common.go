package vmm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// Provider says which backend a resource lives in; every LXD-side resource carries one.
type Provider string

const (
	// ProviderLXD is a resource on an LXD/Incus server added with server.add.
	ProviderLXD Provider = "lxd"
	// ProviderInternal is a resource deskhub keeps itself (the local host, its own image server).
	ProviderInternal Provider = "internal"
)

// Valid tells whether p is a known provider.
func (p Provider) Valid() bool { return p == ProviderLXD || p == ProviderInternal }

// checkProvider reports an unknown provider.
func checkProvider(p Provider) error {
	if !p.Valid() {
		return field.Errorf("provider", "must be %q or %q, not %q", ProviderLXD, ProviderInternal, string(p))
	}
	return nil
}

// maxRequestID bounds a client's request_id.
const maxRequestID = 128

// checkRequestID reports an oversized request_id.
func checkRequestID(id string) error {
	if len(id) > maxRequestID {
		return field.Errorf("request_id", "must be at most %d bytes, not %d", maxRequestID, len(id))
	}
	return nil
}

// checkPasswords reports an empty password or one that its repetition does not match.
func checkPasswords(password, repeat string) error {
	if password == "" {
		return field.Errorf("user_password", "must not be empty")
	}
	if password != repeat {
		return field.Errorf("user_passwordRepeat", "must equal \"user_password\"")
	}
	return nil
}

// FlexInt is an integer that also accepts a numeric string on input, for members such as server_port
// that the seed types as integer but shows as a string ("8443"). It is written as a JSON number.
type FlexInt int64

// MarshalJSON writes f as a JSON number.
func (f FlexInt) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(f), 10), nil
}

// UnmarshalJSON accepts a JSON integer or a string holding a base-10 integer ("8443"); null leaves f
// unchanged. Anything else (fractions, exponents, booleans, words, out-of-range numbers) is an
// *json.UnmarshalTypeError describing the value, so that decoders can name the member at fault.
func (f *FlexInt) UnmarshalJSON(data []byte) error {
	if len(data) == 0 {
		return flexError("empty value")
	}
	switch c := data[0]; {
	case c == 'n' && string(data) == "null":
		return nil
	case c == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return flexError(fmt.Sprintf("malformed string %s", data))
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return flexError(fmt.Sprintf("string %q (out of range)", s))
			}
			return flexError(fmt.Sprintf("string %q (not an integer)", s))
		}
		*f = FlexInt(n)
		return nil
	case c == '-' || (c >= '0' && c <= '9'):
		n, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return flexError(fmt.Sprintf("number %s (out of range)", data))
			}
			return flexError(fmt.Sprintf("number %s (not an integer)", data))
		}
		*f = FlexInt(n)
		return nil
	case c == 't' || c == 'f':
		return flexError("boolean")
	case c == '[':
		return flexError("array")
	case c == '{':
		return flexError("object")
	}
	return flexError(fmt.Sprintf("value %s", data))
}

func flexError(value string) error {
	return &json.UnmarshalTypeError{Value: value, Type: reflect.TypeFor[FlexInt]()}
}

// JSONSchemaTypes tells the OpenAPI generator that a FlexInt takes a number or a numeric string.
func (FlexInt) JSONSchemaTypes() []string { return []string{"integer", "string"} }

// CommaList is a list of strings that ui-vmm's panel sends and reads as one comma-separated string
// ("default,net"). It is written as that string, and read from it or from a JSON array of strings
// (deskhub's own form); blanks around entries and empty entries are dropped.
type CommaList []string

// MarshalJSON writes the list as one comma-separated string.
func (l CommaList) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(l, ","))
}

// UnmarshalJSON reads a comma-separated string or an array of strings; null leaves l unchanged.
func (l *CommaList) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var items []string
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		items = strings.Split(s, ",")
	} else if err := json.Unmarshal(data, &items); err != nil {
		return &json.UnmarshalTypeError{Value: "value " + string(data), Type: reflect.TypeFor[CommaList]()}
	}
	out := make(CommaList, 0, len(items))
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	*l = out
	return nil
}

// JSONSchemaTypes tells the OpenAPI generator that a CommaList is a string or an array of strings.
func (CommaList) JSONSchemaTypes() []string { return []string{"string", "array"} }

// StringList is a list of strings in a request: read from a JSON array or from a comma-separated
// string (as ui-vmm's panel sends lists), written as an array.
type StringList []string

// UnmarshalJSON reads an array of strings or a comma-separated string; null leaves l unchanged.
func (l *StringList) UnmarshalJSON(data []byte) error {
	var c CommaList
	if err := c.UnmarshalJSON(data); err != nil {
		return &json.UnmarshalTypeError{Value: "value " + string(data), Type: reflect.TypeFor[StringList]()}
	}
	if c != nil {
		*l = StringList(c)
	}
	return nil
}

// JSONSchemaTypes tells the OpenAPI generator that a StringList is an array of strings or a string.
func (StringList) JSONSchemaTypes() []string { return []string{"array", "string"} }
