package client

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/deskhub/deskhub/api/spawner"
)

// Agent calls the desktop agent (Spawner API) of one session through the broker:
// /spawner/{session_id}/<endpoint>. The broker lets in the session's owner, administrators, and holders
// of a share key of the session (WithShareKey): granters fully, viewers read-only.
//
// The agent's endpoints are in agent_*.go, by the seed's tags.
type Agent struct {
	c        *Client
	session  string
	shareKey string
}

// Agent answers the agent of session id.
func (c *Client) Agent(sessionID string) *Agent {
	return &Agent{c: c, session: sessionID}
}

// WithShareKey answers a copy of a that authenticates with a share key of the session (X-Share-Key)
// besides the client's token.
func (a *Agent) WithShareKey(key string) *Agent {
	b := *a
	b.shareKey = key
	return &b
}

// SessionID is the session whose agent a calls.
func (a *Agent) SessionID() string { return a.session }

// Version answers the agent's version (GET /version).
func (a *Agent) Version(ctx context.Context) (spawner.Version, error) {
	return agentCall[spawner.Version](ctx, a, http.MethodGet, "/version", nil)
}

// About answers system information of the desktop (GET /about).
func (a *Agent) About(ctx context.Context) (spawner.About, error) {
	return agentCall[spawner.About](ctx, a, http.MethodGet, "/about", nil)
}

// Settings lists the tabs of the settings window and whether each works (GET /getSettings).
func (a *Agent) Settings(ctx context.Context) ([]spawner.SettingTab, error) {
	return agentCall[[]spawner.SettingTab](ctx, a, http.MethodGet, "/getSettings", nil)
}

// ClipboardSync synchronises the X11 and GTK clipboards (POST /clipboardsync).
func (a *Agent) ClipboardSync(ctx context.Context) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/clipboardsync", nil)
}

// SetDesktop stores a JSON value under key in the desktop (POST /setDesktop).
func (a *Agent) SetDesktop(ctx context.Context, key string, value any) (string, error) {
	raw, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	return agentCall[string](ctx, a, http.MethodPost, "/setDesktop", spawner.SetDesktop{Key: key, Value: raw})
}

// GetDesktop answers the JSON value stored under key (GET /getDesktop).
func (a *Agent) GetDesktop(ctx context.Context, key string) (json.RawMessage, error) {
	return agentCall[json.RawMessage](ctx, a, http.MethodGet, "/getDesktop", spawner.GetDesktop{Key: key})
}
