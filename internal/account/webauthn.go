package account

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// WebAuthn (passkeys): the ceremonies behind user.credentialMake, user.credentialGet,
// user.credentialDelete, user.assertionGet and user.assertionVerify.
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
	CodeWebAuthnRegister = "webauthn.register"
	CodeWebAuthnLogin    = "webauthn.login"
)

// CeremonyTTL bounds a WebAuthn ceremony, from options to answer.
const CeremonyTTL = 5 * time.Minute

// relyingParty is go-webauthn configured from the public URL, or why it could not be.
type relyingParty struct {
	wa  *webauthn.WebAuthn
	err error
	// swept is when spent and expired codes were last deleted (unix seconds): anyone may start a
	// ceremony, so its rows must not pile up.
	swept atomic.Int64
}

// newRelyingParty configures the relying party from the public URL: its host is the RP ID, the URL the one
// allowed origin. A URL whose host cannot be an RP ID (an IP address) leaves WebAuthn unavailable
// rather than stopping the server.
func newRelyingParty(base string) *relyingParty {
	u, err := url.Parse(base)
	if err != nil {
		return &relyingParty{err: fmt.Errorf("public URL %q: %w", base, err)}
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
			Login:        webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
			Registration: webauthn.TimeoutConfig{Timeout: CeremonyTTL, TimeoutUVD: CeremonyTTL},
		},
	})
	if err != nil {
		return &relyingParty{err: fmt.Errorf("public URL %q cannot be a WebAuthn relying party (use a host name, e.g. localhost): %w", base, err)}
	}
	return &relyingParty{wa: wa}
}

