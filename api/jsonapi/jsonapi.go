// Package jsonapi holds the JSON:API document shapes the infrastructure surface answers with
// (https://jsonapi.org/format/1.1/). Wire types only: nothing here imports deskhub's internals.
package jsonapi

// MediaType is the JSON:API content type.
const MediaType = "application/vnd.api+json"

// Resource is one resource object with typed attributes.
type Resource[A any] struct {
	Type          string                  `json:"type"`
	ID            string                  `json:"id"`
	Attributes    A                       `json:"attributes"`
	Relationships map[string]Relationship `json:"relationships,omitempty"`
}

// Relationship links a resource to others by identifier.
type Relationship struct {
	Data any `json:"data"`
}

// Identifier names a resource without its attributes.
type Identifier struct {
	Type string `json:"type"`
	ID   string `json:"id"`
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

// Meta is a document that carries only meta information (used for acknowledgements such as logout).
type Meta struct {
	Meta map[string]any `json:"meta"`
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
