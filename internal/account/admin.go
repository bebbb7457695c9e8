package account

import (
	"context"
	"errors"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// The administration of accounts (`deskhub user …`). Every call needs an administrator (Operator at
// the command line).

func mustAdmin(c Caller) error {
	if !c.Admin {
		return fault.New(fault.Forbidden, "%s is not an administrator", c.Login)
	}
	return nil
}

// findUser looks an account up by login.
func findUser(ctx context.Context, st store.Store, login string) (store.User, error) {
	u, err := st.GetUserByLogin(ctx, login)
	if errors.Is(err, store.ErrNotFound) {
		return u, fault.NotFoundf("no account with login %q", login)
	}
	return u, err
}

// NewUser is a local account an administrator creates.
type NewUser struct {
	Login, Email, Password string
	Admin                  bool
}

// AddUser creates a local account.
func (s *Service) AddUser(ctx context.Context, c Caller, r NewUser) (store.User, error) {
	if err := mustAdmin(c); err != nil {
		return store.User{}, err
	}
	u, err := auth.NewLocalUser(r.Login, r.Email, r.Password, r.Admin)
	if err != nil {
		return store.User{}, fault.New(fault.Invalid, "%s", err)
	}
	if err := s.st.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, fault.Conflictf("an account with login %q or email %q exists already", u.Login, u.Email)
		}
		return store.User{}, err
	}
	s.Audit(ctx, c, "admin.userCreate", u.Login, map[string]any{"admin": u.Admin})
	return u, nil
}

// Users lists every account.
func (s *Service) Users(ctx context.Context, c Caller) ([]store.User, error) {
	if err := mustAdmin(c); err != nil {
		return nil, err
	}
	return s.st.ListUsers(ctx)
}

// Locked is what SetDisabled did.
type Locked struct {
	User    store.User
	Was     bool // the account was disabled before
	Revoked int  // tokens revoked
}

// SetDisabled locks (disables) or unlocks an account. Locking also revokes every token of the
// account, so that sessions already logged in end at their next request.
func (s *Service) SetDisabled(ctx context.Context, c Caller, login string, lock bool) (Locked, error) {
	if err := mustAdmin(c); err != nil {
		return Locked{}, err
	}
	var out Locked
	err := s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		if out.User, err = findUser(ctx, tx, login); err != nil {
			return err
		}
		out.Was = out.User.Disabled
		if lock && !out.Was {
			if out.User.ID == c.UserID {
				return fault.Conflictf("refusing to lock your own account %q", out.User.Login)
			}
			if err := othersAdmin(ctx, tx, out.User, "lock"); err != nil {
				return err
			}
		}
		if out.User.Disabled != lock {
			out.User.Disabled = lock
			if err := tx.UpdateUser(ctx, &out.User); err != nil {
				return err
			}
		}
		if lock {
			out.Revoked, err = tx.RevokeUserTokens(ctx, out.User.ID, "", 0, time.Now().UTC())
		}
		return err
	})
	if err != nil {
		return Locked{}, err
	}
	if lock {
		s.kick()
	}
	action := "admin.userUnlock"
	if lock {
		action = "admin.userLock"
	}
	s.Audit(ctx, c, action, out.User.Login, map[string]any{"was_locked": out.Was, "tokens_revoked": out.Revoked})
	return out, nil
}

// SetPassword sets a local account's password and revokes its login tokens (API tokens stay).
func (s *Service) SetPassword(ctx context.Context, c Caller, login, password string) (u store.User, revoked int, err error) {
	if err := mustAdmin(c); err != nil {
		return u, 0, err
	}
	if err := auth.CheckPassword(password); err != nil {
		return u, 0, fault.New(fault.Invalid, "%s", err)
	}
	if u, err = findUser(ctx, s.st, login); err != nil {
		return u, 0, err
	}
	if u.Provider != store.ProviderLocal {
		return u, 0, fault.Conflictf("%q logs in through %s, not with a deskhub password", u.Login, u.Provider)
	}
	hash, err := auth.HashPassword(password) // slow: outside the transaction
	if err != nil {
		return u, 0, err
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		var err error
		if u, err = tx.GetUser(ctx, u.ID); errors.Is(err, store.ErrNotFound) {
			return fault.NotFoundf("no account with login %q", login)
		} else if err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, &u); err != nil {
			return err
		}
		revoked, err = tx.RevokeUserTokens(ctx, u.ID, store.TokenUserLogin, 0, time.Now().UTC())
		return err
	})
	if err != nil {
		return u, 0, err
	}
	s.kick()
	s.Audit(ctx, c, "admin.userPasswordReset", u.Login, map[string]any{"tokens_revoked": revoked})
	return u, revoked, nil
}

