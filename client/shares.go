package client

import (
	"context"

	"github.com/deskhub/deskhub/api/fastx"
)

// A share key lets a guest open a session's screen (and its agent) without an account. Keys are
// shown in full only in the answer that created them; elsewhere Key is the key's public id, which
// EditShare and DeleteShare accept too.

// ListShares answers the share keys of a session (/v3/api/share/list).
func (c *Client) ListShares(ctx context.Context, sessionID string) ([]fastx.ShareKey, error) {
	return sessionCall[[]fastx.ShareKey](ctx, c, request{path: "/v3/api/share/list", body: fastx.SessionRef{ID: sessionID}})
}

// CreateShare makes a new share key with perms (fastx.PermViewer, fastx.PermGranter; none: full
// control) and answers it, in full (share/edit with an empty key).
func (c *Client) CreateShare(ctx context.Context, sessionID string, perms ...string) (fastx.ShareKey, error) {
	if perms == nil {
		perms = []string{}
	}
	keys, err := c.EditShare(ctx, fastx.ShareEditRequest{ID: sessionID, Perms: perms})
	if err != nil {
		return fastx.ShareKey{}, err
	}
	for _, k := range keys {
		if k.Key != k.KeyID {
			return k, nil
		}
	}
	return fastx.ShareKey{}, &Error{Surface: SurfaceSession, Status: 200, Message: "share/edit answered no new key"}
}

// EditShare changes the permissions of a key, or creates one when req.Key is empty
// (/v3/api/share/edit); it answers the session's keys.
func (c *Client) EditShare(ctx context.Context, req fastx.ShareEditRequest) ([]fastx.ShareKey, error) {
	return sessionCall[[]fastx.ShareKey](ctx, c, request{path: "/v3/api/share/edit", body: req})
}

// EmailShare creates a key and mails its link (/v3/api/share/email).
func (c *Client) EmailShare(ctx context.Context, req fastx.ShareEmailRequest) ([]fastx.ShareKey, error) {
	return sessionCall[[]fastx.ShareKey](ctx, c, request{path: "/v3/api/share/email", body: req})
}

// DeleteShare deletes a key, given in full or by its id, and disconnects its guests
// (/v3/api/share/delete).
func (c *Client) DeleteShare(ctx context.Context, sessionID, key string) ([]fastx.ShareKey, error) {
	return sessionCall[[]fastx.ShareKey](ctx, c, request{path: "/v3/api/share/delete", body: fastx.ShareDeleteRequest{ID: sessionID, Key: key}})
}

// ResetShares deletes the keys holding any of perms (all keys when none) and disconnects their guests
// (/v3/api/share/reset).
func (c *Client) ResetShares(ctx context.Context, sessionID string, perms ...string) ([]fastx.ShareKey, error) {
	return sessionCall[[]fastx.ShareKey](ctx, c, request{path: "/v3/api/share/reset", body: fastx.ShareResetRequest{ID: sessionID, Perms: perms}})
}

// ConnectShare answers a connect object of a shared session for the holder of key
// (/v3/api/share/connect); no token needed.
func (c *Client) ConnectShare(ctx context.Context, sessionID, key string) (fastx.Connect, error) {
	none := ""
	return sessionCall[fastx.Connect](ctx, c, request{path: "/v3/api/share/connect",
		body: fastx.ShareConnectRequest{ID: sessionID, Key: key}, token: &none})
}