// relyingParty answers 403 when WebAuthn is off and 503 when the public URL cannot serve it.
func (s *Service) relyingParty() (*webauthn.WebAuthn, error) {
	if !s.o.Features.WebAuthn {
		return nil, errFeatureOff("WebAuthn")
	}
	if s.rp.wa == nil {
		return nil, fault.Wrap(fault.Unavailable, s.rp.err, "WebAuthn is not available on this server: its public URL must name a host, not an IP address")
	}
	return s.rp.wa, nil
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
func (s *Service) credentialRows(ctx context.Context, userID int64) ([]store.WebAuthnCredential, []storedCredential, error) {
	rows, err := s.st.ListCredentials(ctx, userID)
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

// saveCeremony keeps a ceremony's state until its challenge comes back, at most CeremonyTTL.
func (s *Service) saveCeremony(ctx context.Context, purpose string, cer ceremony) error {
	data, err := json.Marshal(cer)
	if err != nil {
		return err
	}
	now := s.auth.Now().UTC()
	if last := s.rp.swept.Load(); now.Unix()-last >= 60 && s.rp.swept.CompareAndSwap(last, now.Unix()) {
		if _, err := s.st.DeleteExpiredCodes(ctx, now); err != nil {
			s.log.Warn("deleting expired one-time codes", "error", err)
		}
	}
	return s.st.CreateCode(ctx, &store.Code{UserID: cer.UserID, Purpose: purpose, Hash: challengeHash(cer.Session.Challenge),
		Email: cer.Email, Data: string(data), CreatedAt: now, ExpiresAt: now.Add(CeremonyTTL)})
}

// takeCeremony spends the state of the ceremony whose challenge the client signed; ok is false when
// there is none (never started, expired, or used already).
func (s *Service) takeCeremony(ctx context.Context, purpose, challenge string) (cer ceremony, ok bool, err error) {
	if challenge == "" {
		return cer, false, nil
	}
	code, err := s.st.ConsumeCode(ctx, purpose, challengeHash(challenge), s.auth.Now())
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

// CredentialID is how a credential id is written: unpadded base64url.
func CredentialID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

// Ceremony is the first step of a ceremony: the options for navigator.credentials.create() or .get()
// ({publicKey: …}), named by their challenge.
type Ceremony struct {
	Options   json.RawMessage
	Challenge string
}

func ceremonyOf(options any, challenge string) (Ceremony, error) {
	raw, err := json.Marshal(options)
	if err != nil {
		return Ceremony{}, err
	}
	return Ceremony{Options: raw, Challenge: challenge}, nil
}

// NewCredential is user.credentialMake: a credential for the caller's account (Login is the caller's),
// or, with Register, for a new passwordless account (Login, Email) created with its first credential.
// Without Credential it starts the ceremony; with the created credential it finishes it.
type NewCredential struct {
	Login, Email string
	Register     bool
	Credential   json.RawMessage
	Name         string // what the user calls the passkey (optional; checked by CheckCredentialName)
}

// MaxCredentialName is the longest name of a passkey, in characters.
const MaxCredentialName = 64

// CheckCredentialName checks the name of a passkey: at most MaxCredentialName characters of printable
// text, without spaces at either end ("" is allowed: no name).
func CheckCredentialName(name string) error {
	switch {
	case !utf8.ValidString(name):
		return errors.New("must be UTF-8 text")
	case utf8.RuneCountInString(name) > MaxCredentialName:
		return fmt.Errorf("must be at most %d characters", MaxCredentialName)
	case strings.TrimSpace(name) != name:
		return errors.New("must not begin or end with spaces")
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0:
		return errors.New("must not hold control characters")
	}
	return nil
}

// CredentialStep is what a step of user.credentialMake did: started a ceremony (Ceremony set), or
// stored Credential of User (Registered: the account is new).
type CredentialStep struct {
	Ceremony   *Ceremony
	Credential store.WebAuthnCredential
	User       store.User
	Registered bool
}

// MakeCredential registers a WebAuthn credential in two calls; see NewCredential.
func (s *Service) MakeCredential(ctx context.Context, c Caller, r NewCredential) (CredentialStep, error) {
	wa, err := s.relyingParty()
	if err != nil {
		return CredentialStep{}, err
	}
	if err := badMember("credential_name", CheckCredentialName(r.Name)); err != nil {
		return CredentialStep{}, err
	}
	if r.Register {
		if s.o.Features.DisableRegistration {
			return CredentialStep{}, errFeatureOff("registration")
		}
		if err := badMember("user_login", auth.CheckLogin(r.Login)); err != nil {
			return CredentialStep{}, err
		}
		if err := badMember("user_email", auth.CheckEmail(r.Email)); err != nil {
			return CredentialStep{}, err
		}
	} else {
		if c.UserID == 0 {
			return CredentialStep{}, fault.New(fault.Unauthorized,
				"log in to add a passkey to an account (Authorization: Bearer …), or set user_register to create a new account with it")
		}
		if c.Login != r.Login {
			return CredentialStep{}, fault.New(fault.Forbidden, "you can add passkeys only to your own account (%q)", c.Login)
		}
	}
	if !hasCredential(r.Credential) {
		cer, err := s.beginRegistration(ctx, c, wa, r)
		return CredentialStep{Ceremony: &cer}, err
	}
	return s.finishRegistration(ctx, c, wa, r)
}

func (s *Service) beginRegistration(ctx context.Context, c Caller, wa *webauthn.WebAuthn, r NewCredential) (Ceremony, error) {
	cer := ceremony{Login: r.Login, Register: r.Register}
	var pu *passkeyUser
	if r.Register {
		if err := s.checkAccountFree(ctx, r.Login, r.Email); err != nil {
			return Ceremony{}, err
		}
		cer.Email = r.Email
		pu = passkeyUserOf(store.User{Login: r.Login}, nil, nil)
	} else {
		u, err := s.User(ctx, c)
		if err != nil {
			return Ceremony{}, err
		}
		if u.Provider != store.ProviderLocal {
			return Ceremony{}, fault.Conflictf("this account logs in on its host (provider %s): passkeys are for deskhub accounts", u.Provider)
		}
		_, data, err := s.credentialRows(ctx, u.ID)
		if err != nil {
			return Ceremony{}, err
		}
		cer.UserID = u.ID
		pu = passkeyUserOf(u, data, nil)
	}
	creation, sess, err := wa.BeginRegistration(pu,
		webauthn.WithExclusions(webauthn.Credentials(pu.creds).CredentialDescriptors()))
	if err != nil {
		return Ceremony{}, err
	}
	cer.Session = *sess
	if err := s.saveCeremony(ctx, CodeWebAuthnRegister, cer); err != nil {
		return Ceremony{}, err
	}
	return ceremonyOf(creation, sess.Challenge)
}

func (s *Service) finishRegistration(ctx context.Context, c Caller, wa *webauthn.WebAuthn, r NewCredential) (CredentialStep, error) {
	var none CredentialStep
	parsed, err := protocol.ParseCredentialCreationResponseBytes(r.Credential)
	if err != nil {
		return none, fault.Memberf("credential", "is not a PublicKeyCredential from navigator.credentials.create(): %s", webauthnDetail(err))
	}
	cer, ok, err := s.takeCeremony(ctx, CodeWebAuthnRegister, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return none, err
	}
	if !ok {
		return none, fault.Invalidf("credential",
			"this credential answers no pending registration (expired after %s, used already, or never started); start again without credential", CeremonyTTL)
	}
	if cer.Login != r.Login || cer.Register != r.Register || r.Register && cer.Email != r.Email {
		return none, fault.Invalidf("credential", "this credential was made for another registration (other login, address or user_register)")
	}
	var u store.User
	var pu *passkeyUser
	if r.Register {
		u = store.User{Login: r.Login, Email: r.Email, Provider: store.ProviderLocal} // passwordless
		pu = passkeyUserOf(u, nil, cer.Session.UserID)
	} else {
		if c.UserID != cer.UserID {
			return none, fault.Invalidf("credential", "this credential was made for another account")
		}
		if u, err = s.User(ctx, c); err != nil {
			return none, err
		}
		_, data, err := s.credentialRows(ctx, u.ID)
		if err != nil {
			return none, err
		}
		pu = passkeyUserOf(u, data, cer.Session.UserID)
	}
	cred, err := wa.CreateCredential(pu, cer.Session, parsed)
	if err != nil {
		return none, &fault.Error{Kind: fault.Invalid, Field: "credential", Err: err,
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
		Name: r.Name, Data: string(data), CreatedAt: s.auth.Now().UTC()}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if r.Register {
			if s.o.Features.DisableRegistration {
				return errFeatureOff("registration")
			}
			if err := tx.CreateUser(ctx, &u); errors.Is(err, store.ErrConflict) {
				return fault.Conflictf("the login or the address was taken meanwhile")
			} else if err != nil {
				return err
			}
		}
		row.UserID = u.ID
		if err := tx.CreateCredential(ctx, &row); errors.Is(err, store.ErrConflict) {
			return fault.Conflictf("this credential is registered already")
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return none, err
	}
	if r.Register {
		s.Audit(ctx, c.as(u), "user.register", u.Login, map[string]any{"method": "webauthn"})
		s.mailPasskeyRegistrationCode(ctx, u)
	}
	s.Audit(ctx, c.as(u), "user.credentialMake", CredentialID(row.CredentialID), nil)
	return CredentialStep{Credential: row, User: u, Registered: r.Register}, nil
}

// Credentials lists the caller's WebAuthn credentials.
func (s *Service) Credentials(ctx context.Context, c Caller) ([]store.WebAuthnCredential, error) {
	if _, err := s.relyingParty(); err != nil {
		return nil, err
	}
	return s.st.ListCredentials(ctx, c.UserID)
}

// DeleteCredentials removes the caller's credential id (unpadded base64url), or all of them when id is
// empty, and answers the ids deleted.
func (s *Service) DeleteCredentials(ctx context.Context, c Caller, id string) ([]string, error) {
	if _, err := s.relyingParty(); err != nil {
		return nil, err
	}
	rows, err := s.st.ListCredentials(ctx, c.UserID)
	if err != nil {
		return nil, err
	}
	var gone []string
	err = s.st.InTx(ctx, func(tx store.Store) error {
		for _, row := range rows {
			rid := CredentialID(row.CredentialID)
			if id != "" && rid != strings.TrimRight(id, "=") {
				continue
			}
			if err := tx.DeleteCredential(ctx, c.UserID, row.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			gone = append(gone, rid)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if id != "" && len(gone) == 0 {
		return nil, fault.NotFoundf("you have no credential with id %q", id)
	}
	for _, rid := range gone {
		s.Audit(ctx, c, "user.credentialDelete", rid, nil)
	}
	return gone, nil
}

// RenameCredential names the caller's credential id (unpadded base64url) name ("" removes the name).
func (s *Service) RenameCredential(ctx context.Context, c Caller, id, name string) (store.WebAuthnCredential, error) {
	if _, err := s.relyingParty(); err != nil {
		return store.WebAuthnCredential{}, err
	}
	if err := badMember("credential_name", CheckCredentialName(name)); err != nil {
		return store.WebAuthnCredential{}, err
	}
	var out store.WebAuthnCredential
	err := s.st.InTx(ctx, func(tx store.Store) error {
		rows, err := tx.ListCredentials(ctx, c.UserID)
		if err != nil {
			return err
		}
		for _, row := range rows {
			if CredentialID(row.CredentialID) == strings.TrimRight(id, "=") {
				row.Name = name
				out = row
				return tx.UpdateCredential(ctx, &out)
			}
		}
		return fault.NotFoundf("you have no credential with id %q", id)
	})
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	s.Audit(ctx, c, "user.credentialRename", CredentialID(out.CredentialID), map[string]any{"name": name})
	return out, nil
}

// errNoPasskey answers an assertion for a login that cannot log in with a passkey, whatever the
// reason (no such account, a disabled one, no credential), so the answer tells nothing more.
var errNoPasskey = fault.NotFoundf("no passkey is registered for this login")

// BeginPasskeyLogin is user.assertionGet: the options for navigator.credentials.get().
func (s *Service) BeginPasskeyLogin(ctx context.Context, c Caller, login string) (Ceremony, error) {
	wa, err := s.relyingParty()
	if err != nil {
		return Ceremony{}, err
	}
	if err := s.auth.Throttle().Check(login, c.Remote); err != nil {
		return Ceremony{}, err
	}
	if login == "" {
		// A discoverable login: no login name; the authenticator offers the passkeys it holds for this
		// site, and the credential it signs with names the account (FinishPasskeyLogin).
		assertion, sess, err := wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return Ceremony{}, err
		}
		if err := s.saveCeremony(ctx, CodeWebAuthnLogin, ceremony{Session: *sess}); err != nil {
			return Ceremony{}, err
		}
		return ceremonyOf(assertion, sess.Challenge)
	}
	u, err := s.st.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Ceremony{}, err
	}
	var data []storedCredential
	if err == nil && !u.Disabled && u.Provider == store.ProviderLocal {
		if _, data, err = s.credentialRows(ctx, u.ID); err != nil {
			return Ceremony{}, err
		}
	}
	if len(data) == 0 {
		s.auth.Throttle().Fail(login, c.Remote) // probing which logins have passkeys costs like guessing passwords
		return Ceremony{}, errNoPasskey
	}
	pu := passkeyUserOf(u, data, nil)
	assertion, sess, err := wa.BeginLogin(pu)
	if err != nil {
		return Ceremony{}, err
	}
	if err := s.saveCeremony(ctx, CodeWebAuthnLogin, ceremony{Login: u.Login, UserID: u.ID, Session: *sess}); err != nil {
		return Ceremony{}, err
	}
	return ceremonyOf(assertion, sess.Challenge)
}

// FinishPasskeyLogin is user.assertionVerify: it verifies the assertion against the pending ceremony,
// records the new signature counter and issues a login token.
func (s *Service) FinishPasskeyLogin(ctx context.Context, c Caller, login string, credential json.RawMessage) (Issued, error) {
	wa, err := s.relyingParty()
	if err != nil {
		return Issued{}, err
	}
	if !hasCredential(credential) {
		return Issued{}, fault.Memberf("credential", "is required: the PublicKeyCredential from navigator.credentials.get()")
	}
	if err := s.auth.Throttle().Check(login, c.Remote); err != nil {
		return Issued{}, err
	}
	fail := func(kind fault.Kind, format string, args ...any) error {
		s.auth.Throttle().Fail(login, c.Remote)
		s.Audit(ctx, c.trying(login), "user.login.failed", login, map[string]any{"method": "webauthn"})
		return fault.New(kind, format, args...)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return Issued{}, fail(fault.Invalid, "member \"credential\" is not a PublicKeyCredential from navigator.credentials.get(): %s", webauthnDetail(err))
	}
	cer, ok, err := s.takeCeremony(ctx, CodeWebAuthnLogin, parsed.Response.CollectedClientData.Challenge)
	if err != nil {
		return Issued{}, err
	}
	if !ok || cer.Login != login {
		return Issued{}, fail(fault.Unauthorized, "this passkey login expired, was used already or was never started; start again with user.assertionGet")
	}
	if login == "" {
		// A discoverable login: the credential names the account.
		row, err := s.st.GetCredentialByCredentialID(ctx, parsed.RawID)
		if errors.Is(err, store.ErrNotFound) {
			return Issued{}, fail(fault.Unauthorized, "this passkey is not registered with deskhub")
		} else if err != nil {
			return Issued{}, err
		}
		cer.UserID = row.UserID
	}
	u, err := s.st.GetUser(ctx, cer.UserID)
	if errors.Is(err, store.ErrNotFound) || err == nil && (u.Disabled || u.Provider != store.ProviderLocal) {
		return Issued{}, fail(fault.Unauthorized, "the passkey login failed")
	} else if err != nil {
		return Issued{}, err
	}
	rows, data, err := s.credentialRows(ctx, u.ID)
	if err != nil {
		return Issued{}, err
	}
	used := -1
	for i, row := range rows {
		if bytes.Equal(row.CredentialID, parsed.RawID) {
			used = i
		}
	}
	if used < 0 {
		return Issued{}, fail(fault.Unauthorized, "this passkey is not registered for this login")
	}
	// The handle of the credential used: credentials registered concurrently may carry different ones.
	pu := passkeyUserOf(u, data, data[used].UserHandle)
	sess := cer.Session
	sess.UserID = pu.handle
	cred, err := wa.ValidateLogin(pu, sess, parsed)
	if err != nil {
		s.log.Info("passkey login refused", "login", login, "remote", c.Remote, "error", err)
		return Issued{}, fail(fault.Unauthorized, "the passkey login failed: %s", webauthnDetail(err))
	}
	if cred.Authenticator.CloneWarning {
		return Issued{}, fail(fault.Unauthorized, "the passkey login failed: the authenticator's signature counter did not increase (a cloned authenticator?)")
	}
	row := rows[used]
	row.SignCount = cred.Authenticator.SignCount
	row.LastUsedAt = s.auth.Now().UTC()
	if b, err := json.Marshal(storedCredential{UserHandle: data[used].UserHandle, Credential: *cred}); err == nil {
		row.Data = string(b)
	}
	out := Issued{User: u}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.UpdateCredential(ctx, &row); err != nil {
			return err
		}
		out.Secret, out.Token, err = s.auth.IssueToken(ctx, tx, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	s.auth.Throttle().Succeed(login, c.Remote)
	s.Audit(ctx, c.as(u), "user.login", out.Token.Name, map[string]any{"method": "webauthn", "credential": CredentialID(row.CredentialID)})
	return out, nil
}

// mailPasskeyRegistrationCode mails a registration code to the address of an account just made with a
// passkey. The account works at once; ui-vmm's panel then asks for the code mailed to the address
// and sends it alone to user.register, which takes it as the address's confirmation (see Register).
// A mail that cannot go out is logged, not an error: the account exists already.
func (s *Service) mailPasskeyRegistrationCode(ctx context.Context, u store.User) {
	data, _ := json.Marshal(pendingRegistration{Login: u.Login, Passkey: true})
	err := s.auth.IssueCode(ctx, auth.CodeRegister, u.ID, u.Email, string(data), "Your deskhub registration code",
		"The deskhub account \""+u.Login+"\" was created with a passkey and this address. The code confirms the address.")
	if err != nil {
		s.log.Warn("mailing the registration code of a passkey account", "login", u.Login, "error", err)
	}
}