// Deleted is what DeleteUser removed.
type Deleted struct {
	User                                   store.User
	Tokens, SSHKeys, Credentials, Sessions int
}

// DeleteUser deletes an account with its tokens, SSH keys, WebAuthn credentials and session records
// (the schema cascades). It refuses the last active administrator, and does nothing without confirm.
// The account's Unix identity is the caller's to retire.
func (s *Service) DeleteUser(ctx context.Context, c Caller, login string, confirm bool) (Deleted, error) {
	if err := mustAdmin(c); err != nil {
		return Deleted{}, err
	}
	var out Deleted
	err := s.st.InTx(ctx, func(tx store.Store) error {
		u, err := deletable(ctx, tx, c, login, confirm)
		if err != nil {
			return err
		}
		out.User = u
		ts, err := tx.ListTokens(ctx, u.ID)
		if err != nil {
			return err
		}
		ks, err := tx.ListSSHKeys(ctx, u.ID)
		if err != nil {
			return err
		}
		cs, err := tx.ListCredentials(ctx, u.ID)
		if err != nil {
			return err
		}
		ss, err := tx.ListSessions(ctx, store.SessionFilter{UserID: u.ID})
		if err != nil {
			return err
		}
		out.Tokens, out.SSHKeys, out.Credentials, out.Sessions = len(ts), len(ks), len(cs), len(ss)
		return tx.DeleteUser(ctx, u.ID) // the schema cascades to the rows above
	})
	if err != nil {
		return Deleted{}, err
	}
	s.kick()
	s.Audit(ctx, c, "admin.userDelete", out.User.Login, map[string]any{"user_id": out.User.ID, "tokens": out.Tokens,
		"ssh_keys": out.SSHKeys, "credentials": out.Credentials, "sessions": out.Sessions})
	return out, nil
}

// CanDelete answers the account DeleteUser would delete, or why it would refuse; it changes nothing
// (the HTTP adapter ends the account's desktops in between).
func (s *Service) CanDelete(ctx context.Context, c Caller, login string, confirm bool) (store.User, error) {
	if err := mustAdmin(c); err != nil {
		return store.User{}, err
	}
	return deletable(ctx, s.st, c, login, confirm)
}

func deletable(ctx context.Context, tx store.Store, c Caller, login string, confirm bool) (store.User, error) {
	u, err := findUser(ctx, tx, login)
	if err != nil {
		return u, err
	}
	if u.ID == c.UserID {
		return u, fault.Conflictf("refusing to delete your own account %q", u.Login)
	}
	if err := othersAdmin(ctx, tx, u, "delete"); err != nil {
		return u, err
	}
	if !confirm {
		return u, fault.Invalidf("", "add --yes to delete %q (id %d) with its tokens, SSH keys, WebAuthn credentials and sessions; this cannot be undone", u.Login, u.ID)
	}
	return u, nil
}

// othersAdmin refuses to verb u when u is the last active administrator.
func othersAdmin(ctx context.Context, tx store.Store, u store.User, verb string) error {
	if !u.Admin {
		return nil
	}
	users, err := tx.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.Admin && !o.Disabled && o.ID != u.ID {
			return nil
		}
	}
	return fault.Conflictf("refusing to %s %q: it is the last active administrator (create another one with 'deskhub user add --admin' first)", verb, u.Login)
}

// AuditQuery selects audit entries (Audit log, newest first).
type AuditQuery = store.AuditFilter

// MaxAuditPage is the most entries one AuditLog call answers.
const MaxAuditPage = 500

// AuditLog lists audit entries, newest first, at most MaxAuditPage (the default when q.Limit is 0).
func (s *Service) AuditLog(ctx context.Context, c Caller, q AuditQuery) ([]store.AuditEntry, error) {
	if err := mustAdmin(c); err != nil {
		return nil, err
	}
	if q.Limit <= 0 || q.Limit > MaxAuditPage {
		q.Limit = MaxAuditPage
	}
	return s.st.ListAudit(ctx, q)
}
