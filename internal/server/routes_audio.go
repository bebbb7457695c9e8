package server

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/display"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/revoke"
)

// audioPath is where the broker serves each session's sound (a websocket beside the display).
const audioPath = "/ws/audio/{session_id}"

// audioRevoked closes an audio websocket whose credentials were revoked (as the display relay does).
const audioRevoked websocket.StatusCode = 4003

// audioRoute is the desktop's sound: the agent's GET /audio websocket (spawner.AudioPath), relayed.
func (s *Server) audioRoute() httpapi.Route {
	return httpapi.Route{Surface: httpapi.Agent, Methods: []string{http.MethodGet}, Path: audioPath,
		Access: httpapi.Public, Tag: "audio",
		Summary: "The desktop's sound (websocket): a JSON header {format, rate, channels, frameMs, skipsSilence}, " +
			"then binary frames of s16le PCM (24 kHz, stereo, 20 ms). The owner, administrators, and holders of a " +
			"share key of the session (viewer or granter, with or without an account) may listen; the key comes as " +
			"X-Share-Key, or from a browser as the offered subprotocol " + shareKeyProtocol + "<key> (echoed), or — " +
			"kept for older clients, but it puts the key in proxies' access logs — as ?share_key=.",
		Op: httpapi.RawAs(nil, reflect.TypeFor[spawner.AudioHeader](), s.audioWS)}
}

// audioWS relays the agent's audio websocket to the caller. Who may listen is who may see the desktop:
// the session's owner (and administrators) and every holder of a share key of it, viewers included,
// with or without an account (as share/connect shows them the picture) — sound, like the picture, only
// goes out of the desktop. A browser cannot set headers on a websocket, so the key may come as an
// offered subprotocol (audioShareKey) as well as X-Share-Key. Like the agent proxy, the relay lasts as
// long as the credentials it was opened with (token, share key, account: internal/revoke), and a
// cross-site page cannot open it with the browser's cookie (the Origin must be this host or one of
// the configured CORS origins).
func (s *Server) audioWS(c *httpapi.Call) error {
	id := c.R.PathValue("session_id")
	key, proto := audioShareKey(c.R)
	var who account.Caller
	var err error = httpapi.Errorf(http.StatusUnauthorized, "this call needs a token (Authorization: Bearer …) or a share key of the session")
	if c.Principal != nil {
		who, err = s.caller(c)
	}
	var deps revoke.Deps
	if err == nil {
		deps = revoke.Deps{UserID: who.UserID, TokenID: who.TokenID}
		_, err = s.sessions.Live(c.Ctx, who, id)
	}
	if err != nil { // not the owner's (or no account): a share key of the session, or what kept it out
		if key == "" {
			return err
		}
		sh, serr := s.sessions.SharePerms(c.Ctx, id, key)
		if serr != nil {
			return serr
		}
		deps.ShareID = sh.ID
	}
	patterns := corsOriginPatterns(s.cfg.CORSOrigins)
	if !originAllowed(c.R, patterns) {
		return httpapi.Errorf(http.StatusForbidden, "the audio websocket only opens from this site's pages (Origin %q)", c.R.Header.Get("Origin"))
	}
	dialer, ok := s.prov.(provider.AgentDialer)
	if !ok {
		return httpapi.Errorf(http.StatusNotImplemented, "desktops of this host run no agent")
	}
	ctx, cancel := context.WithCancel(c.R.Context())
	defer cancel()
	var revoked atomic.Bool
	defer s.revoke.Watch(deps, func() { revoked.Store(true); cancel() })()
	up, resp, err := websocket.Dial(ctx, "ws://agent"+spawner.AudioPath, &websocket.DialOptions{HTTPClient: &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialAgent(ctx, id)
		}}}})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
			return &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "sound is not available in this desktop (no PulseAudio)", Err: err}
		}
		return &httpapi.Error{Status: http.StatusBadGateway, Msg: "the desktop agent does not answer (it may be starting); try again", Err: err}
	}
	defer up.CloseNow()
	up.SetReadLimit(1 << 20)
	var protos []string
	if proto != "" {
		protos = []string{proto} // a browser refuses a handshake that does not name what it offered
	}
	down, err := websocket.Accept(c.W, c.R, &websocket.AcceptOptions{OriginPatterns: patterns, Subprotocols: protos})
	if err != nil {
		return nil // the handshake answered
	}
	defer down.CloseNow()
	// down's own operations take contexts of their own: a cancelled one would tear the connection down
	// before the close message (4003 on revocation) could be sent. ctx ends the agent's side.
	go func() { // the listener sends nothing; reading notices it leaving
		defer cancel()
		_, _, _ = down.Read(context.WithoutCancel(ctx))
	}()
	for {
		typ, b, err := up.Read(ctx)
		if err != nil {
			if revoked.Load() {
				down.Close(audioRevoked, "a credential this connection came through was revoked")
			} else if ctx.Err() == nil {
				down.Close(websocket.StatusGoingAway, "the desktop's sound ended")
			}
			return nil
		}
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		err = down.Write(wctx, typ, b)
		wcancel()
		if err != nil {
			return nil
		}
	}
}

// shareKeyProtocol prefixes the share key a browser offers as a websocket subprotocol (a page cannot set
// headers on a websocket, and a key in the URL ends up in proxies' access logs).
const shareKeyProtocol = "deskhub.share-key."

// audioShareKey is the share key an audio websocket request carries — X-Share-Key, an offered
// subprotocol shareKeyProtocol+key (then also that subprotocol, to echo), or ?share_key= — or "".
func audioShareKey(r *http.Request) (key, proto string) {
	if k := r.Header.Get("X-Share-Key"); k != "" {
		return k, ""
	}
	for _, p := range display.OfferedSubprotocols(r) {
		if k, ok := strings.CutPrefix(p, shareKeyProtocol); ok && k != "" {
			return k, p
		}
	}
	return r.URL.Query().Get("share_key"), ""
}

// originAllowed tells whether a websocket request may be served with the browser's credentials: no
// Origin (not a browser), the request's own host, or one of patterns (as coder/websocket matches them).
func originAllowed(r *http.Request, patterns []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, p := range patterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}
