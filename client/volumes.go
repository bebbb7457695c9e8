package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListVolumes lists the storage volumes of a server (volume.list).
func (c *Client) ListVolumes(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.VolumeAttributes], error) {
	return infraCall[jsonapi.Many[vmm.VolumeAttributes]](ctx, c, "volume.list", vmm.VolumeListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}
