package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// Accounts on the infrastructure surface (user.*). The token a login answers works on every surface.

// UserLogin logs in with a password (user.login); the client keeps the token it answers.
func (c *Client) UserLogin(ctx context.Context, login, password string) (jsonapi.One[vmm.TokenAttributes], error) {
	doc, err := infraCall[jsonapi.One[vmm.TokenAttributes]](ctx, c, "user.login",
		vmm.UserLoginRequest{UserLogin: login, UserPassword: password})
	if err == nil && doc.Data.Attributes.Token != "" {
		c.SetToken(doc.Data.Attributes.Token)
	}
	return doc, err
}

// UserLogout revokes the client's token (user.logout) and forgets it.
func (c *Client) UserLogout(ctx context.Context) error {
	_, err := infraCall[jsonapi.Meta](ctx, c, "user.logout", nil)
	if err == nil {
		c.SetToken("")
	}
	return err
}

// User answers the logged-in account (user.get).
func (c *Client) User(ctx context.Context) (jsonapi.One[vmm.UserAttributes], error) {
	return infraCall[jsonapi.One[vmm.UserAttributes]](ctx, c, "user.get", nil)
}

// Register creates an account in two steps (user.register): without UserCode the server mails a code;
// the same call with the code creates the account.
func (c *Client) Register(ctx context.Context, req vmm.UserRegisterRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "user.register", req)
}

// Recover resets a forgotten password in two steps, as Register (user.recovery).
func (c *Client) Recover(ctx context.Context, req vmm.UserRecoveryRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "user.recovery", req)
}

// ChangeEmail changes the account's mail address in two steps, as Register (user.emailChange).
func (c *Client) ChangeEmail(ctx context.Context, req vmm.UserEmailChangeRequest) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "user.emailChange", req)
}

// ChangePassword sets a new password (user.passwordChange).
func (c *Client) ChangePassword(ctx context.Context, password string) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "user.passwordChange",
		vmm.UserPasswordChangeRequest{UserPassword: password, UserPasswordRepeat: password})
}

// LockPassword locks or unlocks password changes (user.passwordLock).
func (c *Client) LockPassword(ctx context.Context, req vmm.UserPasswordLockRequest) (jsonapi.One[vmm.UserAttributes], error) {
	return infraCall[jsonapi.One[vmm.UserAttributes]](ctx, c, "user.passwordLock", req)
}
