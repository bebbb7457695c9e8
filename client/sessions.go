package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/deskhub/deskhub/api/fastx"
)

// StartSession starts a session (/v3/api/session/start) and answers its connect object (see
// DialDisplay).
func (c *Client) StartSession(ctx context.Context, req fastx.StartRequest) (fastx.Connect, error) {
	return sessionCall[fastx.Connect](ctx, c, request{path: "/v3/api/session/start", body: req})
}

// StartBookmark starts a session from a bookmark (/v3/api/session/start/bookmark).
func (c *Client) StartBookmark(ctx context.Context, bookmarkID string) (fastx.Connect, error) {
	return sessionCall[fastx.Connect](ctx, c, request{path: "/v3/api/session/start/bookmark", body: fastx.BookmarkRef{ID: bookmarkID}})
}

// Shortcut connects to the session started from a bookmark, or starts one (/v3/api/session/shortcut).
func (c *Client) Shortcut(ctx context.Context, bookmarkID string) (fastx.Connect, error) {
	return sessionCall[fastx.Connect](ctx, c, request{path: "/v3/api/session/shortcut", body: fastx.ShortcutRequest{ID: bookmarkID}})
}

// ScheduleSession has a session start later (/v3/api/session/schedule).
func (c *Client) ScheduleSession(ctx context.Context, req fastx.ScheduleRequest) (fastx.Schedule, error) {
	return sessionCall[fastx.Schedule](ctx, c, request{path: "/v3/api/session/schedule", body: req})
}

// ListSessions lists the user's sessions (/v3/api/session/list).
func (c *Client) ListSessions(ctx context.Context, req fastx.ListRequest) ([]fastx.Session, error) {
	return sessionCall[[]fastx.Session](ctx, c, request{path: "/v3/api/session/list", body: req})
}

// CountSessions answers how many sessions the user runs (/v3/api/session/list/count).
func (c *Client) CountSessions(ctx context.Context) (int, error) {
	return sessionCall[int](ctx, c, request{path: "/v3/api/session/list/count"})
}

// ConnectSession answers a fresh connect object of a running session, setting params on the way
// (/v3/api/session/connect).
func (c *Client) ConnectSession(ctx context.Context, id string, params fastx.Params) (fastx.Connect, error) {
	return sessionCall[fastx.Connect](ctx, c, request{path: "/v3/api/session/connect", body: fastx.ConnectRequest{ID: id, Params: params}})
}

// DisconnectSession disconnects every client of a session (/v3/api/session/disconnect).
func (c *Client) DisconnectSession(ctx context.Context, id string) error {
	_, err := sessionCall[fastx.Null](ctx, c, request{path: "/v3/api/session/disconnect", body: fastx.SessionRef{ID: id}})
	return err
}

// TerminateSession ends a session (/v3/api/session/terminate).
func (c *Client) TerminateSession(ctx context.Context, id string) error {
	_, err := sessionCall[fastx.Null](ctx, c, request{path: "/v3/api/session/terminate", body: fastx.SessionRef{ID: id}})
	return err
}

// SetSessionParams sets a session's parameters (an empty value deletes one) and answers them all
// (/v3/api/session/params).
func (c *Client) SetSessionParams(ctx context.Context, id string, params fastx.Params) (fastx.Params, error) {
	return sessionCall[fastx.Params](ctx, c, request{path: "/v3/api/session/params", body: fastx.ParamsRequest{ID: id, Params: params}})
}

// SessionLog answers the end of a session's log (/v3/api/session/log).
func (c *Client) SessionLog(ctx context.Context, id string) (fastx.SessionLog, error) {
	return sessionCall[fastx.SessionLog](ctx, c, request{path: "/v3/api/session/log", body: fastx.SessionRef{ID: id}})
}

// Exec runs a program in a session's display (/v3/api/session/exec).
func (c *Client) Exec(ctx context.Context, req fastx.ExecRequest) (fastx.ExecResult, error) {
	return sessionCall[fastx.ExecResult](ctx, c, request{path: "/v3/api/session/exec", body: req})
}

// Screenshot takes a screenshot of a session (/v3/api/session/screenshot); the answer is a data URL
// (DecodeDataURL gives the bytes).
func (c *Client) Screenshot(ctx context.Context, req fastx.ScreenshotRequest) (fastx.Screenshot, error) {
	return sessionCall[fastx.Screenshot](ctx, c, request{path: "/v3/api/session/screenshot", body: req})
}

// DecodeDataURL decodes a base64 data URL ("data:image/png;base64,…") into its media type and bytes.
func DecodeDataURL(s string) (mediaType string, data []byte, err error) {
	rest, ok := strings.CutPrefix(s, "data:")
	head, payload, ok2 := strings.Cut(rest, ",")
	if !ok || !ok2 || !strings.HasSuffix(head, ";base64") {
		return "", nil, fmt.Errorf("client: not a base64 data URL: %.40q", s)
	}
	data, err = base64.StdEncoding.DecodeString(payload)
	if err != nil {
		return "", nil, fmt.Errorf("client: data URL: %w", err)
	}
	return strings.TrimSuffix(head, ";base64"), data, nil
}
