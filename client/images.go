package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListImages lists the image catalog of a server (image.list).
func (c *Client) ListImages(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ImageAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ImageAttributes]](ctx, c, "image.list", vmm.ImageListRequest{Provider: provider, ServerID: serverID})
}

// ListServerImages lists every image stored on the server itself (image.serverList).
func (c *Client) ListServerImages(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ImageAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ImageAttributes]](ctx, c, "image.serverList", vmm.ImageServerListRequest{Provider: provider, ServerID: serverID})
}

// DeleteImage removes an image from a server (image.delete).
func (c *Client) DeleteImage(ctx context.Context, req vmm.ImageDeleteRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "image.delete", req)
}
