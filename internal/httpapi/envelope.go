package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/deskhub/deskhub/api/jsonapi"
)

// SessionResult is the session surface's success envelope.
type SessionResult[T any] struct {
	Result T `json:"result"`
}

// SessionError is the session surface's error envelope.
type SessionError struct {
	Error SessionErrorBody `json:"error"`
}

// SessionErrorBody names the error and says what is wrong.
type SessionErrorBody struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// AgentReply is the agent surface's envelope for successes and errors alike: code is the HTTP status,
// data the result, or the message on an error.
type AgentReply[T any] struct {
	Code int `json:"code"`
	Data T   `json:"data"`
}

// ContentType is the media type answers of a surface carry.
func ContentType(s Surface) string {
	if s == Infra {
		return jsonapi.MediaType
	}
	return "application/json"
}

// WriteResult writes a successful result in the surface's envelope. On the infrastructure surface the
// result is already a JSON:API document; nil becomes {"meta":{}}.
func WriteResult(w http.ResponseWriter, s Surface, status int, v any) {
	var body any
	switch s {
	case Infra:
		if v == nil {
			v = jsonapi.Meta{Meta: map[string]any{}}
		}
		body = v
	case Session:
		body = SessionResult[any]{Result: v}
	default:
		body = AgentReply[any]{Code: status, Data: v}
	}
	writeJSON(w, ContentType(s), status, body)
}

// WriteError writes err in the surface's envelope with the status AsError gives it.
func WriteError(w http.ResponseWriter, s Surface, err error) *Error {
	e := AsError(err)
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	var body any
	switch s {
	case Infra:
		obj := jsonapi.ErrorObject{Status: strconv.Itoa(e.Status), Title: http.StatusText(e.Status), Detail: e.Msg}
		if e.Field != "" {
			obj.Source = &jsonapi.ErrorSource{Pointer: "/data/attributes" + jsonPointer(e.Field)}
		}
		body = jsonapi.Errors{Errors: []jsonapi.ErrorObject{obj}}
	case Session:
		body = SessionError{Error: SessionErrorBody{Name: errorName(e.Status), Message: e.Msg}}
	default:
		body = AgentReply[string]{Code: e.Status, Data: e.Msg}
	}
	writeJSON(w, ContentType(s), e.Status, body)
	return e
}

func writeJSON(w http.ResponseWriter, contentType string, status int, body any) {
	buf, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		buf = []byte(`{"error":"cannot encode the answer"}`)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(buf)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(buf, '\n'))
}

// jsonPointer turns a member path as the decoder names it ("items[1].id") into an RFC 6901 JSON
// Pointer ("/items/1/id").
func jsonPointer(path string) string {
	var b strings.Builder
	for _, part := range strings.Split(strings.ReplaceAll(path, "[", "."), ".") {
		part = strings.TrimSuffix(part, "]")
		if part == "" {
			continue
		}
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(part))
	}
	return b.String()
}
