package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// AddServer trusts deskhub's certificate on an LXD/Incus server and records it (server.add).
func (c *Client) AddServer(ctx context.Context, req vmm.ServerAddRequest) (jsonapi.One[vmm.ServerAttributes], error) {
	return infraCall[jsonapi.One[vmm.ServerAttributes]](ctx, c, "server.add", req)
}

// VerifyServer checks the connection to a server without recording it (server.verify).
func (c *Client) VerifyServer(ctx context.Context, req vmm.ServerVerifyRequest) (jsonapi.One[vmm.ServerAttributes], error) {
	return infraCall[jsonapi.One[vmm.ServerAttributes]](ctx, c, "server.verify", req)
}

// ListServers lists the servers of a provider; serverID 0 lists them all (server.list).
func (c *Client) ListServers(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ServerAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ServerAttributes]](ctx, c, "server.list", vmm.ServerListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// GetServer answers one server, with its storage pools included (server.get).
func (c *Client) GetServer(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.One[vmm.ServerAttributes], error) {
	return infraCall[jsonapi.One[vmm.ServerAttributes]](ctx, c, "server.get", vmm.ServerGetRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// DeleteServer forgets a server and withdraws deskhub's certificate from it unless req.ServerKeepTrust
// (server.delete, deskhub's extension).
func (c *Client) DeleteServer(ctx context.Context, req vmm.ServerDeleteRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "server.delete", req)
}
