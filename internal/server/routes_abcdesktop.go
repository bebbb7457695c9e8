package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/desktoptoken"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/session"
	"github.com/deskhub/deskhub/internal/store"
)

// abcdesktop's browser code (webModules js/launcher.js) calls /spawner/<endpoint> with
// "ABCAuthorization: Bearer <token>", the desktop named by the token, and opens /broadcast for its
// events. deskhub serves both for the desktop-scoped tokens it issues (/v3/api/session/token): a token
// names one session and its holder's role, and reaches nothing else. The answers are abcdesktop's
// spawner-service's (the agent serves them under spawner.AbcdesktopPrefix where they differ from the
// seed's).

// abcdesktopRoutes are /spawner/<endpoint> for every endpoint abcdesktop calls, and /broadcast.
func (s *Server) abcdesktopRoutes() []httpapi.Route {
	var routes []httpapi.Route
	for _, e := range spawner.AbcdesktopEndpoints() {
		op := httpapi.RawAs(e.Req, e.Resp, s.abcProxy(e))
		op.Document = true
		who := "owners and granters"
		if e.Reads {
			who = "any holder, viewers too"
		}
		routes = append(routes, httpapi.Route{Surface: httpapi.Agent, Methods: []string{e.Method}, Path: "/spawner" + e.Path,
			Summary: e.Summary + " (abcdesktop's call: ABCAuthorization: Bearer <desktop token>; " + who + ")",
			Access:  httpapi.Public, Op: op, Tag: e.Tag, Seed: "", Bare: e.Bare})
	}
	return append(routes, httpapi.Route{Surface: httpapi.Agent, Methods: []string{http.MethodGet}, Path: spawner.BroadcastPath,
		Summary: "abcdesktop's event websocket: {method, data} messages (hello, keepalive, window.list, proc.started, …); the desktop token in jwt_token or ABCAuthorization",
		Access:  httpapi.Public, Tag: "windows", Op: httpapi.RawAs(reflect.TypeFor[spawner.BroadcastQuery](), reflect.TypeFor[spawner.BroadcastMessage](), s.broadcast)})
}

// abcToken is the desktop token of a request: ABCAuthorization: Bearer <token>, or (for the
// websocket, which browsers open without headers) the jwt_token query parameter.
func abcToken(r *http.Request) string {
	if h := r.Header.Get("ABCAuthorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if r.URL.Path == spawner.BroadcastPath {
		return r.URL.Query().Get("jwt_token")
	}
	return ""
}

// desktopGrant checks the request's desktop token and that its session still runs.
func (s *Server) desktopGrant(c *httpapi.Call) (desktoptoken.Grant, error) {
	tok := abcToken(c.R)
	if tok == "" {
		return desktoptoken.Grant{}, httpapi.Errorf(http.StatusUnauthorized,
			"this call needs a desktop token: ABCAuthorization: Bearer <token> (from /v3/api/session/token)")
	}
	g, err := s.desktop.Verify(c.Ctx, tok)
	if err != nil {
		return g, err
	}
	row, err := s.store.GetSession(c.Ctx, g.Session)
	if errors.Is(err, store.ErrNotFound) || err == nil && row.State != session.StateRunning {
		return g, httpapi.NotFound("the desktop of this token is not running")
	}
	return g, err
}

// abcProxy serves one of abcdesktop's calls: the token's holder, read-only for viewers, reaches the
// agent of the token's session.
func (s *Server) abcProxy(e spawner.AbcEndpoint) func(c *httpapi.Call) error {
	path := e.Path
	if e.Own {
		path = spawner.AbcdesktopPrefix + e.Path
	}
	return func(c *httpapi.Call) error {
		g, err := s.desktopGrant(c)
		if err != nil {
			return err
		}
		if !e.Reads && !g.CanWrite() {
			return httpapi.Errorf(http.StatusForbidden, "a viewer's desktop token only reads this desktop (version, settings, windows, about, getenv, isPulseAvailable, broadcast)")
		}
		return s.proxyAgent(c, g.Session, path, g.Deps())
	}
}

// broadcastKeepalive is how often /broadcast says it is alive (abcdesktop's broadcast-service: 30 s).
var broadcastKeepalive = 30 * time.Second

