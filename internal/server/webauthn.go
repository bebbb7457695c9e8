package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/web"
)

// WebAuthn (passkeys) on the infrastructure surface: user.credentialMake, user.credentialGet,
// user.credentialDelete, user.assertionGet, user.assertionVerify; and the /passkey page that drives
// them from a browser.
//
// Ceremony state. go-webauthn hands back SessionData at Begin* that Finish* needs. deskhub keeps it in
// the one-time codes table (purpose webauthn.register / webauthn.login), keyed by the SHA-256 of the
// ceremony's challenge, with a 5-minute expiry, rather than in memory:
//   - the client needs no extra handle: the challenge comes back inside the signed clientDataJSON, so the
//     finishing call finds its state by what the authenticator signed;
//   - ConsumeCode is atomic and single-use, so a replayed registration or assertion finds nothing (the
//     state is spent before verification, so a failed try burns the ceremony too);
//   - it survives a restart and is shared by replicas on PostgreSQL, where an in-memory map would make the
//     second step fail whenever it reaches another process;
//   - expiry follows the server's clock (tests move it) and expired rows go with DeleteExpiredCodes.
//
// User handle. WebAuthn wants an opaque, stable user handle (it ends up inside discoverable credentials
// and comes back in assertions). deskhub makes a random 32-byte one for an account's first credential and
// keeps it, with the go-webauthn Credential, in each credential row's Data; later credentials reuse it.
// It cannot be the user id: a passwordless registration has no account yet when the ceremony starts.

// Code purposes of WebAuthn ceremonies.
const (
	codeWebAuthnRegister = "webauthn.register"
	codeWebAuthnLogin    = "webauthn.login"
)

// ceremonyTTL bounds a WebAuthn ceremony, from options to answer.
const ceremonyTTL = 5 * time.Minute

// webAuthnRP is the relying party: go-webauthn configured from the public URL, or why it could not be.
type webAuthnRP struct {
	wa  *webauthn.WebAuthn
	err error
	// swept is when spent and expired codes were last deleted (unix seconds): anyone may start a
	// ceremony, so its rows must not pile up.
	swept atomic.Int64
}

// newWebAuthnRP configures the relying party from the public URL: its host is the RP ID, the URL the one
// allowed origin. A URL whose host cannot be an RP ID (an IP address) leaves WebAuthn unavailable
// rather than stopping the server.
func newWebAuthnRP(cfg config.Config) *webAuthnRP {
	base := cfg.BaseURL()
	u, err := url.Parse(base)
	if err != nil {
		return &webAuthnRP{err: fmt.Errorf("public URL %q: %w", base, err)}
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  u.Hostname(),
		RPDisplayName:         "deskhub",
		RPOrigins:             []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementPreferred,
			// A passkey is the only factor of a passwordless login: the authenticator must verify the user.
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: ceremonyTTL, TimeoutUVD: ceremonyTTL},
		},
	})
	if err != nil {
		return &webAuthnRP{err: fmt.Errorf("public URL %q cannot be a WebAuthn relying party (use a host name, e.g. localhost): %w", base, err)}
	}
	return &webAuthnRP{wa: wa}
}

// relyingParty answers 403 when WebAuthn is off and 503 when the public URL cannot serve it.
func (s *Server) relyingParty() (*webauthn.WebAuthn, error) {
	if !s.cfg.Features.WebAuthnEnabled {
		return nil, errForbiddenFeature("WebAuthn")
	}
	if s.webauthn == nil || s.webauthn.wa == nil {
		e := httpapi.Errorf(http.StatusServiceUnavailable, "WebAuthn is not available on this server: its public URL must name a host, not an IP address")
		if s.webauthn != nil {
			e.Err = s.webauthn.err
		}
		return nil, e
	}
	return s.webauthn.wa, nil
}

// storedCredential is the Data of a credential row.
type storedCredential struct {
	UserHandle []byte              `json:"user_handle"`
	Credential webauthn.Credential `json:"credential"`
}

// passkeyUser is an account as go-webauthn sees it.
type passkeyUser struct {
	handle      []byte
	name, label string
	creds       []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.label }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// credentialRows loads the user's credential rows with their decoded data; undecodable rows are skipped
