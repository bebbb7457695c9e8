package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// ListProfiles lists the LXD profiles of a server (profile.list).
func (c *Client) ListProfiles(ctx context.Context, provider vmm.Provider, serverID int64) (jsonapi.Many[vmm.ProfileAttributes], error) {
	return infraCall[jsonapi.Many[vmm.ProfileAttributes]](ctx, c, "profile.list", vmm.ProfileListRequest{Provider: provider, ServerID: vmm.FlexInt(serverID)})
}

// UpdateProfile replaces (and optionally renames) a profile (profile.update).
func (c *Client) UpdateProfile(ctx context.Context, req vmm.ProfileUpdateRequest) (jsonapi.One[vmm.ProfileAttributes], error) {
	return infraCall[jsonapi.One[vmm.ProfileAttributes]](ctx, c, "profile.update", req)
}

// DeleteProfile removes a profile (profile.delete).
func (c *Client) DeleteProfile(ctx context.Context, req vmm.ProfileDeleteRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "profile.delete", req)
}
