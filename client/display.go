package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/fastx"
)

// DialDisplayWebSocket opens the websocket of a session's screen from a connect object (StartSession,
// ConnectSession, ConnectShare): /ws/display/{id}?secret=<one-time password>, subprotocol "binary".
// Each connect object opens the screen once. The websocket carries the session's RFB stream in binary
// messages.
func (c *Client) DialDisplayWebSocket(ctx context.Context, conn fastx.Connect) (*websocket.Conn, error) {
	u, err := c.displayURL(conn)
	if err != nil {
		return nil, err
	}
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:      c.http,
		Subprotocols:    []string{"binary"},
		CompressionMode: websocket.CompressionDisabled,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, displayError(resp)
		}
		return nil, err
	}
	if ws.Subprotocol() != "binary" {
		ws.Close(websocket.StatusPolicyViolation, "subprotocol binary required")
		return nil, &Error{Surface: SurfaceDisplay, Status: http.StatusSwitchingProtocols,
			Message: "the display websocket did not agree to the binary subprotocol"}
	}
	return ws, nil
}

// DialDisplay is DialDisplayWebSocket as a net.Conn of the RFB stream, as a VNC client would have it
// over TCP: the first bytes read are the server's greeting ("RFB 003.008\n"). Close it to end the
// connection.
func (c *Client) DialDisplay(ctx context.Context, conn fastx.Connect) (net.Conn, error) {
	ws, err := c.DialDisplayWebSocket(ctx, conn)
	if err != nil {
		return nil, err
	}
	// The net.Conn lives until closed, not until ctx ends.
	return websocket.NetConn(context.WithoutCancel(ctx), ws, websocket.MessageBinary), nil
}

// displayURL resolves the connect object's relative URL against the server, as ws(s)://.
func (c *Client) displayURL(conn fastx.Connect) (string, error) {
	rel := conn.URL
	if rel == "" {
		if conn.ID == "" || conn.Password == "" {
			return "", errors.New("client: the connect object has no url, nor id and password")
		}
		rel = "/ws/display/" + url.PathEscape(conn.ID) + "?secret=" + url.QueryEscape(conn.Password)
	}
	ref, err := url.Parse(rel)
	if err != nil {
		return "", err
	}
	u := c.base.JoinPath(ref.Path)
	u.RawQuery = ref.RawQuery
	u.Scheme = strings.Replace(u.Scheme, "http", "ws", 1)
	return u.String(), nil
}

// displayError reads the session-surface envelope of a refused display handshake.
func displayError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	e := newError(SurfaceDisplay, resp, body)
	var env struct {
		Error struct {
			Name    string `json:"name"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && env.Error.Message != "" {
		e.Name, e.Message = env.Error.Name, env.Error.Message
	}
	return e
}
