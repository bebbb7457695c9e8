package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// Alive answers "ok" while the server handles requests (health.alive); no token needed.
func (c *Client) Alive(ctx context.Context) (vmm.HealthAttributes, error) {
	doc, err := infraCall[jsonapi.One[vmm.HealthAttributes]](ctx, c, "health.alive", nil)
	return doc.Data.Attributes, err
}

// Ready answers "ok" when the server and its store are ready, with the state of its LXD servers
// (health.ready); no token needed.
func (c *Client) Ready(ctx context.Context) (vmm.HealthAttributes, error) {
	doc, err := infraCall[jsonapi.One[vmm.HealthAttributes]](ctx, c, "health.ready", nil)
	return doc.Data.Attributes, err
}

// InfraConfig answers the infrastructure surface's options and a fresh event stream id (config.get);
// no token needed.
func (c *Client) InfraConfig(ctx context.Context) (vmm.ConfigAttributes, error) {
	doc, err := infraCall[jsonapi.One[vmm.ConfigAttributes]](ctx, c, "config.get", nil)
	return doc.Data.Attributes, err
}
