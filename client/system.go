package client

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
)

// SessionProfile answers the limits and defaults of the caller's sessions (/v3/system/session/profile).
func (c *Client) SessionProfile(ctx context.Context) (fastx.SessionProfile, error) {
	return sessionCall[fastx.SessionProfile](ctx, c, request{path: "/v3/system/session/profile"})
}

// SystemSessionCount counts the sessions of all users matching the filters ("name==v1,v2"), for
// administrators (/v3/system/session/count).
func (c *Client) SystemSessionCount(ctx context.Context, filters ...string) (int, error) {
	return sessionCall[int](ctx, c, request{path: "/v3/system/session/count", body: fastx.SystemCountRequest{Filter: filters}})
}

// SystemSessions lists the sessions of all users, for administrators (/v3/system/session/list).
func (c *Client) SystemSessions(ctx context.Context, req fastx.ListRequest) ([]fastx.Session, error) {
	return sessionCall[[]fastx.Session](ctx, c, request{path: "/v3/system/session/list", body: req})
}

// SystemServers lists the servers with their load and sessions, for administrators
// (/v3/system/server/list).
func (c *Client) SystemServers(ctx context.Context) ([]fastx.ServerInfo, error) {
	return sessionCall[[]fastx.ServerInfo](ctx, c, request{path: "/v3/system/server/list"})
}
