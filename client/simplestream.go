package client

import (
	"context"
	"net/http"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// The simplestreams image server (simplestream.*) is planned: deskhub answers 501 for now.

// SimplestreamList lists the products of the image server (GET simplestream.list).
func (c *Client) SimplestreamList(ctx context.Context) (jsonapi.Many[vmm.SimplestreamProductAttributes], error) {
	return infraGet[jsonapi.Many[vmm.SimplestreamProductAttributes]](ctx, c, "simplestream.list")
}

// SimplestreamImages lists the image files of the image server (GET simplestream.images).
func (c *Client) SimplestreamImages(ctx context.Context) (jsonapi.Many[vmm.SimplestreamImageAttributes], error) {
	return infraGet[jsonapi.Many[vmm.SimplestreamImageAttributes]](ctx, c, "simplestream.images")
}

// SimplestreamAdd adds a product (simplestream.add).
func (c *Client) SimplestreamAdd(ctx context.Context, req vmm.SimplestreamAddRequest) (jsonapi.One[vmm.SimplestreamProductAttributes], error) {
	return infraCall[jsonapi.One[vmm.SimplestreamProductAttributes]](ctx, c, "simplestream.add", req)
}

// SimplestreamUpload uploads an image file of a product version (simplestream.upload; the file goes
// base64 in a JSON body).
func (c *Client) SimplestreamUpload(ctx context.Context, req vmm.SimplestreamUploadRequest) (jsonapi.One[vmm.SimplestreamImageAttributes], error) {
	return infraCall[jsonapi.One[vmm.SimplestreamImageAttributes]](ctx, c, "simplestream.upload", req)
}

// infraGet is infraCall for the seed's GET actions.
func infraGet[T any](ctx context.Context, c *Client, action string) (T, error) {
	return infraDo[T](ctx, c, http.MethodGet, action, nil)
}
