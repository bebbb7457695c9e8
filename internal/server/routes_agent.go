package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"reflect"
	"slices"
	"strings"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/revoke"
	"github.com/deskhub/deskhub/internal/session"
)

// agentPrefix is where the broker serves each session's agent.
const agentPrefix = "/spawner/{session_id}"

// agentRoutes is the agent surface (Spawner seed) as the broker serves it: every endpoint is proxied to
// the desktop agent of the session, for the session's owner (and administrators), and for holders of a
// share key of the session (X-Share-Key): granters fully, viewers read-only.
func (s *Server) agentRoutes() []httpapi.Route {
	routes := httpapi.SpawnerRoutes(agentPrefix, httpapi.User, func(e spawner.AnyEndpoint) httpapi.Operation {
		req, resp := e.Types()
		op := httpapi.RawAs(req, resp, s.agentProxy)
		op.Document = true // the agent's answers, in its envelope: documented and checked
		return op
	})
	// deskhub's addition: the agent's live events (window.list, …) as a websocket of JSON messages.
	routes = append(routes, httpapi.Route{Surface: httpapi.Agent, Methods: []string{http.MethodGet},
		Path: agentPrefix + spawner.EventsPath, Access: httpapi.User, Tag: "windows",
		Summary: "Live events of the desktop (websocket): window.list, display.setBackgroundBorderColor, …",
		Op:      httpapi.RawAs(nil, reflect.TypeFor[spawner.Event](), s.agentProxy)})
	// deskhub's addition: the desktop's sound (websocket of PCM frames).
	routes = append(routes, s.audioRoute())
	// deskhub's addition for the web app's upload and download: a file of the desktop user's home.
	fileOp := func(req, resp reflect.Type) httpapi.Operation {
		op := httpapi.RawAs(req, resp, s.agentProxy)
		op.Document = true
		return op
	}
	return append(routes,
		httpapi.Route{Surface: httpapi.Agent, Methods: []string{http.MethodGet}, Path: agentPrefix + spawner.FilesPath,
			Access: httpapi.User, Tag: "files", Summary: "Read a file of the desktop user's home (deskhub extension; base64 in the envelope)",
			Op: fileOp(reflect.TypeFor[spawner.FileGet](), reflect.TypeFor[spawner.FileContent]())},
		httpapi.Route{Surface: httpapi.Agent, Methods: []string{http.MethodPut}, Path: agentPrefix + spawner.FilesPath,
			Access: httpapi.User, Tag: "files", Summary: "Write a file into the desktop user's home (deskhub extension; base64 in the body)",
			Op: fileOp(reflect.TypeFor[spawner.FilePut](), reflect.TypeFor[spawner.FileWritten]()), MaxBody: spawner.FilesMaxBody})
}

// agentProxy forwards one agent call to the session's agent over its unix socket, after checking that
// the caller may use the session. The agent answers in its own envelope; deskhub adds X-Forwarded-For
// and drops the caller's token.
func (s *Server) agentProxy(c *httpapi.Call) error {
	id := c.R.PathValue("session_id")
	who, err := s.caller(c)
	if err != nil {
		return err
	}
	deps := revoke.Deps{UserID: who.UserID, TokenID: who.TokenID}
	if _, err := s.sessions.Live(c.Ctx, who, id); err != nil {
		// Not the owner: a share key of the session (X-Share-Key) lets its holder in — a granter fully,
		// a viewer only to the read-only endpoints.
		sh, serr := s.sessions.SharePerms(c.Ctx, id, c.R.Header.Get("X-Share-Key"))
		if serr != nil {
			return err
		}
		if !slices.Contains(sh.Perms, session.PermGranter) && !agentReadOnly(c.R) {
			return httpapi.Errorf(http.StatusForbidden, "a viewer share key only reads this desktop (window list, settings, version, events)")
		}
		deps.ShareID = sh.ID
	}
	return s.proxyAgent(c, id, strings.TrimPrefix(c.R.URL.Path, "/spawner/"+id), deps)
}

// proxyAgent forwards a call to the agent of session id, at path. The call (the events websocket above
// all) lasts only as long as the credentials it came with (deps): cancelling the request's context
// closes the upstream connection and with it the proxied one, upgraded or not. The caller's
// credentials go no further (nor the browser's Origin, checked here already); X-Forwarded-For is added.
func (s *Server) proxyAgent(c *httpapi.Call, id, path string, deps revoke.Deps) error {
	dialer, ok := s.prov.(provider.AgentDialer)
	if !ok {
		return httpapi.Errorf(http.StatusNotImplemented, "desktops of this host run no agent")
	}
	// Before the request is copied below: the copy must carry the buffered body.
	if err := httpapi.BufferBody(c); err != nil {
		return err // too large (413) or too slow (408): refused here, the agent never sees it
	}
	ctx, cancel := context.WithCancel(c.R.Context())
	defer cancel()
	defer s.revoke.Watch(deps, cancel)()
	req := c.R.WithContext(ctx)
	var upstreamErr error
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "agent"
			pr.Out.URL.Path = path
			pr.Out.URL.RawPath = ""
			pr.Out.Host = "agent"
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("ABCAuthorization")
			pr.Out.Header.Del("X-FASTX-TOKEN")
			pr.Out.Header.Del("X-Share-Key")
			pr.Out.Header.Del("Cookie")
			// The broker checked the browser's Origin (authn.go); the agent, behind its unix socket,
			// would compare it with its own Host ("agent") and refuse every browser's websocket.
			pr.Out.Header.Del("Origin")
			q := pr.Out.URL.Query()
			if q.Has("jwt_token") {
				q.Del("jwt_token")
				pr.Out.URL.RawQuery = q.Encode()
			}
			pr.SetXForwarded()
		},
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialer.DialAgent(ctx, id)
			},
			DisableKeepAlives: true,
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			upstreamErr = err
			httpapi.WriteError(w, httpapi.Agent, &httpapi.Error{Status: http.StatusBadGateway,
				Msg: "the desktop agent does not answer (it may be starting); try again", Err: err})
		},
	}
	rp.ServeHTTP(c.W, req)
	if upstreamErr != nil && !errors.Is(upstreamErr, context.Canceled) {
		s.log.Warn("agent proxy", "session", id, "error", upstreamErr)
	}
	return nil
}

// agentReadOnly tells the endpoints a viewer may call.
func agentReadOnly(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	switch r.URL.Path[strings.LastIndex(r.URL.Path, "/"):] {
	case "/getwindowslist", "/getSettings", "/version", "/events":
		return true
	}
	return false
}
