package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/spawner"
)

// AgentAudio is the sound of a desktop (deskhub's addition: GET /ws/audio/{session_id}): the format
// first, then frames of PCM. Close it when done.
type AgentAudio struct {
	ws *websocket.Conn
	// Header is the format of the frames.
	Header spawner.AudioHeader
}

// Audio opens the desktop's sound and reads its header. With a share key (WithShareKey) the holder of
// the key listens, viewer or granter.
func (a *Agent) Audio(ctx context.Context) (*AgentAudio, error) {
	u := a.c.base.JoinPath("/ws/audio/" + url.PathEscape(a.session))
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
	ws.SetReadLimit(1 << 20)
	typ, b, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	au := &AgentAudio{ws: ws}
	if typ != websocket.MessageText || json.Unmarshal(b, &au.Header) != nil {
		ws.CloseNow()
		return nil, fmt.Errorf("audio: the first message is not the format header: %.100q", b)
	}
	return au, nil
}

// Next waits for the next frame of PCM (silence is not sent: a wait may be long).
func (au *AgentAudio) Next(ctx context.Context) ([]byte, error) {
	for {
		typ, b, err := au.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ == websocket.MessageBinary {
			return b, nil
		}
	}
}

// Close closes the websocket.
func (au *AgentAudio) Close() error { return au.ws.Close(websocket.StatusNormalClosure, "") }
