package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/session"
	"github.com/deskhub/deskhub/internal/store"
)

// The administration of accounts and the audit log (admin.*), and the naming of passkeys
// (user.credentialRename): deskhub extensions of the infrastructure surface, adapters over
// internal/account (which audits every change).

func (s *Server) adminRoutes() []httpapi.Route {
	const usr, adm = httpapi.User, httpapi.Admin
	return []httpapi.Route{
		infraExtra("/api/v1/admin.auditList", adm, "admin", "Lists the audit log, newest first, a page at a time; filtered by login and time (deskhub extension)",
			httpapi.Op(s.adminAuditList)),
		infraExtra("/api/v1/admin.userCreate", adm, "admin", "Creates a local account (deskhub extension)",
			httpapi.Op(s.adminUserCreate)),
		infraExtra("/api/v1/admin.userDelete", adm, "admin", "Deletes an account with its tokens, SSH keys, passkeys and session records; refuses the caller's own account and the last administrator (deskhub extension)",
			httpapi.Op(s.adminUserDelete)),
		infraExtra("/api/v1/admin.userList", adm, "admin", "Lists every account (deskhub extension)",
			httpapi.Op(s.adminUserList)),
		infraExtra("/api/v1/admin.userLock", adm, "admin", "Locks (revoking every token) or unlocks an account (deskhub extension)",
			httpapi.Op(s.adminUserLock)),
		infraExtra("/api/v1/admin.userPasswordReset", adm, "admin", "Sets a local account's password and revokes its login tokens (deskhub extension)",
			httpapi.Op(s.adminUserPasswordReset)),
		infraExtra("/api/v1/user.credentialRename", usr, "user", "Names one of the user's WebAuthn credentials (deskhub extension)",
			httpapi.Op(s.userCredentialRename)),
	}
}

func adminUserResource(u store.User) jsonapi.Resource[vmm.AdminUserAttributes] {
	return jsonapi.Resource[vmm.AdminUserAttributes]{Type: vmm.TypeUser, ID: strconv.FormatInt(u.ID, 10),
		Attributes: vmm.AdminUserAttributes{UserID: u.ID, UserLogin: u.Login, UserEmail: u.Email, UserName: u.Name,
			UserAdmin: u.Admin, UserLocked: u.Disabled, UserPasswordLocked: u.PasswordLocked, UserProvider: u.Provider,
			UserCreatedAt: u.CreatedAt}}
}