// broadcast is abcdesktop's /broadcast: a websocket of {method, data} messages, fed from the agent's
// events (the source of /spawner/{session_id}/events): window.list, proc.started, proc.killed,
// display.setBackgroundBorderColor, speaker.available; a client's hello comes back to it, and a
// keepalive every 30 s.
func (s *Server) broadcast(c *httpapi.Call) error {
	g, err := s.desktopGrant(c)
	if err != nil {
		return err
	}
	dialer, ok := s.prov.(provider.AgentDialer)
	if !ok {
		return httpapi.Errorf(http.StatusNotImplemented, "desktops of this host run no agent")
	}
	ctx, cancel := context.WithCancel(c.R.Context())
	defer cancel()
	defer s.revoke.Watch(g.Deps(), cancel)()
	up, _, err := websocket.Dial(ctx, "ws://agent"+spawner.EventsPath, &websocket.DialOptions{HTTPClient: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialAgent(ctx, g.Session)
		}}}})
	if err != nil {
		return &httpapi.Error{Status: http.StatusBadGateway, Msg: "the desktop agent does not answer (it may be starting); try again", Err: err}
	}
	defer up.CloseNow()
	down, err := websocket.Accept(c.W, c.R, &websocket.AcceptOptions{OriginPatterns: corsOriginPatterns(s.cfg.CORSOrigins)})
	if err != nil {
		return nil // the handshake answered
	}
	defer down.CloseNow()
	send := func(m spawner.BroadcastMessage) error {
		b, _ := json.Marshal(m)
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		defer wcancel()
		return down.Write(wctx, websocket.MessageText, b)
	}
	out := make(chan spawner.BroadcastMessage, 64)
	// The client's messages: a hello comes back (abcdesktop broadcasts it to the desktop's clients).
	go func() {
		defer cancel()
		for {
			_, b, err := down.Read(ctx)
			if err != nil {
				return
			}
			var m struct {
				Method string          `json:"method"`
				User   json.RawMessage `json:"user"`
			}
			if json.Unmarshal(b, &m) != nil {
				return // abcdesktop closes on a message it cannot parse
			}
			if m.Method == "hello" {
				var user any
				_ = json.Unmarshal(m.User, &user)
				select {
				case out <- spawner.BroadcastMessage{Method: "hello", User: user}:
				default:
				}
			}
		}
	}()
	// The agent's events, as {method, data}.
	go func() {
		defer cancel()
		for {
			_, b, err := up.Read(ctx)
			if err != nil {
				return
			}
			var ev spawner.Event
			if json.Unmarshal(b, &ev) != nil || ev.Type == "" {
				continue
			}
			select {
			case out <- spawner.BroadcastMessage{Method: ev.Type, Data: ev.Data}:
			case <-ctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(broadcastKeepalive)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			down.Close(websocket.StatusNormalClosure, "")
			return nil
		case m := <-out:
			if send(m) != nil {
				return nil
			}
		case <-tick.C:
			if send(spawner.BroadcastMessage{Method: "keepalive", Data: map[string]string{"data": "I am a teapot",
				"date": time.Now().UTC().Format(time.RFC3339)}}) != nil {
				return nil
			}
		}
	}
}

// sessionToken is /v3/api/session/token: a desktop token for the session's owner (with their deskhub
// token) or for a share key's holder (with the key, and its role).
func (s *Server) sessionToken(c *httpapi.Call, r *fastx.DesktopTokenRequest) (fastx.DesktopToken, error) {
	g := desktoptoken.Grant{Session: r.ID}
	if r.Key != "" {
		sh, err := s.sessions.SharePerms(c.Ctx, r.ID, r.Key)
		if err != nil {
			return fastx.DesktopToken{}, err
		}
		g.Role, g.ShareID = desktoptoken.Viewer, sh.ID
		if slices.Contains(sh.Perms, session.PermGranter) {
			g.Role = desktoptoken.Granter
		}
	} else {
		if c.Principal == nil {
			return fastx.DesktopToken{}, httpapi.Errorf(http.StatusUnauthorized, "log in (the session's owner), or give a share key of the session")
		}
		who, err := s.caller(c)
		if err != nil {
			return fastx.DesktopToken{}, err
		}
		if _, err := s.sessions.Live(c.Ctx, who, r.ID); err != nil {
			return fastx.DesktopToken{}, err
		}
		g.Role, g.UserID, g.TokenID = desktoptoken.Owner, who.UserID, who.TokenID
	}
	secret, g, err := s.desktop.Issue(c.Ctx, g, time.Duration(r.Lifetime)*time.Second)
	if err != nil {
		return fastx.DesktopToken{}, err
	}
	s.audit(c, "session.token", r.ID, map[string]any{"token": g.Name(), "role": g.Role, "expires": g.ExpiresAt})
	return fastx.DesktopToken{Token: secret, Name: g.Name(), Session: g.Session, Role: g.Role, Expires: g.ExpiresAt}, nil
}

// sessionTokenRevoke is /v3/api/session/token/revoke: the session's owner revokes one desktop token,
// or all of them.
func (s *Server) sessionTokenRevoke(c *httpapi.Call, who account.Caller, r *fastx.DesktopTokenRevokeRequest) (int, error) {
	if _, err := s.sessions.Live(c.Ctx, who, r.ID); err != nil {
		return 0, err
	}
	n, err := s.desktop.Revoke(c.Ctx, r.ID, r.Name)
	if err == nil {
		s.audit(c, "session.token.revoke", r.ID, map[string]any{"name": r.Name, "revoked": n})
	}
	return n, err
}
