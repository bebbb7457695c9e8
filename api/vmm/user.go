package vmm

import (
	"encoding/json"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// TypeUser is the JSON:API type of user resources.
const TypeUser = "user"

// UserAttributes describe an account (user.get, user.passwordLock). ui-vmm's panel reads the members
// login, email, group, password_locked and photo (and user_id): they are there beside deskhub's.
type UserAttributes struct {
	UserID             int64     `json:"user_id" doc:"id of the account"`
	Login              string    `json:"login" doc:"login name, as ui-vmm's panel reads it"`
	Email              string    `json:"email" doc:"mail address, as ui-vmm's panel reads it"`
	Group              int       `json:"group" doc:"1 for administrators, 4 for users (ui-vmm's panel lets groups below 3 create instances on any server)"`
	PasswordLocked     bool      `json:"password_locked" doc:"whether password changes are locked, as ui-vmm's panel reads it"`
	Photo              string    `json:"photo" doc:"address of the user's picture (empty: none; deskhub keeps none)"`
	UserLogin          string    `json:"user_login" doc:"login name"`
	UserEmail          string    `json:"user_email" doc:"mail address, where one-time codes are sent"`
	UserName           string    `json:"user_name,omitempty" doc:"display name"`
	UserAdmin          bool      `json:"user_admin" doc:"whether the user administers deskhub"`
	UserPasswordLocked bool      `json:"user_password_locked" doc:"whether password changes and recovery are locked"`
	UserProvider       string    `json:"user_provider" doc:"where the account lives: \"local\" (deskhub) or \"ssh\" (a host account)"`
	UserCreatedAt      time.Time `json:"user_created_at" doc:"when the account was created"`
}

// Groups of UserAttributes.Group.
const (
	GroupAdmin = 1
	GroupUser  = 4
)

// User providers.
const (
	UserProviderLocal = "local"
	UserProviderSSH   = "ssh"
)

// UserLoginRequest is the body of user.login.
type UserLoginRequest struct {
	UserLogin    string `json:"user_login" required:"true" doc:"login name"`
	UserPassword string `json:"user_password" required:"true" doc:"password"`
}

// UserCookieRequest is the body of user.cookie (deskhub extension): the web app hands over the token a
// login answered, and deskhub keeps it in the browser as the HttpOnly, SameSite=Strict session cookie.
type UserCookieRequest struct {
	Token string `json:"token" required:"true" doc:"a token a login answered (user.login, user.assertionVerify, or the session surface's user/login stages)"`
}

// UserRegisterRequest is the body of user.register. Registration takes two steps: without user_code
// deskhub mails a one-time code to user_email; the same call with the code creates the account. (The
// seed marks user_code required, which would make the first step impossible.) ui-vmm's panel sends the
// second step as {user_code} alone, which deskhub takes too: the other members are required on the
// first step only.
type UserRegisterRequest struct {
	UserCode           string `json:"user_code" doc:"one-time code (UUID) from the registration mail; absent on the first step; alone on the second step, or with the first step's members"`
	UserEmail          string `json:"user_email" doc:"mail address of the new account (required on the first step)"`
	UserLogin          string `json:"user_login" doc:"login name of the new account (required on the first step)"`
	UserPassword       string `json:"user_password" doc:"password of the new account (required on the first step)"`
	UserPasswordRepeat string `json:"user_passwordRepeat" doc:"the password again; must equal user_password"`
}

// Validate checks the members of each step.
func (r *UserRegisterRequest) Validate() error {
	if r.UserCode != "" && r.UserLogin == "" && r.UserEmail == "" && r.UserPassword == "" && r.UserPasswordRepeat == "" {
		return nil // the second step as ui-vmm's panel sends it
	}
	if r.UserLogin == "" {
		return field.Errorf("user_login", "must not be empty")
	}
	if r.UserEmail == "" {
		return field.Errorf("user_email", "must not be empty")
	}
	return checkPasswords(r.UserPassword, r.UserPasswordRepeat)
}

// UserRecoveryRequest is the body of user.recovery (password recovery). Like registration it takes two
// steps: without user_code deskhub mails a one-time code to user_email; with it the password is set.
// (The seed marks user_code required, which would make the first step impossible.) ui-vmm's panel
// also checks the code alone ({user_code}: answered without using it), and sends the last step without
// user_email.
type UserRecoveryRequest struct {
	UserCode           string `json:"user_code" doc:"one-time code (UUID) from the recovery mail; absent on the first step"`
	UserEmail          string `json:"user_email" doc:"mail address of the account (required on the first step)"`
	UserPassword       string `json:"user_password" doc:"new password (with user_code)"`
	UserPasswordRepeat string `json:"user_passwordRepeat" doc:"the new password again; must equal user_password (with user_code)"`
}

// Validate checks the members of each step.
func (r *UserRecoveryRequest) Validate() error {
	if r.UserCode == "" {
		if r.UserEmail == "" {
			return field.Errorf("user_email", "must not be empty")
		}
		return nil
	}
	if r.UserEmail == "" && r.UserPassword == "" && r.UserPasswordRepeat == "" {
		return nil // a check of the code alone
	}
	return checkPasswords(r.UserPassword, r.UserPasswordRepeat)
}

// UserEmailChangeRequest is the body of user.emailChange: without user_code deskhub mails a one-time
// code to the new address; with it the address changes.
type UserEmailChangeRequest struct {
	UserCode  string `json:"user_code" doc:"one-time code (UUID) from the confirmation mail; absent on the first step"`
	UserEmail string `json:"user_email" required:"true" doc:"new mail address"`
}

// Validate checks the address is not empty.
func (r *UserEmailChangeRequest) Validate() error {
	if r.UserEmail == "" {
		return field.Errorf("user_email", "must not be empty")
	}
	return nil
}

// UserPasswordChangeRequest is the body of user.passwordChange.
type UserPasswordChangeRequest struct {
	UserPassword       string `json:"user_password" required:"true" doc:"new password"`
	UserPasswordRepeat string `json:"user_passwordRepeat" required:"true" doc:"the new password again; must equal user_password"`
}

// Validate checks that the passwords match.
func (r *UserPasswordChangeRequest) Validate() error {
	return checkPasswords(r.UserPassword, r.UserPasswordRepeat)
}

// UserPasswordLockRequest is the body of user.passwordLock.
type UserPasswordLockRequest struct {
	UserCode           string `json:"user_code" doc:"one-time code (UUID) from the confirmation mail; absent on the first step, which mails it"`
	UserPasswordLocked bool   `json:"user_password_locked" required:"true" doc:"true locks password changes (user.passwordChange refuses them; recovery with a mailed code still works), false unlocks them"`
}

// UserAssertionGetRequest is the body of user.assertionGet, the first step of a WebAuthn login.
type UserAssertionGetRequest struct {
	UserLogin string `json:"user_login" required:"true" doc:"login name of the account to log in to; \"\" for a discoverable login (the passkey names the account; deskhub extension)"`
}

// UserAssertionVerifyRequest is the body of user.assertionVerify, the second step of a WebAuthn
// login. The seed lists only user_login; the signed assertion travels in credential (a deskhub
// addition, since the server cannot verify a login without it).
type UserAssertionVerifyRequest struct {
	UserLogin  string          `json:"user_login" required:"true" doc:"login name of the account to log in to (\"\", as in user.assertionGet, for a discoverable login)"`
	Credential json.RawMessage `json:"credential,omitempty" doc:"the PublicKeyCredential from navigator.credentials.get() (deskhub addition)"`
	WebAuthnCredential
}

// Validate takes the credential's members flat, as ui-vmm's panel sends them.
func (r *UserAssertionVerifyRequest) Validate() error {
	return r.WebAuthnCredential.into(&r.Credential)
}

// WebAuthnCredential is a PublicKeyCredential as ui-vmm's panel sends it: its members flat in the
// request (binary members base64url), instead of in credential.
type WebAuthnCredential struct {
	ID                      string          `json:"id,omitempty" doc:"the credential's id (base64url), as ui-vmm's panel sends it"`
	RawID                   string          `json:"rawId,omitempty" doc:"the credential's raw id (base64url)"`
	Type                    string          `json:"type,omitempty" doc:"\"public-key\""`
	Response                json.RawMessage `json:"response,omitempty" doc:"the authenticator's response: clientDataJSON and attestationObject, or authenticatorData, signature and userHandle (base64url)"`
	ClientExtensionResults  json.RawMessage `json:"clientExtensionResults,omitempty" doc:"the extensions' outputs"`
	AuthenticatorAttachment string          `json:"authenticatorAttachment,omitempty" doc:"how the authenticator is attached (platform or cross-platform)"`
}

// into assembles the flat members into dst when the request has them (and dst is empty).
func (w WebAuthnCredential) into(dst *json.RawMessage) error {
	if w.ID == "" && w.RawID == "" && len(w.Response) == 0 {
		return nil
	}
	if len(*dst) > 0 {
		return field.Errorf("credential", "cannot be given with the credential's members (id, rawId, type, response)")
	}
	if w.ID == "" || w.Type == "" || len(w.Response) == 0 {
		return field.Errorf("response", "a credential needs id, type and response")
	}
	if w.RawID == "" {
		w.RawID = w.ID
	}
	b, err := json.Marshal(w)
	if err != nil {
		return err
	}
	*dst = b
	return nil
}

// UserCredentialMakeRequest is the body of user.credentialMake: without credential it answers the
// options for navigator.credentials.create(); with credential (a deskhub addition) it stores the new
// WebAuthn credential. user_register starts a passwordless registration of a new account.
type UserCredentialMakeRequest struct {
	UserEmail                   string          `json:"user_email" doc:"mail address of the new account (with user_register)"`
	UserLogin                   string          `json:"user_login" required:"true" doc:"login name the credential belongs to"`
	UserRegister                bool            `json:"user_register" doc:"true registers a new account with this credential"`
	Credential                  json.RawMessage `json:"credential,omitempty" doc:"the PublicKeyCredential from navigator.credentials.create() (deskhub addition)"`
	AttestationType             string          `json:"attestation_type,omitempty" doc:"ui-vmm's panel's attestation preference (direct, indirect, none): accepted, not applied (deskhub asks for none)"`
	AuthenticatorAttachmentPref string          `json:"authenticator_attachment,omitempty" doc:"ui-vmm's panel's authenticator preference (platform, cross-platform): accepted, not applied (deskhub takes either)"`
	CredentialName              string          `json:"credential_name,omitempty" doc:"what to call the passkey, at most 64 characters, with the credential (deskhub extension; user.credentialRename changes it)"`
	WebAuthnCredential
}

// Validate checks the preferences and takes the credential's members flat, as ui-vmm's panel sends
// them.
func (r *UserCredentialMakeRequest) Validate() error {
	switch r.AttestationType {
	case "", "none", "indirect", "direct", "enterprise":
	default:
		return field.Errorf("attestation_type", "must be none, indirect, direct or enterprise, not %q", r.AttestationType)
	}
	switch r.AuthenticatorAttachmentPref {
	case "", "platform", "cross-platform":
	default:
		return field.Errorf("authenticator_attachment", "must be platform or cross-platform, not %q", r.AuthenticatorAttachmentPref)
	}
	return r.WebAuthnCredential.into(&r.Credential)
}

// TypeWebAuthnOptions is the JSON:API type of WebAuthn ceremony options.
const TypeWebAuthnOptions = "webauthn-options"

// WebAuthnOptionsAttributes carry the options of a WebAuthn ceremony (user.assertionGet,
// user.credentialMake).
type WebAuthnOptionsAttributes struct {
	Options json.RawMessage `json:"options" doc:"{publicKey: …} options for navigator.credentials.get() or create(), binary members base64url"`
	// PublicKey is what ui-vmm's panel reads: the same options, with challenge, user.id and the
	// credentials' ids in standard base64 (it decodes them with atob).
	PublicKey json.RawMessage `json:"publicKey,omitempty" doc:"the publicKey options again, binary members in standard base64 (as ui-vmm's panel decodes them)"`
}

// TypeCredential is the JSON:API type of WebAuthn credentials.
const TypeCredential = "credential"

// CredentialAttributes describe one WebAuthn credential of the user (user.credentialGet).
type CredentialAttributes struct {
	CredentialID         string     `json:"credential_id" doc:"credential id, base64url"`
	CredentialName       string     `json:"credential_name,omitempty" doc:"name given to the authenticator"`
	CredentialAAGUID     string     `json:"credential_aaguid,omitempty" doc:"authenticator model (AAGUID)"`
	CredentialTransports []string   `json:"credential_transports,omitempty" doc:"transports the authenticator supports (usb, nfc, ble, internal, hybrid)"`
	CredentialSignCount  uint32     `json:"credential_sign_count" doc:"signature counter last seen"`
	CredentialCreatedAt  time.Time  `json:"credential_created_at" doc:"when the credential was registered"`
	CredentialLastUsedAt *time.Time `json:"credential_last_used_at,omitempty" doc:"when the credential was last used to log in"`
	KeyID                string     `json:"key_id" doc:"the credential id again, as ui-vmm's panel reads it (user.credentialDelete takes it as key_id)"`
	KeyName              string     `json:"key_name" doc:"the credential's name, as ui-vmm's panel reads it"`
	KeyTimeAdd           int64      `json:"key_timeadd" doc:"when the credential was registered, in Unix seconds"`
}

// UserCredentialDeleteRequest is the body of user.credentialDelete: without credential_id every
// WebAuthn credential of the caller is removed; with it only that one (a deskhub addition).
type UserCredentialDeleteRequest struct {
	CredentialID string `json:"credential_id,omitempty" doc:"credential id (base64url, as user.credentialGet lists it) of the one credential to remove; absent: remove them all (deskhub addition)"`
	KeyID        string `json:"key_id,omitempty" doc:"the same, as ui-vmm's panel sends it"`
}

// Validate takes key_id for credential_id.
func (r *UserCredentialDeleteRequest) Validate() error {
	if r.KeyID != "" {
		if r.CredentialID != "" && r.CredentialID != r.KeyID {
			return field.Errorf("key_id", "names another credential than credential_id")
		}
		r.CredentialID, r.KeyID = r.KeyID, ""
	}
	return nil
}
