package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// Instance changes are asynchronous: AddInstance and InstanceAction answer an operation at once; its
// outcome comes on the event stream (Subscribe), keyed by the request's RequestID.

// ListInstances lists instances; zero ids list them all (instance.list). Servers that did not answer
// are named in the document's meta "unreachable_servers".
func (c *Client) ListInstances(ctx context.Context, req vmm.InstanceListRequest) (jsonapi.Many[vmm.InstanceAttributes], error) {
	return infraCall[jsonapi.Many[vmm.InstanceAttributes]](ctx, c, "instance.list", req)
}

// GetInstance answers one instance by server and name (instance.get).
func (c *Client) GetInstance(ctx context.Context, req vmm.InstanceGetRequest) (jsonapi.One[vmm.InstanceAttributes], error) {
	return infraCall[jsonapi.One[vmm.InstanceAttributes]](ctx, c, "instance.get", req)
}

// AddInstance creates an instance (instance.add).
func (c *Client) AddInstance(ctx context.Context, req vmm.InstanceAddRequest) (jsonapi.One[vmm.OperationAttributes], error) {
	if req.Profiles == nil {
		req.Profiles = []string{} // the document wants an array; empty is the server's default profile too
	}
	return infraCall[jsonapi.One[vmm.OperationAttributes]](ctx, c, "instance.add", req)
}

// InstanceAction starts, stops, restarts, freezes or deletes an instance (instance.action;
// req.InstanceStatus is one of vmm.InstanceActions).
func (c *Client) InstanceAction(ctx context.Context, req vmm.InstanceActionRequest) (jsonapi.One[vmm.OperationAttributes], error) {
	return infraCall[jsonapi.One[vmm.OperationAttributes]](ctx, c, "instance.action", req)
}
