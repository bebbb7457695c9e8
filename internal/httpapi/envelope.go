package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"

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

// writeAppended writes a successful result of the session surface with its Appender; false when the
// appender left it to encoding/json (nothing is written then).
func writeAppended(w http.ResponseWriter, s Surface, v any, fn Appender) bool {
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], `{"result":`...)
	b, ok := fn(b, v)
	if !ok {
		return false
	}
	b = append(b, "}\n"...)
	*bp = b
	writeBody(w, ContentType(s), http.StatusOK, b)
	return true
}

// Encoded is a result that is its JSON already (encoded ahead and kept: session lists); the session
// surface writes it inside its envelope as it is, without copying it.
type Encoded interface{ EncodedJSON() []byte }

// writeEncoded writes a successful result of the session surface that is its JSON already.
func writeEncoded(w http.ResponseWriter, s Surface, js []byte) {
	const head, tail = `{"result":`, "}\n"
	h := w.Header()
	h.Set("Content-Type", ContentType(s))
	h.Set("Content-Length", strconv.Itoa(len(head)+len(js)+len(tail)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	for _, b := range [][]byte{[]byte(head), js, []byte(tail)} {
		if _, err := w.Write(b); err != nil {
			return
		}
	}
}

// bufPool holds answer buffers, so that a large answer is not grown and copied afresh each time;
// buffers that grew past maxPooledBuf are left to the collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBuf = 1 << 20

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooledBuf {
		bufPool.Put(bp)
	}
}

func writeJSON(w http.ResponseWriter, contentType string, status int, body any) {
	bp := getBuf()
	defer putBuf(bp)
	buf := bytes.NewBuffer((*bp)[:0])
	// Encode writes what json.Marshal does (HTML escaped), then a newline.
	if err := json.NewEncoder(buf).Encode(body); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"cannot encode the answer"}` + "\n")
	}
	*bp = buf.Bytes()
	writeBody(w, contentType, status, buf.Bytes())
}

// writeBody writes a JSON answer (body ends with its newline).
func writeBody(w http.ResponseWriter, contentType string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
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
