// Package httpapi holds the HTTP plumbing shared by deskhub's three API surfaces: route tables written as
// data, request decoding and validation, the three response envelopes, and the one place where an error
// becomes a status code and a message.
package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"time"
)

// Surface is one of deskhub's API surfaces; it decides the envelope of every answer.
type Surface int

const (
	// Infra is the infrastructure manager (ui-vmm seed): POST /api/v1/<resource>.<action>, JSON:API.
	Infra Surface = iota + 1
	// Session is the session broker (FastX v3 seed): /v3/api/…, {"result"} / {"error"}.
	Session
	// Agent is the desktop agent (Spawner seed): {"code", "data"}.
	Agent
)

func (s Surface) String() string {
	switch s {
	case Infra:
		return "infra"
	case Session:
		return "session"
	case Agent:
		return "agent"
	}
	return "unknown"
}

// Access says who may call a route.
type Access int

const (
	// Public routes need no token (health, config, login steps…).
	Public Access = iota
	// User routes need a valid token.
	User
	// Admin routes need a valid token of an administrator.
	Admin
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case User:
		return "user"
	case Admin:
		return "admin"
	}
	return "unknown"
}

// Route is one endpoint of a surface. Route tables are slices of Route, written as data, with each
// route's authorization next to it.
type Route struct {
	Surface Surface
	// Methods the route answers; the session surface takes GET and POST for every call.
	Methods []string
	// Path is a net/http ServeMux pattern path, e.g. "/api/v1/user.login" or "/spawner/{session_id}/version".
	Path    string
	Summary string
	Access  Access
	// Op is the handler with its request and response types.
	Op Operation
	// Tags group operations in the OpenAPI document (e.g. "user", "session").
	Tag string
	// Seed names the seed endpoint this route serves, for the contract test ("" for deskhub extras).
	Seed string
	// MaxBody is the route's own request body limit (0: the mux's); uploads take more than other calls.
	MaxBody int64
	// BodyTimeout is the route's own deadline for the request body (0: the one of BodyDeadline), set
	// once the caller is authenticated: a large upload needs longer than the API's default.
	BodyTimeout time.Duration
	// Bare says that the answer is the result itself, without the surface's envelope (abcdesktop's
	// about, getenv and isPulseAvailable answer so).
	Bare bool
}

// Operation is a handler together with the Go types of its request body and result, so that decoding,
// validation and the OpenAPI document all come from one place.
type Operation struct {
	// Req and Resp are the request body and result types (nil: no body / no result).
	Req, Resp reflect.Type
	// Planned is set on operations a later issue implements; they answer 501.
	Planned string
	// Raw operations write the answer themselves (streams, files, websockets, proxies).
	Raw bool
	// Document says that a Raw operation (a proxy) answers a JSON document of Resp in the surface's
	// envelope (or bare, with Route.Bare): it is documented and checked like the others.
	Document bool
	// Form, when set, is the multipart/form-data form the request may come as besides JSON (a struct:
	// a member of struct type is a JSON part, a []byte member a file part); the handler reads the body.
	Form  reflect.Type
	serve func(c *Call) (any, error)
}

// Implemented tells whether the operation does real work (false for planned ones).
func (o Operation) Implemented() bool { return o.serve != nil }

// Call is what a handler sees of one request.
type Call struct {
	Ctx       context.Context
	R         *http.Request
	W         http.ResponseWriter
	Principal *Principal
	Route     *Route
}

// Principal is the authenticated caller.
type Principal struct {
	UserID  int64
	Login   string
	Admin   bool
	TokenID int64
	// Account is the caller's account as the authenticator read it for this request (the server's
	// store.User), so that handlers need not read it again; nil when it did not.
	Account any
}

// Empty is the request type of calls that take no parameters; any JSON object is accepted.
type Empty struct{}

// Op builds an operation from a typed handler. The request body is decoded into a fresh *Req and
// validated before fn runs; fn's result is written inside the surface's envelope.
func Op[Req, Resp any](fn func(c *Call, req *Req) (Resp, error)) Operation {
	return Operation{
		Req:  reflect.TypeFor[Req](),
		Resp: reflect.TypeFor[Resp](),
		serve: func(c *Call) (any, error) {
			req := new(Req)
			if err := Decode(c, req); err != nil {
				return nil, err
			}
			return fn(c, req)
		},
	}
}

// Documented returns o with its result documented as Resp: for an operation whose handler returns
// Resp's JSON encoded ahead (an Encoded result), Resp is what that JSON is.
func Documented[Resp any](o Operation) Operation {
	o.Resp = reflect.TypeFor[Resp]()
	return o
}

// FormOp builds an operation whose handler reads the request body itself: a JSON body shaped as Req,
// or a multipart/form-data body shaped as Form (uploads, whose files are streamed rather than
// decoded). Its result is written inside the surface's envelope, as Op's.
func FormOp[Req, Form, Resp any](fn func(c *Call) (Resp, error)) Operation {
	return Operation{
		Req:  reflect.TypeFor[Req](),
		Resp: reflect.TypeFor[Resp](),
		Form: reflect.TypeFor[Form](),
		serve: func(c *Call) (any, error) {
			return fn(c)
		},
	}
}

// RawOp builds an operation that writes its own answer (for streams and binary bodies). Req and Resp
// document it.
func RawOp[Req, Resp any](fn func(c *Call) error) Operation {
	return Operation{
		Req:  reflect.TypeFor[Req](),
		Resp: reflect.TypeFor[Resp](),
		Raw:  true,
		serve: func(c *Call) (any, error) {
			return nil, fn(c)
		},
	}
}

// RawAs is RawOp with the documented request and result types given at run time (for proxies that
// serve another table's endpoints).
func RawAs(req, resp reflect.Type, fn func(c *Call) error) Operation {
	return Operation{Req: req, Resp: resp, Raw: true, serve: func(c *Call) (any, error) { return nil, fn(c) }}
}

// Planned documents an endpoint that a later issue implements; until then it answers 501 in its
// surface's envelope. issue says which work brings it.
func Planned[Req, Resp any](issue string) Operation {
	return Operation{Req: reflect.TypeFor[Req](), Resp: reflect.TypeFor[Resp](), Planned: issue}
}
