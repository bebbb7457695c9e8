package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// The administration of accounts and the audit log (admin.*, deskhub extensions; administrators only).

// AdminUsers lists every account (admin.userList).
func (c *Client) AdminUsers(ctx context.Context) (jsonapi.Many[vmm.AdminUserAttributes], error) {
	return infraCall[jsonapi.Many[vmm.AdminUserAttributes]](ctx, c, "admin.userList", nil)
}

// AdminCreateUser creates a local account (admin.userCreate).
func (c *Client) AdminCreateUser(ctx context.Context, req vmm.AdminUserCreateRequest) (jsonapi.One[vmm.AdminUserAttributes], error) {
	return infraCall[jsonapi.One[vmm.AdminUserAttributes]](ctx, c, "admin.userCreate", req)
}

// AdminLockUser locks (true) or unlocks (false) an account (admin.userLock).
func (c *Client) AdminLockUser(ctx context.Context, login string, locked bool) (jsonapi.One[vmm.AdminUserAttributes], error) {
	return infraCall[jsonapi.One[vmm.AdminUserAttributes]](ctx, c, "admin.userLock", vmm.AdminUserLockRequest{UserLogin: login, UserLocked: locked})
}

// AdminDeleteUser deletes an account; confirm must be true (admin.userDelete).
func (c *Client) AdminDeleteUser(ctx context.Context, login string, confirm bool) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "admin.userDelete", vmm.AdminUserDeleteRequest{UserLogin: login, UserConfirm: confirm})
}

// AdminResetPassword sets a local account's password (admin.userPasswordReset).
func (c *Client) AdminResetPassword(ctx context.Context, login, password string) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "admin.userPasswordReset", vmm.AdminUserPasswordResetRequest{UserLogin: login, UserPassword: password})
}

// AdminAudit lists a page of the audit log (admin.auditList).
func (c *Client) AdminAudit(ctx context.Context, req vmm.AdminAuditListRequest) (jsonapi.Many[vmm.AuditAttributes], error) {
	return infraCall[jsonapi.Many[vmm.AuditAttributes]](ctx, c, "admin.auditList", req)
}
