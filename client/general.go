package client

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
)

// SessionConfig answers what a client needs before logging in (/v3/api; /v3/api/config is the same
// call). No token needed.
func (c *Client) SessionConfig(ctx context.Context) (fastx.Config, error) {
	return sessionCall[fastx.Config](ctx, c, request{path: "/v3/api/config"})
}

// XrdpConfig answers the display defaults new sessions get (/v3/api/xrdp/config).
func (c *Client) XrdpConfig(ctx context.Context) (fastx.XrdpConfig, error) {
	return sessionCall[fastx.XrdpConfig](ctx, c, request{path: "/v3/api/xrdp/config"})
}