// (and logged): they cannot be used to log in.
func (s *Server) credentialRows(ctx context.Context, userID int64) ([]store.WebAuthnCredential, []storedCredential, error) {
	rows, err := s.store.ListCredentials(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	var keep []store.WebAuthnCredential
	var data []storedCredential
	for _, r := range rows {
		var d storedCredential
		if err := json.Unmarshal([]byte(r.Data), &d); err != nil || len(d.UserHandle) == 0 {
			s.log.Warn("webauthn credential row has no usable data", "credential", r.ID, "user", userID, "error", err)
			continue
		}
		keep = append(keep, r)
		data = append(data, d)
	}
	return keep, data, nil
}

// passkeyUserOf builds the go-webauthn user of an account. handle overrides the handle of its
// credentials (nil: the first credential's, or a new random one when it has none).
func passkeyUserOf(u store.User, data []storedCredential, handle []byte) *passkeyUser {
	pu := &passkeyUser{name: u.Login, label: u.Name, handle: handle}
	if pu.label == "" {
		pu.label = u.Login
	}
	for _, d := range data {
		pu.creds = append(pu.creds, d.Credential)
	}
	if pu.handle == nil && len(data) > 0 {
		pu.handle = data[0].UserHandle
	}
	if pu.handle == nil {
		pu.handle = newUserHandle()
	}
	return pu
}

func newUserHandle() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

// ceremony is what a WebAuthn ceremony keeps between its two steps.
type ceremony struct {
	Login    string               `json:"login"`
	Email    string               `json:"email,omitempty"`
	Register bool                 `json:"register,omitempty"`
	UserID   int64                `json:"user_id,omitempty"`
	Session  webauthn.SessionData `json:"session"`
}

func challengeHash(challenge string) []byte {
	h := sha256.Sum256([]byte("deskhub webauthn challenge\x00" + challenge))
	return h[:]
}

// saveCeremony keeps a ceremony's state until its challenge comes back, at most ceremonyTTL.
func (s *Server) saveCeremony(ctx context.Context, purpose string, cer ceremony) error {
	data, err := json.Marshal(cer)
	if err != nil {
		return err
	}
	now := s.auth.Now().UTC()
	if last := s.webauthn.swept.Load(); now.Unix()-last >= 60 && s.webauthn.swept.CompareAndSwap(last, now.Unix()) {
		if _, err := s.store.DeleteExpiredCodes(ctx, now); err != nil {
			s.log.Warn("deleting expired one-time codes", "error", err)
		}
	}
	return s.store.CreateCode(ctx, &store.Code{UserID: cer.UserID, Purpose: purpose, Hash: challengeHash(cer.Session.Challenge),
		Email: cer.Email, Data: string(data), CreatedAt: now, ExpiresAt: now.Add(ceremonyTTL)})
}

// takeCeremony spends the state of the ceremony whose challenge the client signed; ok is false when
// there is none (never started, expired, or used already).
func (s *Server) takeCeremony(ctx context.Context, purpose, challenge string) (cer ceremony, ok bool, err error) {
	if challenge == "" {
		return cer, false, nil
	}
	code, err := s.store.ConsumeCode(ctx, purpose, challengeHash(challenge), s.auth.Now())
	if errors.Is(err, store.ErrNotFound) {
		return cer, false, nil
	} else if err != nil {
		return cer, false, err
	}
	if err := json.Unmarshal([]byte(code.Data), &cer); err != nil {
		return cer, false, fmt.Errorf("webauthn ceremony state: %w", err)
	}
	return cer, true, nil
}

// optionsAnswer wraps ceremony options ({publicKey: …}) in the answer of user.credentialMake and
// user.assertionGet.
func optionsAnswer(options any, challenge string) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	raw, err := json.Marshal(options)
	if err != nil {
		return jsonapi.One[vmm.WebAuthnOptionsAttributes]{}, err
	}
	return jsonapi.NewOne(vmm.TypeWebAuthnOptions, challenge, vmm.WebAuthnOptionsAttributes{Options: raw}), nil
}

// hasCredential tells whether a JSON member is present and not null.
func hasCredential(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && !bytes.Equal(t, []byte("null"))
}