func (s *Server) adminUserList(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.AdminUserAttributes], error) {
	users, err := s.accounts.Users(c.Ctx, who(c))
	if err != nil {
		return jsonapi.Many[vmm.AdminUserAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.AdminUserAttributes]{Data: make([]jsonapi.Resource[vmm.AdminUserAttributes], 0, len(users))}
	for _, u := range users {
		doc.Data = append(doc.Data, adminUserResource(u))
	}
	return doc, nil
}

func (s *Server) adminUserCreate(c *httpapi.Call, r *vmm.AdminUserCreateRequest) (jsonapi.One[vmm.AdminUserAttributes], error) {
	u, err := s.accounts.AddUser(c.Ctx, who(c), account.NewUser{Login: r.UserLogin, Email: r.UserEmail, Password: r.UserPassword, Admin: r.UserAdmin})
	if err != nil {
		return jsonapi.One[vmm.AdminUserAttributes]{}, err
	}
	return jsonapi.One[vmm.AdminUserAttributes]{Data: adminUserResource(u), Meta: map[string]any{"status": "created"}}, nil
}

func (s *Server) adminUserLock(c *httpapi.Call, r *vmm.AdminUserLockRequest) (jsonapi.One[vmm.AdminUserAttributes], error) {
	out, err := s.accounts.SetDisabled(c.Ctx, who(c), r.UserLogin, r.UserLocked)
	if err != nil {
		return jsonapi.One[vmm.AdminUserAttributes]{}, err
	}
	status := "unlocked"
	if r.UserLocked {
		status = "locked"
	}
	return jsonapi.One[vmm.AdminUserAttributes]{Data: adminUserResource(out.User),
		Meta: map[string]any{"status": status, "was_locked": out.Was, "tokens_revoked": out.Revoked}}, nil
}

// adminUserDelete ends the account's desktops, deletes it, and retires its Unix identity on this host
// (as `deskhub user delete` does: the id may be given again, and the next account must not inherit the
// home or the Unix user).
func (s *Server) adminUserDelete(c *httpapi.Call, r *vmm.AdminUserDeleteRequest) (jsonapi.Meta, error) {
	caller := who(c)
	u, err := s.accounts.CanDelete(c.Ctx, caller, r.UserLogin, r.UserConfirm)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	rows, err := s.store.ListSessions(c.Ctx, store.SessionFilter{UserID: u.ID})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	ended := 0
	for _, row := range rows {
		if row.State == session.StateEnded {
			continue
		}
		var fe *fault.Error
		if err := s.sessions.Terminate(c.Ctx, caller, row.ID); err != nil && !(errors.As(err, &fe) && fe.Kind == fault.Conflict) {
			return jsonapi.Meta{}, fmt.Errorf("ending the desktop %s of %q before deleting it: %w", row.ID, u.Login, err)
		}
		ended++
	}
	out, err := s.accounts.DeleteUser(c.Ctx, caller, r.UserLogin, r.UserConfirm)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	meta := map[string]any{"status": account.StatusDeleted, "tokens": out.Tokens, "ssh_keys": out.SSHKeys,
		"credentials": out.Credentials, "sessions": out.Sessions, "desktops_ended": ended, "identity_retired": true}
	if s.identities != nil {
		if err := s.identities.Retire(out.User.ID, out.User.Login); err != nil {
			s.log.Warn("admin.userDelete: the Unix identity was not retired", "login", out.User.Login, "error", err)
			meta["identity_retired"] = false
			meta["identity_error"] = err.Error()
		}
	}
	return jsonapi.Ack(vmm.TypeUser, strconv.FormatInt(out.User.ID, 10), meta), nil
}

func (s *Server) adminUserPasswordReset(c *httpapi.Call, r *vmm.AdminUserPasswordResetRequest) (jsonapi.Meta, error) {
	u, revoked, err := s.accounts.SetPassword(c.Ctx, who(c), r.UserLogin, r.UserPassword)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	return jsonapi.Ack(vmm.TypeUser, strconv.FormatInt(u.ID, 10), map[string]any{"status": account.StatusPasswordChanged, "tokens_revoked": revoked}), nil
}

func (s *Server) adminAuditList(c *httpapi.Call, r *vmm.AdminAuditListRequest) (jsonapi.Many[vmm.AuditAttributes], error) {
	since, _ := r.Since() // checked by Validate
	until, _ := r.Until()
	limit := r.Limit()
	entries, err := s.accounts.AuditLog(c.Ctx, who(c), account.AuditQuery{Login: r.UserLogin, Since: since, Until: until,
		Before: r.AuditBefore, Limit: limit})
	if err != nil {
		return jsonapi.Many[vmm.AuditAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.AuditAttributes]{Data: make([]jsonapi.Resource[vmm.AuditAttributes], 0, len(entries)), Meta: map[string]any{"count": len(entries)}}
	for _, e := range entries {
		a := vmm.AuditAttributes{AuditID: e.ID, AuditAt: e.At, AuditUserID: e.UserID, AuditActor: e.Actor, AuditAction: e.Action,
			AuditTarget: e.Target, AuditRemote: e.RemoteAddr}
		if e.Detail != "" && json.Valid([]byte(e.Detail)) {
			a.AuditDetail = json.RawMessage(e.Detail)
		}
		doc.Data = append(doc.Data, jsonapi.Resource[vmm.AuditAttributes]{Type: vmm.TypeAudit, ID: strconv.FormatInt(e.ID, 10), Attributes: a})
	}
	if len(entries) == limit {
		doc.Meta["next_before"] = entries[len(entries)-1].ID // there may be more
	}
	return doc, nil
}

// userCredentialRename names one of the caller's passkeys.
func (s *Server) userCredentialRename(c *httpapi.Call, r *vmm.UserCredentialRenameRequest) (jsonapi.One[vmm.CredentialAttributes], error) {
	row, err := s.accounts.RenameCredential(c.Ctx, who(c), r.CredentialID, r.CredentialName)
	if err != nil {
		return jsonapi.One[vmm.CredentialAttributes]{}, err
	}
	return jsonapi.One[vmm.CredentialAttributes]{Data: credentialResource(row)}, nil
}
