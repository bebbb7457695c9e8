package fastx

import (
	"net/mail"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// Share permissions. A key without PermViewer lets its guest control the session.
const (
	// PermViewer: the guest sees the screen only; the broker drops its pointer and key events.
	PermViewer = "viewer"
	// PermGranter: the guest may hand control to other guests.
	PermGranter = "granter"
)

func checkPerms(member string, perms []string) error {
	for _, p := range perms {
		if p != PermViewer && p != PermGranter {
			return field.Errorf(member, "has unknown permission %q: want %q or %q", p, PermViewer, PermGranter)
		}
	}
	return nil
}

// ShareKey is one sharing key of a session; share/list, share/edit, share/email, share/delete and
// share/reset answer []ShareKey.
type ShareKey struct {
	ID      string   `json:"id" doc:"session id"`
	Key     string   `json:"key" doc:"sharing key in full in the answer to the call that created it; elsewhere the key's public id (keys are stored hashed), which share/edit and share/delete accept in place of the key"`
	KeyID   string   `json:"keyId" doc:"public, non-secret id of the key (deskhub addition)"`
	Perms   []string `json:"perms" doc:"permissions of the key: viewer, granter"`
	Timeout int      `json:"timeout" doc:"seconds a guest has to connect with the share password"`
}

// ShareConnectRequest is the body of /v3/api/share/connect.
type ShareConnectRequest struct {
	ID  string `json:"id" required:"true" doc:"session id"`
	Key string `json:"key" required:"true" doc:"share key"`
}

// ShareEditRequest is the body of /v3/api/share/edit.
type ShareEditRequest struct {
	ID    string   `json:"id" required:"true" doc:"session id"`
	Key   string   `json:"key" required:"true" doc:"share key to edit"`
	Perms []string `json:"perms" required:"true" doc:"share permissions of the key: viewer, granter"`
}

// Validate checks the permissions.
func (r *ShareEditRequest) Validate() error { return checkPerms("perms", r.Perms) }

// ShareEmailRequest is the body of /v3/api/share/email (not described by the seed).
type ShareEmailRequest struct {
	ID    string   `json:"id" required:"true" doc:"session id"`
	Perms []string `json:"perms,omitempty" doc:"permissions of the new key (default [\"viewer\"])"`
	Email string   `json:"email" required:"true" doc:"address the share link is mailed to"`
}

// Validate checks the permissions and the address.
func (r *ShareEmailRequest) Validate() error {
	if err := checkPerms("perms", r.Perms); err != nil {
		return err
	}
	a, err := mail.ParseAddress(r.Email)
	if err != nil || a.Name != "" || a.Address != r.Email {
		return field.Errorf("email", "must be one plain email address, like ada@example.org")
	}
	return nil
}

// ShareDeleteRequest is the body of /v3/api/share/delete.
type ShareDeleteRequest struct {
	ID  string `json:"id" required:"true" doc:"session id"`
	Key string `json:"key" required:"true" doc:"share key to delete"`
}

// ShareResetRequest is the body of /v3/api/share/reset.
type ShareResetRequest struct {
	ID    string   `json:"id" required:"true" doc:"session id"`
	Perms []string `json:"perms,omitempty" doc:"delete the keys holding any of these permissions; empty deletes all keys"`
}

// Validate checks the permissions.
func (r *ShareResetRequest) Validate() error { return checkPerms("perms", r.Perms) }

// DesktopTokenRequest is the body of /v3/api/session/token (a deskhub extension): a desktop-scoped
// token of one session, for abcdesktop's browser code (ABCAuthorization: Bearer <token> on
// /spawner/<endpoint> and /broadcast). The session's owner asks with their token; a share key's
// holder with the key, and gets its role.
type DesktopTokenRequest struct {
	ID       string `json:"id" required:"true" doc:"the session"`
	Key      string `json:"key,omitempty" doc:"a share key of the session: the token gets its role (granter or viewer); without it the caller must own the session"`
	Lifetime int64  `json:"lifetime,omitempty" doc:"seconds the token lives (default and most: --desktop-token-ttl)"`
}

// Validate checks the lifetime.
func (r *DesktopTokenRequest) Validate() error {
	if r.Lifetime < 0 {
		return field.Errorf("lifetime", "must be a positive number of seconds, not %d", r.Lifetime)
	}
	return nil
}

// DesktopToken is the answer of /v3/api/session/token.
type DesktopToken struct {
	Token   string    `json:"token" doc:"the secret, shown only here: send it as ABCAuthorization: Bearer <token>"`
	Name    string    `json:"name" doc:"its public id, for session/token/revoke"`
	Session string    `json:"session" doc:"the one session it reaches"`
	Role    string    `json:"role" doc:"owner, granter or viewer (viewers only read)"`
	Expires time.Time `json:"expires" doc:"when it stops working (RFC 3339)"`
}

// DesktopTokenRevokeRequest is the body of /v3/api/session/token/revoke (a deskhub extension).
type DesktopTokenRevokeRequest struct {
	ID   string `json:"id" required:"true" doc:"the session"`
	Name string `json:"name,omitempty" doc:"the token to revoke (its name); absent: every desktop token of the session"`
}
