// Package client is a typed Go client for deskhub's three API surfaces, over the wire types of api/:
//
//   - the session surface (FastX v3: /v3/api/…, /v3/system/…): logins, sessions, bookmarks, shares;
//   - the infrastructure surface (ui-vmm: POST /api/v1/<resource>.<action>, JSON:API): users, tokens,
//     SSH keys, servers, instances and the resources on them, the event stream;
//   - the agent surface of each desktop, through the broker (/spawner/{session_id}/…);
//
// plus the display websocket (/ws/display/{id}) that carries a session's RFB stream.
//
// Every call takes a context first. Failures the server answers are *Error, whatever the surface.
//
// One file per resource; this one holds the Client and the one transport the three envelopes share.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// Options configure a Client; the zero value is usable.
type Options struct {
	// Token is sent as "Authorization: Bearer <token>" (a login or API token; both surfaces take it).
	Token string
	// HTTPClient makes the requests; nil means http.DefaultClient.
	HTTPClient *http.Client
	// UserAgent, when set, replaces Go's default User-Agent.
	UserAgent string
}

// Client talks to one deskhub server. It is safe for concurrent use; the token may change (SetToken,
// and a successful login sets it).
type Client struct {
	base *url.URL
	http *http.Client
	ua   string

	shareKey string // X-Share-Key of every call (WithShareKey)

	mu    sync.RWMutex
	token string
}

// New makes a client of the server at baseURL ("https://desk.example.org", or with a path prefix).
// opts may be nil.
func New(baseURL string, opts *Options) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: bad server URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server URL %q must be http(s)://host[:port][/path]", baseURL)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("client: server URL %q must not have a query or fragment", baseURL)
	}
	if opts == nil {
		opts = &Options{}
	}
	c := &Client{base: u, http: opts.HTTPClient, ua: opts.UserAgent, token: opts.Token}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	return c, nil
}

// URL is the server's base URL.
func (c *Client) URL() *url.URL {
	u := *c.base
	return &u
}

// Token is the token the client sends ("" when none).
func (c *Client) Token() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

// SetToken changes the token the client sends; "" sends none.
func (c *Client) SetToken(token string) {
	c.mu.Lock()
	c.token = token
	c.mu.Unlock()
}

// WithShareKey answers a client like c (its token at the time of the call) that sends a share key of a
// session (X-Share-Key) with every call: a granter key lets its holder make viewer keys of the session
// with CreateShare and EditShare (Agent(…).WithShareKey is the agent's form).
func (c *Client) WithShareKey(key string) *Client {
	return &Client{base: c.base, http: c.http, ua: c.ua, token: c.Token(), shareKey: key}
}

// request describes one HTTP call.
type request struct {
	method string
	path   string      // below the base URL, starting with "/"
	query  url.Values  // nil: none
	body   any         // JSON-encoded when not nil
	header http.Header // extra headers
	token  *string     // overrides the client's token when set (login stages)
	// stream, when set, is sent as the body instead of body, as streamType, streamLen bytes long
	// (-1: unknown, sent chunked); it is read once, never buffered.
	stream     io.Reader
	streamType string
	streamLen  int64
}

// send makes the HTTP request and answers the response; the caller closes its body.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	u := c.base.JoinPath(r.path)
	if r.query != nil {
		u.RawQuery = r.query.Encode()
	}
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, fmt.Errorf("client: encode request of %s: %w", r.path, err)
		}
		body = bytes.NewReader(b)
	}
	if r.stream != nil {
		body = r.stream
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if r.stream != nil {
		req.ContentLength = r.streamLen
		if r.streamLen == 0 {
			req.Body = http.NoBody
		}
	}
	if c.shareKey != "" {
		req.Header.Set("X-Share-Key", c.shareKey)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	if r.stream != nil {
		req.Header.Set("Content-Type", r.streamType)
	} else if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	token := c.Token()
	if r.token != nil {
		token = *r.token
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return c.http.Do(req)
}

// maxAnswer bounds the answers the client reads (screenshots are the largest).
const maxAnswer = 64 << 20

// call makes one request and decodes the answer with decode (which gets the status and the body).
func (c *Client) call(ctx context.Context, r request, decode func(resp *http.Response, body []byte) error) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("client: read answer of %s: %w", r.path, err)
	}
	return decode(resp, body)
}

