package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListImages lists every image stored on a server, cached copies of pulled images included (image.list).
func (c *Client) ListImages(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ImageAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ImageAttributes]](ctx, c, "image.list", vmm.ImageListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// ListCatalogImages lists the images an image server of ListImageServers offers for a server (image.list
// with image_server_host).
func (c *Client) ListCatalogImages(ctx context.Context, provider vmm.Provider, serverID int64, imageServerHost string) (jsonapi.Many[vmm.ImageAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ImageAttributes]](ctx, c, "image.list", vmm.ImageListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID), ImageServerHost: imageServerHost})
}

// ListImageServers lists the image servers instances of a server can be created from, deskhub's own
// first (image.serverList).
func (c *Client) ListImageServers(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ImageServerAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ImageServerAttributes]](ctx, c, "image.serverList", vmm.ImageServerListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// DeleteImage removes an image from a server (image.delete).
func (c *Client) DeleteImage(ctx context.Context, req vmm.ImageDeleteRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "image.delete", req)
}