// webauthnDetail is the client-facing reason a go-webauthn step refused.
func webauthnDetail(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Details != "" {
		return strings.TrimSuffix(pe.Details, ": <nil>") // some go-webauthn details end in a nil cause
	}
	return err.Error()
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// userCredentialMake registers a WebAuthn credential in two calls: without credential it answers the
// options for navigator.credentials.create(); with the created credential it verifies and stores it.
// The caller registers for their own account (Bearer token), or, with user_register, for a new
// passwordless account that is created with its first credential, in one transaction. The second
// call answers the new credential's id (data.id, type "credential", no options) and, for a new
// account, the account in included.
func (s *Server) userCredentialMake(c *httpapi.Call, r *vmm.UserCredentialMakeRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	var none jsonapi.One[vmm.WebAuthnOptionsAttributes]
	wa, err := s.relyingParty()
	if err != nil {
		return none, err
	}
	if r.UserRegister {
		if s.cfg.Features.DisableUserRegistration {
			return none, errForbiddenFeature("registration")
		}
		if err := badMember("user_login", auth.CheckLogin(r.UserLogin)); err != nil {
			return none, err
		}
		if err := badMember("user_email", auth.CheckEmail(r.UserEmail)); err != nil {
			return none, err
		}
	} else {
		if c.Principal == nil {
			return none, httpapi.Errorf(http.StatusUnauthorized,
				"log in to add a passkey to an account (Authorization: Bearer …), or set user_register to create a new account with it")
		}
		if c.Principal.Login != r.UserLogin {
			return none, httpapi.Errorf(http.StatusForbidden, "you can add passkeys only to your own account (%q)", c.Principal.Login)
		}
	}
	if !hasCredential(r.Credential) {
		return s.beginRegistration(c, wa, r)
	}
	return s.finishRegistration(c, wa, r)
}

func (s *Server) beginRegistration(c *httpapi.Call, wa *webauthn.WebAuthn, r *vmm.UserCredentialMakeRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	var none jsonapi.One[vmm.WebAuthnOptionsAttributes]
	cer := ceremony{Login: r.UserLogin, Register: r.UserRegister}
	var pu *passkeyUser
	if r.UserRegister {
		if err := s.checkAccountFree(c.Ctx, r.UserLogin, r.UserEmail); err != nil {
			return none, err
		}
		cer.Email = r.UserEmail
		pu = passkeyUserOf(store.User{Login: r.UserLogin}, nil, nil)
	} else {
		u, err := s.currentUser(c)
		if err != nil {
			return none, err
		}
		if u.Provider != store.ProviderLocal {
			return none, httpapi.Errorf(http.StatusConflict, "this account logs in on its host (provider %s): passkeys are for deskhub accounts", u.Provider)
		}
		_, data, err := s.credentialRows(c.Ctx, u.ID)
		if err != nil {
			return none, err
		}
		cer.UserID = u.ID
		pu = passkeyUserOf(u, data, nil)
	}
	creation, sess, err := wa.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return none, err
	}
	cer.Session = *sess
	if err := s.saveCeremony(c.Ctx, codeWebAuthnRegister, cer); err != nil {
		return none, err
	}
	return optionsAnswer(creation, sess.Challenge)
}

func (s *Server) finishRegistration(c *httpapi.Call, wa *webauthn.WebAuthn, r *vmm.UserCredentialMakeRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	var none jsonapi.One[vmm.WebAuthnOptionsAttributes]
	parsed, err := protocol.ParseCredentialCreationResponseBytes(r.Credential)
	if err != nil {
		return none, httpapi.BadRequest("credential", "member \"credential\" is not a PublicKeyCredential from navigator.credentials.create(): %s", webauthnDetail(err))
	}
	cer, ok, err := s.takeCeremony(c.Ctx, codeWebAuthnRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return none, err
	}
	if !ok {
		return none, httpapi.BadRequest("credential",
			"this credential answers no pending registration (expired after %s, used already, or never started); start again without credential", ceremonyTTL)
	}
	if cer.Login != r.UserLogin || cer.Register != r.UserRegister || r.UserRegister && cer.Email != r.UserEmail {
		return none, httpapi.BadRequest("credential", "this credential was made for another registration (other login, address or user_register)")
	}
	var u store.User
	var pu *passkeyUser
	if r.UserRegister {
		u = store.User{Login: r.UserLogin, Email: r.UserEmail, Provider: store.ProviderLocal} // passwordless
		pu = passkeyUserOf(u, nil, cer.Session.UserID)
	} else {
		if c.Principal.UserID != cer.UserID {
			return none, httpapi.BadRequest("credential", "this credential was made for another account")
		}
		if u, err = s.currentUser(c); err != nil {
			return none, err
		}
		_, data, err := s.credentialRows(c.Ctx, u.ID)
		if err != nil {
			return none, err
		}
		pu = passkeyUserOf(u, data, cer.Session.UserID)
	}
	cred, err := wa.CreateCredential(pu, cer.Session, parsed)
	if err != nil {
		return none, &httpapi.Error{Status: http.StatusBadRequest, Field: "credential", Err: err,
			Msg: "the credential does not verify: " + webauthnDetail(err)}
	}
	data, err := json.Marshal(storedCredential{UserHandle: pu.handle, Credential: *cred})
	if err != nil {
		return none, err
	}
	transports := make([]string, 0, len(cred.Transport))
	for _, t := range cred.Transport {
		transports = append(transports, string(t))
	}
	row := store.WebAuthnCredential{CredentialID: cred.ID, PublicKey: cred.PublicKey, AttestationType: cred.AttestationType,
		AAGUID: cred.Authenticator.AAGUID, SignCount: cred.Authenticator.SignCount, Transports: strings.Join(transports, ","),
		Data: string(data), CreatedAt: s.auth.Now().UTC()}
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		if r.UserRegister {
			if s.cfg.Features.DisableUserRegistration {
				return errForbiddenFeature("registration")
			}
			if err := tx.CreateUser(c.Ctx, &u); errors.Is(err, store.ErrConflict) {
				return httpapi.Errorf(http.StatusConflict, "the login or the address was taken meanwhile")
			} else if err != nil {
				return err
			}
		}
		row.UserID = u.ID
		if err := tx.CreateCredential(c.Ctx, &row); errors.Is(err, store.ErrConflict) {
			return httpapi.Errorf(http.StatusConflict, "this credential is registered already")
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return none, err
	}
	if r.UserRegister {
		s.audit(c.Ctx, c, u.ID, u.Login, "user.register", u.Login, map[string]any{"method": "webauthn"})
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "user.credentialMake", b64(row.CredentialID), nil)
	doc := jsonapi.One[vmm.WebAuthnOptionsAttributes]{
		Data: jsonapi.Resource[vmm.WebAuthnOptionsAttributes]{Type: vmm.TypeCredential, ID: b64(row.CredentialID),
			Relationships: map[string]jsonapi.Relationship{"user": {Data: jsonapi.Identifier{Type: vmm.TypeUser, ID: fmt.Sprint(u.ID)}}}},
		Meta: map[string]any{"status": "registered"},
	}
	if r.UserRegister {
		doc.Included = []jsonapi.Resource[any]{asAny(userResource(u))}
	}
	return doc, nil
}

