package server

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
)

// WebAuthn (passkeys) on the infrastructure surface: user.credentialMake, user.credentialGet,
// user.credentialDelete, user.assertionGet, user.assertionVerify (adapters over internal/account, which
// keeps the ceremonies); and the /passkey page that drives them from a browser.

// optionsAnswer wraps ceremony options ({publicKey: …}) in the answer of user.credentialMake and
// user.assertionGet.
func optionsAnswer(c account.Ceremony) jsonapi.One[vmm.WebAuthnOptionsAttributes] {
	return jsonapi.NewOne(vmm.TypeWebAuthnOptions, c.Challenge, vmm.WebAuthnOptionsAttributes{Options: c.Options,
		PublicKey: stdBase64PublicKey(c.Options)})
}

// stdBase64PublicKey is the publicKey member of ceremony options with its binary members (challenge,
// user.id, the ids of allowCredentials and excludeCredentials) in standard base64 instead of base64url:
// ui-vmm's panel decodes them with atob, which takes no base64url.
func stdBase64PublicKey(opts json.RawMessage) json.RawMessage {
	var o struct {
		PublicKey map[string]any `json:"publicKey"`
	}
	if json.Unmarshal(opts, &o) != nil || o.PublicKey == nil {
		return nil
	}
	pk := o.PublicKey
	conv := func(v any) any {
		s, ok := v.(string)
		if !ok {
			return v
		}
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		if err != nil {
			return v
		}
		return base64.StdEncoding.EncodeToString(b)
	}
	pk["challenge"] = conv(pk["challenge"])
	if u, ok := pk["user"].(map[string]any); ok {
		u["id"] = conv(u["id"])
	}
	for _, k := range []string{"allowCredentials", "excludeCredentials"} {
		if l, ok := pk[k].([]any); ok {
			for _, it := range l {
				if m, ok := it.(map[string]any); ok {
					m["id"] = conv(m["id"])
				}
			}
		}
	}
	if _, creation := pk["user"]; !creation && pk["allowCredentials"] == nil {
		pk["allowCredentials"] = []any{} // an assertion: the panel walks the list
	}
	b, _ := json.Marshal(pk)
	return b
}

// userCredentialMake registers a WebAuthn credential in two calls: without credential it answers the
// options for navigator.credentials.create(); with the created credential it verifies and stores it,
// and answers the new credential's id (data.id, type "credential", no options) and, for a new account,
// the account in included.
func (s *Server) userCredentialMake(c *httpapi.Call, r *vmm.UserCredentialMakeRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	step, err := s.accounts.MakeCredential(c.Ctx, who(c), account.NewCredential{Login: r.UserLogin, Email: r.UserEmail,
		Register: r.UserRegister, Credential: r.Credential, Name: r.CredentialName})
	if err != nil {
		return jsonapi.One[vmm.WebAuthnOptionsAttributes]{}, err
	}
	if step.Ceremony != nil {
		return optionsAnswer(*step.Ceremony), nil
	}
	id := account.CredentialID(step.Credential.CredentialID)
	doc := jsonapi.One[vmm.WebAuthnOptionsAttributes]{
		Data: jsonapi.Resource[vmm.WebAuthnOptionsAttributes]{Type: vmm.TypeCredential, ID: id,
			Relationships: map[string]jsonapi.Relationship{"user": {Data: jsonapi.Identifier{Type: vmm.TypeUser, ID: fmt.Sprint(step.User.ID)}}}},
		Meta: map[string]any{"status": account.StatusRegistered},
	}
	if step.Registered {
		doc.Included = []jsonapi.Resource[any]{asAny(userResource(step.User))}
	}
	return doc, nil
}

func credentialResource(r store.WebAuthnCredential) jsonapi.Resource[vmm.CredentialAttributes] {
	a := vmm.CredentialAttributes{CredentialID: account.CredentialID(r.CredentialID), CredentialName: r.Name,
		CredentialSignCount: r.SignCount, CredentialCreatedAt: r.CreatedAt, KeyName: r.Name, KeyTimeAdd: r.CreatedAt.Unix()}
	a.KeyID = a.CredentialID
	if id, err := uuid.FromBytes(r.AAGUID); err == nil {
		a.CredentialAAGUID = id.String()
	}
	if r.Transports != "" {
		a.CredentialTransports = strings.Split(r.Transports, ",")
	}
	if !r.LastUsedAt.IsZero() {
		t := r.LastUsedAt
		a.CredentialLastUsedAt = &t
	}
	return jsonapi.Resource[vmm.CredentialAttributes]{Type: vmm.TypeCredential, ID: a.CredentialID, Attributes: a}
}

// userCredentialGet lists the caller's WebAuthn credentials.
func (s *Server) userCredentialGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.CredentialAttributes], error) {
	rows, err := s.accounts.Credentials(c.Ctx, who(c))
	if err != nil {
		return jsonapi.Many[vmm.CredentialAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.CredentialAttributes]{Data: make([]jsonapi.Resource[vmm.CredentialAttributes], 0, len(rows))}
	for _, r := range rows {
		doc.Data = append(doc.Data, credentialResource(r))
	}
	return doc, nil
}

// userCredentialDelete removes one of the caller's credentials (credential_id) or all of them.
func (s *Server) userCredentialDelete(c *httpapi.Call, r *vmm.UserCredentialDeleteRequest) (jsonapi.Meta, error) {
	gone, err := s.accounts.DeleteCredentials(c.Ctx, who(c), r.CredentialID)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	return jsonapi.Ack(vmm.TypeCredential, r.CredentialID, map[string]any{"status": account.StatusDeleted, "deleted": len(gone)}), nil
}

// userAssertionGet starts a passkey login: the options for navigator.credentials.get().
func (s *Server) userAssertionGet(c *httpapi.Call, r *vmm.UserAssertionGetRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	cer, err := s.accounts.BeginPasskeyLogin(c.Ctx, who(c), r.UserLogin)
	if err != nil {
		return jsonapi.One[vmm.WebAuthnOptionsAttributes]{}, err
	}
	return optionsAnswer(cer), nil
}

// userAssertionVerify finishes a passkey login and answers like user.login.
func (s *Server) userAssertionVerify(c *httpapi.Call, r *vmm.UserAssertionVerifyRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	in, err := s.accounts.FinishPasskeyLogin(c.Ctx, who(c), r.UserLogin, r.Credential)
	if err != nil {
		return jsonapi.One[vmm.TokenAttributes]{}, err
	}
	return loginAnswer(in, s.accounts.Now()), nil
}
