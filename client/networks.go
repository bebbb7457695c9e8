package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListNetworks lists the networks of a server (network.list).
func (c *Client) ListNetworks(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.NetworkAttributes], error) {
	return infraCall[jsonapi.Many[vmm.NetworkAttributes]](ctx, c, "network.list", vmm.NetworkListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}
