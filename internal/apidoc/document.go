package apidoc

// The OpenAPI 3.1 objects a Document is made of, the members deskhub fills. Members are declared in
// the order of their JSON names, so the document is written with sorted keys throughout.

// Document is an OpenAPI 3.1 document.
type Document struct {
	Components components          `json:"components"`
	Info       docInfo             `json:"info"`
	OpenAPI    string              `json:"openapi"`
	Paths      map[string]pathItem `json:"paths"`
}

type docInfo struct {
	Description string `json:"description,omitempty"`
	Title       string `json:"title"`
	Version     string `json:"version"`
}

type components struct {
	Schemas         map[string]*Schema        `json:"schemas,omitempty"`
	SecuritySchemes map[string]securityScheme `json:"securitySchemes,omitempty"`
}

type securityScheme struct {
	BearerFormat string `json:"bearerFormat,omitempty"`
	In           string `json:"in,omitempty"`
	Name         string `json:"name,omitempty"`
	Scheme       string `json:"scheme,omitempty"`
	Type         string `json:"type"`
}

// pathItem holds a path's operations by lower-case method ("get", "post").
type pathItem map[string]*operation

type operation struct {
	Description string                `json:"description,omitempty"`
	OperationID string                `json:"operationId"`
	Parameters  []parameter           `json:"parameters,omitempty"`
	RequestBody *requestBody          `json:"requestBody,omitempty"`
	Responses   map[string]response   `json:"responses"`
	Security    []map[string][]string `json:"security"` // empty for a public operation: no scheme needed
	Summary     string                `json:"summary,omitempty"`
	Tags        []string              `json:"tags,omitempty"`
	Access      string                `json:"x-deskhub-access"`
	Planned     string                `json:"x-deskhub-planned,omitempty"`
	Seed        string                `json:"x-deskhub-seed,omitempty"`
	Surface     string                `json:"x-deskhub-surface"`
}

type parameter struct {
	Description string  `json:"description,omitempty"`
	In          string  `json:"in"`
	Name        string  `json:"name"`
	Required    bool    `json:"required,omitempty"`
	Schema      *Schema `json:"schema"`
}

type requestBody struct {
	Content map[string]mediaType `json:"content"`
}

type mediaType struct {
	Encoding map[string]encoding `json:"encoding,omitempty"`
	Schema   *Schema             `json:"schema"`
}

type encoding struct {
	ContentType string `json:"contentType"`
}

type response struct {
	Content     map[string]mediaType `json:"content,omitempty"`
	Description string               `json:"description"`
}
