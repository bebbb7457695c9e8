package client

import (
	"context"
	"time"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// CreateToken makes an API token (type system.api) that lives for lifetime; revokeAll revokes the
// account's other API tokens first (token.create). The token is in the answer only.
func (c *Client) CreateToken(ctx context.Context, lifetime time.Duration, revokeAll bool) (jsonapi.One[vmm.TokenAttributes], error) {
	return infraCall[jsonapi.One[vmm.TokenAttributes]](ctx, c, "token.create",
		vmm.TokenCreateRequest{TokenLifetime: vmm.FlexInt(lifetime / time.Second), TokenRevokeAll: revokeAll})
}

// ListTokens lists the account's tokens, login and API, without their secrets (token.get).
func (c *Client) ListTokens(ctx context.Context) (jsonapi.Many[vmm.TokenAttributes], error) {
	return infraCall[jsonapi.Many[vmm.TokenAttributes]](ctx, c, "token.get", nil)
}

// RevokeToken revokes the token named name (token.revoke).
func (c *Client) RevokeToken(ctx context.Context, name string) error {
	_, err := infraCall[jsonapi.Meta](ctx, c, "token.revoke", vmm.TokenRevokeRequest{TokenName: name})
	return err
}