func credentialResource(r store.WebAuthnCredential) jsonapi.Resource[vmm.CredentialAttributes] {
	a := vmm.CredentialAttributes{CredentialID: b64(r.CredentialID), CredentialName: r.Name,
		CredentialSignCount: r.SignCount, CredentialCreatedAt: r.CreatedAt}
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
	if _, err := s.relyingParty(); err != nil {
		return jsonapi.Many[vmm.CredentialAttributes]{}, err
	}
	rows, err := s.store.ListCredentials(c.Ctx, c.Principal.UserID)
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
	if _, err := s.relyingParty(); err != nil {
		return jsonapi.Meta{}, err
	}
	rows, err := s.store.ListCredentials(c.Ctx, c.Principal.UserID)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	var gone []string
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		for _, row := range rows {
			id := b64(row.CredentialID)
			if r.CredentialID != "" && id != strings.TrimRight(r.CredentialID, "=") {
				continue
			}
			if err := tx.DeleteCredential(c.Ctx, c.Principal.UserID, row.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			gone = append(gone, id)
		}
		return nil
	})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	if r.CredentialID != "" && len(gone) == 0 {
		return jsonapi.Meta{}, httpapi.NotFound("you have no credential with id %q", r.CredentialID)
	}
	for _, id := range gone {
		s.audit(c.Ctx, c, c.Principal.UserID, c.Principal.Login, "user.credentialDelete", id, nil)
	}
	return jsonapi.Meta{Meta: map[string]any{"status": "deleted", "deleted": len(gone)}}, nil
}

// errNoPasskey answers an assertionGet for a login that cannot log in with a passkey, whatever the
// reason (no such account, a disabled one, no credential), so the answer tells nothing more.
var errNoPasskey = httpapi.NotFound("no passkey is registered for this login")

// userAssertionGet starts a passkey login: the options for navigator.credentials.get().
func (s *Server) userAssertionGet(c *httpapi.Call, r *vmm.UserAssertionGetRequest) (jsonapi.One[vmm.WebAuthnOptionsAttributes], error) {
	var none jsonapi.One[vmm.WebAuthnOptionsAttributes]
	wa, err := s.relyingParty()
	if err != nil {
		return none, err
	}
	remote := remoteAddr(c.R)
	if err := s.auth.Throttle().Check(r.UserLogin, remote); err != nil {
		return none, err
	}
	u, err := s.store.GetUserByLogin(c.Ctx, r.UserLogin)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return none, err
	}
	var data []storedCredential
	if err == nil && !u.Disabled && u.Provider == store.ProviderLocal {
		if _, data, err = s.credentialRows(c.Ctx, u.ID); err != nil {
			return none, err
		}
	}
	if len(data) == 0 {
		s.auth.Throttle().Fail(r.UserLogin, remote) // probing which logins have passkeys costs like guessing passwords
		return none, errNoPasskey
	}
	pu := passkeyUserOf(u, data, nil)
	assertion, sess, err := wa.BeginLogin(pu)
	if err != nil {
		return none, err
	}
	if err := s.saveCeremony(c.Ctx, codeWebAuthnLogin, ceremony{Login: u.Login, UserID: u.ID, Session: *sess}); err != nil {
		return none, err
	}
	return optionsAnswer(assertion, sess.Challenge)
}