// sessionCall calls a session-surface endpoint (POST, JSON body) and answers the "result" member of
// {"result": …}; {"error": {"name","message"}} becomes an *Error.
func sessionCall[T any](ctx context.Context, c *Client, r request) (T, error) {
	var out struct {
		Result T `json:"result"`
		Error  *struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.body == nil {
		r.body = struct{}{}
	}
	err := c.call(ctx, r, func(resp *http.Response, body []byte) error {
		jerr := json.Unmarshal(body, &out)
		if resp.StatusCode/100 == 2 && jerr == nil && out.Error == nil {
			return nil
		}
		e := newError(SurfaceSession, resp, body)
		if out.Error != nil {
			e.Name, e.Message = out.Error.Name, out.Error.Message
		}
		return e
	})
	return out.Result, err
}

// infraCall calls the infrastructure action ("token.create": POST /api/v1/token.create) and decodes
// the JSON:API document into T; {"errors": [{status, detail}]} becomes an *Error.
func infraCall[T any](ctx context.Context, c *Client, action string, req any) (T, error) {
	if req == nil {
		req = struct{}{}
	}
	return infraDo[T](ctx, c, http.MethodPost, action, req)
}

// infraDo is infraCall with any method; a nil req sends no body.
func infraDo[T any](ctx context.Context, c *Client, method, action string, req any) (T, error) {
	var out T
	r := request{method: method, path: "/api/v1/" + action, body: req}
	err := c.call(ctx, r, func(resp *http.Response, body []byte) error {
		if resp.StatusCode/100 == 2 {
			if err := json.Unmarshal(body, &out); err != nil {
				return fmt.Errorf("client: decode answer of %s: %w", action, err)
			}
			return nil
		}
		return infraError(resp, body)
	})
	return out, err
}

// agentCall calls an agent endpoint of session id through the broker and answers "data" of
// {"code", "data"}; an error answer's data is the message. GET requests carry req in the query.
func agentCall[T any](ctx context.Context, a *Agent, method, endpoint string, req any) (T, error) {
	var out struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	}
	var result T
	r := request{method: method, path: "/spawner/" + url.PathEscape(a.session) + endpoint}
	if a.shareKey != "" {
		r.header = http.Header{"X-Share-Key": {a.shareKey}}
	}
	if method == http.MethodGet {
		q, err := queryOf(req)
		if err != nil {
			return result, err
		}
		r.query = q
	} else if req != nil {
		r.body = req
	}
	err := a.c.call(ctx, r, func(resp *http.Response, body []byte) error {
		jerr := json.Unmarshal(body, &out)
		if resp.StatusCode/100 == 2 && jerr == nil {
			if len(out.Data) == 0 {
				return nil
			}
			if err := json.Unmarshal(out.Data, &result); err != nil {
				return fmt.Errorf("client: decode answer of %s: %w", endpoint, err)
			}
			return nil
		}
		e := newError(SurfaceAgent, resp, body)
		var msg string
		if jerr == nil && json.Unmarshal(out.Data, &msg) == nil && msg != "" {
			e.Message = msg
		}
		return e
	})
	return result, err
}

// queryOf turns a request of scalar members into a query string, as the agent reads GET parameters.
func queryOf(req any) (url.Values, error) {
	if req == nil {
		return nil, nil
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		return nil, errors.New("client: a GET request must be an object")
	}
	q := url.Values{}
	for k, raw := range members {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			q.Set(k, s)
		} else if string(raw) != "null" {
			q.Set(k, string(raw))
		}
	}
	return q, nil
}
