package vmm

import (
	"encoding/json"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// TypeUser is the JSON:API type of user resources.
const TypeUser = "user"

// UserAttributes describe an account (user.get, user.passwordLock).
type UserAttributes struct {
	UserLogin          string    `json:"user_login" doc:"login name"`
	UserEmail          string    `json:"user_email" doc:"mail address, where one-time codes are sent"`
	UserName           string    `json:"user_name,omitempty" doc:"display name"`
	UserAdmin          bool      `json:"user_admin" doc:"whether the user administers deskhub"`
	UserPasswordLocked bool      `json:"user_password_locked" doc:"whether password changes and recovery are locked"`
	UserProvider       string    `json:"user_provider" doc:"where the account lives: \"local\" (deskhub) or \"ssh\" (a host account)"`
	UserCreatedAt      time.Time `json:"user_created_at" doc:"when the account was created"`
}

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

// UserRegisterRequest is the body of user.register. Registration takes two steps: without user_code
// deskhub mails a one-time code to user_email; the same call with the code creates the account. (The
// seed marks user_code required, which would make the first step impossible.)
type UserRegisterRequest struct {
	UserCode           string `json:"user_code" doc:"one-time code (UUID) from the registration mail; absent on the first step"`
	UserEmail          string `json:"user_email" required:"true" doc:"mail address of the new account"`
	UserLogin          string `json:"user_login" required:"true" doc:"login name of the new account"`
	UserPassword       string `json:"user_password" required:"true" doc:"password of the new account"`
	UserPasswordRepeat string `json:"user_passwordRepeat" required:"true" doc:"the password again; must equal user_password"`
}

// Validate checks that the passwords match.
func (r *UserRegisterRequest) Validate() error {
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
// (The seed marks user_code required, which would make the first step impossible.)
type UserRecoveryRequest struct {
	UserCode           string `json:"user_code" doc:"one-time code (UUID) from the recovery mail; absent on the first step"`
	UserEmail          string `json:"user_email" required:"true" doc:"mail address of the account"`
	UserPassword       string `json:"user_password" doc:"new password (with user_code)"`
	UserPasswordRepeat string `json:"user_passwordRepeat" doc:"the new password again; must equal user_password (with user_code)"`
}

// Validate checks the address, and with a code that the passwords match.
func (r *UserRecoveryRequest) Validate() error {
	if r.UserEmail == "" {
		return field.Errorf("user_email", "must not be empty")
	}
	if r.UserCode == "" {
		return nil
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
	UserLogin string `json:"user_login" required:"true" doc:"login name of the account to log in to"`
}

// UserAssertionVerifyRequest is the body of user.assertionVerify, the second step of a WebAuthn
// login. The seed lists only user_login; the signed assertion travels in credential (a deskhub
// addition, since the server cannot verify a login without it).
type UserAssertionVerifyRequest struct {
	UserLogin  string          `json:"user_login" required:"true" doc:"login name of the account to log in to"`
	Credential json.RawMessage `json:"credential,omitempty" doc:"the PublicKeyCredential from navigator.credentials.get() (deskhub addition)"`
}

// UserCredentialMakeRequest is the body of user.credentialMake: without credential it answers the
// options for navigator.credentials.create(); with credential (a deskhub addition) it stores the new
// WebAuthn credential. user_register starts a passwordless registration of a new account.
type UserCredentialMakeRequest struct {
	UserEmail    string          `json:"user_email" doc:"mail address of the new account (with user_register)"`
	UserLogin    string          `json:"user_login" required:"true" doc:"login name the credential belongs to"`
	UserRegister bool            `json:"user_register" doc:"true registers a new account with this credential"`
	Credential   json.RawMessage `json:"credential,omitempty" doc:"the PublicKeyCredential from navigator.credentials.create() (deskhub addition)"`
}

// TypeWebAuthnOptions is the JSON:API type of WebAuthn ceremony options.
const TypeWebAuthnOptions = "webauthn-options"

// WebAuthnOptionsAttributes carry the options of a WebAuthn ceremony (user.assertionGet,
// user.credentialMake).
type WebAuthnOptionsAttributes struct {
	Options json.RawMessage `json:"options" doc:"{publicKey: …} options for navigator.credentials.get() or create()"`
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
}

// UserCredentialDeleteRequest is the body of user.credentialDelete: without credential_id every
// WebAuthn credential of the caller is removed; with it only that one (a deskhub addition).
type UserCredentialDeleteRequest struct {
	CredentialID string `json:"credential_id,omitempty" doc:"credential id (base64url, as user.credentialGet lists it) of the one credential to remove; absent: remove them all (deskhub addition)"`
}
