package client

import (
	"context"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
)

// WebAuthn (passkeys) on the infrastructure surface: each ceremony is two calls with the same request
// type, the first without a credential (the server answers the options for the authenticator), the
// second with the authenticator's answer.

// AssertionGet starts a WebAuthn login (user.assertionGet).
func (c *Client) AssertionGet(ctx context.Context, login string) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	return infraCall[jsonapi.One[vmm.WebAuthnOptionsAttributes]](ctx, c, "user.assertionGet", vmm.UserAssertionGetRequest{UserLogin: login})
}

// AssertionVerify finishes a WebAuthn login (user.assertionVerify); the client keeps the token.
func (c *Client) AssertionVerify(ctx context.Context, req vmm.UserAssertionVerifyRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	doc, err := infraCall[jsonapi.One[vmm.TokenAttributes]](ctx, c, "user.assertionVerify", req)
	if err == nil && doc.Data.Attributes.Token != "" {
		c.SetToken(doc.Data.Attributes.Token)
	}
	return doc, err
}

// CredentialMake registers a WebAuthn credential, optionally with a new account (user.credentialMake).
func (c *Client) CredentialMake(ctx context.Context, req vmm.UserCredentialMakeRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	return infraCall[jsonapi.One[vmm.WebAuthnOptionsAttributes]](ctx, c, "user.credentialMake", req)
}

// ListCredentials lists the account's WebAuthn credentials (user.credentialGet).
func (c *Client) ListCredentials(ctx context.Context) (jsonapi.Many[vmm.CredentialAttributes], error) {
	return infraCall[jsonapi.Many[vmm.CredentialAttributes]](ctx, c, "user.credentialGet", nil)
}

// DeleteCredentials removes one WebAuthn credential, or all when id is "" (user.credentialDelete).
func (c *Client) DeleteCredentials(ctx context.Context, id string) (jsonapi.Meta, error) {
	return infraCall[jsonapi.Meta](ctx, c, "user.credentialDelete", vmm.UserCredentialDeleteRequest{CredentialID: id})
}

// RenameCredential names one WebAuthn credential ("" removes the name; user.credentialRename, a deskhub
// extension).
func (c *Client) RenameCredential(ctx context.Context, id, name string) (jsonapi.One[vmm.CredentialAttributes], error) {
	return infraCall[jsonapi.One[vmm.CredentialAttributes]](ctx, c, "user.credentialRename", vmm.UserCredentialRenameRequest{CredentialID: id, CredentialName: name})
}
