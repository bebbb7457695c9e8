package vmm

import (
	"encoding/json"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// The administration of accounts and the audit log (admin.*): deskhub extensions of the
// infrastructure surface, for administrators only.

// AdminUserAttributes describe an account as administrators see it (admin.userList, admin.userCreate,
// admin.userLock).
type AdminUserAttributes struct {
	UserID             int64     `json:"user_id" doc:"id of the account"`
	UserLogin          string    `json:"user_login" doc:"login name"`
	UserEmail          string    `json:"user_email" doc:"mail address"`
	UserName           string    `json:"user_name,omitempty" doc:"display name"`
	UserAdmin          bool      `json:"user_admin" doc:"whether the account administers deskhub"`
	UserLocked         bool      `json:"user_locked" doc:"whether the account is locked (cannot log in; its tokens were revoked)"`
	UserPasswordLocked bool      `json:"user_password_locked" doc:"whether the user locked password changes"`
	UserProvider       string    `json:"user_provider" doc:"where the account lives: \"local\" (deskhub) or \"ssh\" (a host account)"`
	UserCreatedAt      time.Time `json:"user_created_at" doc:"when the account was created"`
}

// AdminUserCreateRequest is the body of admin.userCreate: a local account.
type AdminUserCreateRequest struct {
	UserLogin    string `json:"user_login" required:"true" doc:"login name (lower case, up to 32 characters)"`
	UserEmail    string `json:"user_email" required:"true" doc:"mail address"`
	UserPassword string `json:"user_password" required:"true" doc:"first password (the user can change it)"`
	UserAdmin    bool   `json:"user_admin,omitempty" doc:"true makes the account an administrator"`
}

// Validate checks that the members are not empty.
func (r *AdminUserCreateRequest) Validate() error {
	return nonEmpty("user_login", r.UserLogin, "user_email", r.UserEmail, "user_password", r.UserPassword)
}

// AdminUserLockRequest is the body of admin.userLock.
type AdminUserLockRequest struct {
	UserLogin  string `json:"user_login" required:"true" doc:"login name of the account"`
	UserLocked bool   `json:"user_locked" required:"true" doc:"true locks the account (it cannot log in, and every token of it is revoked); false unlocks it (revoked tokens stay revoked)"`
}

// Validate checks the login is not empty.
func (r *AdminUserLockRequest) Validate() error { return nonEmpty("user_login", r.UserLogin) }

// AdminUserDeleteRequest is the body of admin.userDelete.
type AdminUserDeleteRequest struct {
	UserLogin   string `json:"user_login" required:"true" doc:"login name of the account"`
	UserConfirm bool   `json:"user_confirm" required:"true" doc:"must be true: the account goes with its tokens, SSH keys, passkeys and session records, which cannot be undone"`
}

// Validate checks the login is not empty.
func (r *AdminUserDeleteRequest) Validate() error { return nonEmpty("user_login", r.UserLogin) }

// AdminUserPasswordResetRequest is the body of admin.userPasswordReset.
type AdminUserPasswordResetRequest struct {
	UserLogin    string `json:"user_login" required:"true" doc:"login name of a local account"`
	UserPassword string `json:"user_password" required:"true" doc:"the new password; the account's login tokens are revoked (API tokens stay)"`
}

// Validate checks the members are not empty.
func (r *AdminUserPasswordResetRequest) Validate() error {
	return nonEmpty("user_login", r.UserLogin, "user_password", r.UserPassword)
}

// TypeAudit is the JSON:API type of audit log entries.
const TypeAudit = "audit"

// MaxAuditLimit is the most entries admin.auditList answers at once.
const MaxAuditLimit = 500

// AdminAuditListRequest is the body of admin.auditList: the newest entries first, one page at a time.
type AdminAuditListRequest struct {
	UserLogin   string `json:"user_login,omitempty" doc:"only entries this login did (actor) or that were done to it (target)"`
	AuditSince  string `json:"audit_since,omitempty" doc:"only entries at or after this time (RFC 3339)"`
	AuditUntil  string `json:"audit_until,omitempty" doc:"only entries before this time (RFC 3339)"`
	AuditBefore int64  `json:"audit_before,omitempty" doc:"the next page: only entries listed after the entry with this id (the previous answer's meta.next_before)"`
	AuditLimit  int    `json:"audit_limit,omitempty" doc:"entries per page, 1 to 500 (default 50)"`
}

// Validate checks the times, the cursor and the limit.
func (r *AdminAuditListRequest) Validate() error {
	since, err := r.Since()
	if err != nil {
		return err
	}
	until, err := r.Until()
	if err != nil {
		return err
	}
	if !since.IsZero() && !until.IsZero() && !until.After(since) {
		return field.Errorf("audit_until", "must be after audit_since")
	}
	if r.AuditBefore < 0 {
		return field.Errorf("audit_before", "must be an entry id (positive), not %d", r.AuditBefore)
	}
	if r.AuditLimit < 0 || r.AuditLimit > MaxAuditLimit {
		return field.Errorf("audit_limit", "must be between 1 and %d, not %d", MaxAuditLimit, r.AuditLimit)
	}
	return nil
}

// Since is audit_since as a time (zero when absent).
func (r *AdminAuditListRequest) Since() (time.Time, error) {
	return rfc3339("audit_since", r.AuditSince)
}

// Until is audit_until as a time (zero when absent).
func (r *AdminAuditListRequest) Until() (time.Time, error) {
	return rfc3339("audit_until", r.AuditUntil)
}

// Limit is audit_limit, 50 when absent.
func (r *AdminAuditListRequest) Limit() int {
	if r.AuditLimit == 0 {
		return 50
	}
	return r.AuditLimit
}

func rfc3339(member, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, field.Errorf(member, "must be an RFC 3339 time (2026-12-02T07:30:00Z), not %q", s)
	}
	return t.UTC(), nil
}

// AuditAttributes are one entry of the audit log (admin.auditList).
type AuditAttributes struct {
	AuditID     int64           `json:"audit_id" doc:"id of the entry (admin.auditList's audit_before takes it)"`
	AuditAt     time.Time       `json:"audit_at" doc:"when it happened"`
	AuditUserID int64           `json:"audit_user_id,omitempty" doc:"id of the account that did it (absent: nobody logged in, or the command line)"`
	AuditActor  string          `json:"audit_actor" doc:"login of who did it (for a failed login, the login tried; \"deskhub user\" for the command line)"`
	AuditAction string          `json:"audit_action" doc:"what was done, e.g. user.login, admin.userLock, instance.add"`
	AuditTarget string          `json:"audit_target" doc:"what it was done to (a login, a token name, an id)"`
	AuditDetail json.RawMessage `json:"audit_detail,omitempty" doc:"more about it (an object)"`
	AuditRemote string          `json:"audit_remote_addr" doc:"the client's address (empty on the command line)"`
}

// UserCredentialRenameRequest is the body of user.credentialRename (deskhub extension).
type UserCredentialRenameRequest struct {
	CredentialID   string `json:"credential_id" required:"true" doc:"credential id (base64url, as user.credentialGet lists it)"`
	CredentialName string `json:"credential_name" required:"true" doc:"the new name, at most 64 characters (\"\" removes the name)"`
}

// Validate checks the id is not empty.
func (r *UserCredentialRenameRequest) Validate() error {
	return nonEmpty("credential_id", r.CredentialID)
}

// nonEmpty checks pairs of member name and value.
func nonEmpty(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			return field.Errorf(pairs[i], "must not be empty")
		}
	}
	return nil
}