// userAssertionVerify finishes a passkey login: it verifies the assertion against the pending
// ceremony, records the new signature counter and answers like user.login.
func (s *Server) userAssertionVerify(c *httpapi.Call, r *vmm.UserAssertionVerifyRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	var none jsonapi.One[vmm.TokenAttributes]
	wa, err := s.relyingParty()
	if err != nil {
		return none, err
	}
	if !hasCredential(r.Credential) {
		return none, httpapi.BadRequest("credential", "member \"credential\" is required: the PublicKeyCredential from navigator.credentials.get()")
	}
	remote := remoteAddr(c.R)
	if err := s.auth.Throttle().Check(r.UserLogin, remote); err != nil {
		return none, err
	}
	fail := func(status int, format string, args ...any) error {
		s.auth.Throttle().Fail(r.UserLogin, remote)
		s.audit(c.Ctx, c, 0, r.UserLogin, "user.login.failed", r.UserLogin, map[string]any{"method": "webauthn"})
		return httpapi.Errorf(status, format, args...)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(r.Credential)
	if err != nil {
		return none, fail(http.StatusBadRequest, "member \"credential\" is not a PublicKeyCredential from navigator.credentials.get(): %s", webauthnDetail(err))
	}
	cer, ok, err := s.takeCeremony(c.Ctx, codeWebAuthnLogin, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return none, err
	}
	if !ok || cer.Login != r.UserLogin {
		return none, fail(http.StatusUnauthorized, "this passkey login expired, was used already or was never started; start again with user.assertionGet")
	}
	u, err := s.store.GetUser(c.Ctx, cer.UserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (u.Disabled || u.Provider != store.ProviderLocal) {
		return none, fail(http.StatusUnauthorized, "the passkey login failed")
	} else if err != nil {
		return none, err
	}
	rows, data, err := s.credentialRows(c.Ctx, u.ID)
	if err != nil {
		return none, err
	}
	used := -1
	for i, row := range rows {
		if bytes.Equal(row.CredentialID, parsed.RawID) {
			used = i
		}
	}
	if used < 0 {
		return none, fail(http.StatusUnauthorized, "this passkey is not registered for this login")
	}
	// The handle of the credential used: credentials registered concurrently may carry different ones.
	pu := passkeyUserOf(u, data, data[used].UserHandle)
	sess := cer.Session
	sess.UserID = pu.handle
	cred, err := wa.ValidateLogin(pu, sess, parsed)
	if err != nil {
		s.log.Info("passkey login refused", "login", r.UserLogin, "remote", remote, "error", err)
		return none, fail(http.StatusUnauthorized, "the passkey login failed: %s", webauthnDetail(err))
	}
	if cred.Authenticator.CloneWarning {
		return none, fail(http.StatusUnauthorized, "the passkey login failed: the authenticator's signature counter did not increase (a cloned authenticator?)")
	}
	row := rows[used]
	row.SignCount = cred.Authenticator.SignCount
	row.LastUsedAt = s.auth.Now().UTC()
	if b, err := json.Marshal(storedCredential{UserHandle: data[used].UserHandle, Credential: *cred}); err == nil {
		row.Data = string(b)
	}
	var secret string
	var tok store.Token
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		if err := tx.UpdateCredential(c.Ctx, &row); err != nil {
			return err
		}
		secret, tok, err = s.auth.IssueToken(c.Ctx, tx, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
		return err
	})
	if err != nil {
		return none, err
	}
	s.auth.Throttle().Succeed(r.UserLogin, remote)
	s.audit(c.Ctx, c, u.ID, u.Login, "user.login", tok.Name, map[string]any{"method": "webauthn", "credential": b64(row.CredentialID)})
	return loginAnswer(u, tok, secret, s.auth.Now()), nil
}

// passkeyPage serves /passkey: add a passkey to your account, log in with one, or create an account
// with one.
func passkeyPage() http.Handler {
	page, err := fs.ReadFile(web.FS, "passkey.html")
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if err != nil {
			http.Error(w, "the passkey page is missing from this build", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
		_, _ = w.Write(page)
	})
}
