package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"
)

// AgentEvent is one live event of a desktop: "window.list" (data: the windows), …
type AgentEvent struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// AgentEvents is the live event websocket of a desktop (deskhub's addition: GET
// /spawner/{session_id}/events). Close it when done.
type AgentEvents struct {
	ws *websocket.Conn
}

// Events opens the desktop's live event stream.
func (a *Agent) Events(ctx context.Context) (*AgentEvents, error) {
	u := a.c.base.JoinPath("/spawner/" + url.PathEscape(a.session) + "/events")
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	h := http.Header{}
	if tok := a.c.Token(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	if a.shareKey != "" {
		h.Set("X-Share-Key", a.shareKey)
	}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{HTTPClient: a.c.http, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, agentHandshakeError(resp)
		}
		return nil, err
	}
	ws.SetReadLimit(4 << 20)
	return &AgentEvents{ws: ws}, nil
}

// Next waits for the next event.
func (e *AgentEvents) Next(ctx context.Context) (AgentEvent, error) {
	var ev AgentEvent
	_, b, err := e.ws.Read(ctx)
	if err != nil {
		return ev, err
	}
	return ev, json.Unmarshal(b, &ev)
}

// Close ends the stream.
func (e *AgentEvents) Close() error { return e.ws.Close(websocket.StatusNormalClosure, "") }

// agentHandshakeError reads the agent envelope of a refused websocket handshake.
func agentHandshakeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	e := newError(SurfaceAgent, resp, body)
	var env struct {
		Data string `json:"data"`
	}
	if json.Unmarshal(body, &env) == nil && env.Data != "" {
		e.Message = env.Data
	}
	return e
}
