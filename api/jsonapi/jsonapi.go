// Package jsonapi holds the JSON:API document shapes the infrastructure surface answers with
// (https://jsonapi.org/format/1.1/). Wire types only: nothing here imports deskhub's internals.
//
// Two departures from JSON:API 1.1, both for ui-vmm's panel (the client the seed was written for, see
// docs/compat-infra.md): ids that deskhub numbers (servers, instances, users, SSH keys…) are written as
// JSON numbers, as the panel compares them with numbers (ids of other resources stay strings; decoding
// takes either); and acknowledgements (Meta) carry a data member, which the panel's parser needs.
package jsonapi

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// MediaType is the JSON:API content type.
const MediaType = "application/vnd.api+json"

// Resource is one resource object with typed attributes.
type Resource[A any] struct {
	Type          string                  `json:"type"`
	ID            string                  `json:"id" types:"string,integer" doc:"id of the resource: a JSON number for the resources deskhub numbers (servers, instances, users, SSH keys…), else a string"`
	Attributes    A                       `json:"attributes"`
	Relationships map[string]Relationship `json:"relationships,omitempty"`
}

// MarshalJSON writes the resource with its id as NumericID says.
func (r Resource[A]) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type          string                  `json:"type"`
		ID            json.RawMessage         `json:"id"`
		Attributes    A                       `json:"attributes"`
		Relationships map[string]Relationship `json:"relationships,omitempty"`
	}{r.Type, idJSON(r.ID), r.Attributes, r.Relationships})
}

// UnmarshalJSON reads a resource whose id is a string or a number.
func (r *Resource[A]) UnmarshalJSON(b []byte) error {
	var v struct {
		Type          string                  `json:"type"`
		ID            ID                      `json:"id"`
		Attributes    A                       `json:"attributes"`
		Relationships map[string]Relationship `json:"relationships,omitempty"`
	}
	v.Attributes = r.Attributes
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*r = Resource[A]{Type: v.Type, ID: string(v.ID), Attributes: v.Attributes, Relationships: v.Relationships}
	return nil
}

// NumericID tells whether an id is written as a JSON number: a positive decimal integer without
// leading zeros, of at most 15 digits (so that JavaScript reads it exactly). Other ids, "0" among them
// (a number 0 is false to JavaScript, and ui-vmm's panel takes a false id as missing), are strings.
func NumericID(id string) bool {
	if len(id) == 0 || len(id) > 15 || id[0] == '0' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

func idJSON(id string) json.RawMessage {
	if NumericID(id) {
		return json.RawMessage(id)
	}
	b, _ := json.Marshal(id)
	return b
}

// ID is an id as a decoder takes it: a JSON string or a JSON integer, kept as its decimal text.
type ID string

// MarshalJSON writes the id as NumericID says.
func (id ID) MarshalJSON() ([]byte, error) { return idJSON(string(id)), nil }

// UnmarshalJSON takes a string or an integer.
func (id *ID) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*id = ID(s)
		return nil
	}
	if string(b) == "null" {
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("jsonapi: id %s is neither a string nor an integer", b)
	}
	*id = ID(strconv.FormatInt(n, 10))
	return nil
}

// Relationship links a resource to others by identifier.
type Relationship struct {
	Data any `json:"data"`
}

// Identifier names a resource without its attributes.
type Identifier struct {
	Type string `json:"type"`
	ID   string `json:"id" types:"string,integer" doc:"id of the resource (a number or a string, as in resources)"`
}

// MarshalJSON writes the identifier with its id as NumericID says.
func (i Identifier) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"`
	}{i.Type, idJSON(i.ID)})
}

// UnmarshalJSON reads an identifier whose id is a string or a number.
func (i *Identifier) UnmarshalJSON(b []byte) error {
	var v struct {
		Type string `json:"type"`
		ID   ID     `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*i = Identifier{Type: v.Type, ID: string(v.ID)}
	return nil
}

// One is a document whose primary data is a single resource.
type One[A any] struct {
	Data     Resource[A]     `json:"data"`
	Included []Resource[any] `json:"included,omitempty"`
	Meta     map[string]any  `json:"meta,omitempty"`
}

// Many is a document whose primary data is a list of resources.
type Many[A any] struct {
	Data     []Resource[A]   `json:"data"`
	Included []Resource[any] `json:"included,omitempty"`
	Meta     map[string]any  `json:"meta,omitempty"`
}

// Meta is the document of an acknowledgement (logout, revoke, delete, a code sent…): meta says what was
// done, and data identifies the resource acted on (a resource identifier), or is an empty list when
// there is none to name. JSON:API allows a document of meta alone; ui-vmm's panel reads data in every
// answer, so deskhub always sends it.
type Meta struct {
	Data any            `json:"data" types:"object,array" doc:"the resource acted on ({type, id}), or [] when there is none to name"`
	Meta map[string]any `json:"meta"`
}

// Ack builds an acknowledgement about the resource typ/id ("" id: none to name).
func Ack(typ, id string, meta map[string]any) Meta {
	if id == "" {
		return Meta{Data: []Identifier{}, Meta: meta}
	}
	return Meta{Data: Identifier{Type: typ, ID: id}, Meta: meta}
}

// ErrorObject is one entry of an error document.
type ErrorObject struct {
	Status string       `json:"status"`
	Title  string       `json:"title,omitempty"`
	Detail string       `json:"detail"`
	Source *ErrorSource `json:"source,omitempty"`
}

// ErrorSource points at the request member that caused an error.
type ErrorSource struct {
	Pointer string `json:"pointer,omitempty"`
}

// Errors is an error document.
type Errors struct {
	Errors []ErrorObject `json:"errors"`
}

// NewOne builds a single-resource document.
func NewOne[A any](typ, id string, attrs A) One[A] {
	return One[A]{Data: Resource[A]{Type: typ, ID: id, Attributes: attrs}}
}
