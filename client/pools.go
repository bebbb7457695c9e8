package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListPools lists the storage pools of a server (pool.list).
func (c *Client) ListPools(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.PoolAttributes], error) {
	return infraCall[jsonapi.Many[vmm.PoolAttributes]](ctx, c, "pool.list", vmm.PoolListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}
