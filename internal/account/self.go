package account

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/store"
)

// The statuses two-step calls answer (meta.status).
const (
	StatusCodeSent          = "code_sent"
	StatusCodeSentIfAccount = "code_sent_if_account_exists"
	StatusRegistered        = "registered"
	StatusPasswordSet       = "password_set"
	StatusEmailChanged      = "email_changed"
	StatusPasswordChanged   = "password_changed"
	StatusLoggedOut         = "logged_out"
	StatusRevoked           = "revoked"
	StatusDeleted           = "deleted"
	StatusCodeValid         = "code_valid"
)

// errCheckOnly rolls back a transaction that only checked something.
var errCheckOnly = errors.New("account: checked only")

// trying is c trying to act as login (a login or registration not yet known to succeed).
func (c Caller) trying(login string) Caller { return Caller{Login: login, Remote: c.Remote} }

// Registration is user.register: without Code it checks everything and mails a code; with the mailed
// code it creates the account.
type Registration struct {
	Login, Email, Password, Code string
}

// Register is both steps of a registration; the status says which one was done. The second step is
// the code with the first step's members again (deskhub's form), or the code alone (ui-vmm's panel's
// form): the first step keeps the login, the address and the password's hash with the code.
func (s *Service) Register(ctx context.Context, c Caller, r Registration) (string, error) {
	if s.o.Features.DisableRegistration {
		return "", errFeatureOff("registration")
	}
	codeOnly := r.Code != "" && r.Login == "" && r.Email == "" && r.Password == ""
	if !codeOnly {
		if err := badMember("user_login", auth.CheckLogin(r.Login)); err != nil {
			return "", err
		}
		if err := badMember("user_email", auth.CheckEmail(r.Email)); err != nil {
			return "", err
		}
		if err := checkNewPassword(r.Password); err != nil {
			return "", err
		}
		if err := s.checkAccountFree(ctx, r.Login, r.Email); err != nil {
			return "", err
		}
	}
	if r.Code == "" {
		hash, err := auth.HashPassword(r.Password)
		if err != nil {
			return "", err
		}
		data, _ := json.Marshal(pendingRegistration{Login: r.Login, Hash: hash})
		err = s.auth.IssueCode(ctx, auth.CodeRegister, 0, r.Email, string(data), "Your deskhub registration code",
			"Someone (hopefully you) asked to create the deskhub account \""+r.Login+"\" with this address.")
		if err != nil {
			return "", err
		}
		return StatusCodeSent, nil
	}
	var u store.User
	if !codeOnly {
		var err error
		if u, err = auth.NewLocalUser(r.Login, r.Email, r.Password, false); err != nil {
			return "", fault.Invalidf("", "%s", err)
		}
	}
	confirmed := false
	err := s.st.InTx(ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(ctx, tx, auth.CodeRegister, r.Code)
		if err != nil {
			return err
		}
		var data pendingRegistration
		_ = json.Unmarshal([]byte(code.Data), &data)
		if data.Passkey {
			// The account was made with a passkey (see mailPasskeyRegistrationCode): the code
			// confirms its address.
			if !codeOnly {
				return fault.Invalidf("user_code", "this code confirms an account made with a passkey: send it alone")
			}
			if u, err = tx.GetUser(ctx, code.UserID); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fault.Invalidf("user_code", "the account this code confirms is gone")
				}
				return err
			}
			confirmed = true
			return nil
		}
		if codeOnly {
			if data.Hash == "" {
				return fault.Invalidf("user_code", "this code needs the registration's login, address and password with it")
			}
			u = store.User{Login: data.Login, Email: code.Email, PasswordHash: data.Hash, Provider: store.ProviderLocal}
		} else if code.Email != r.Email || data.Login != r.Login {
			return fault.Invalidf("user_code", "this code was sent for another login or address")
		}
		if err := tx.CreateUser(ctx, &u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fault.Conflictf("the login or the address was taken meanwhile")
			}
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if confirmed {
		s.Audit(ctx, c.as(u), "user.register", u.Login, map[string]any{"method": "webauthn", "address_confirmed": true})
		return StatusRegistered, nil
	}
	s.Audit(ctx, c.as(u), "user.register", u.Login, nil)
	return StatusRegistered, nil
}

// pendingRegistration is what a registration code keeps until it is used: the login and the
// password's hash (the address is the code's).
type pendingRegistration struct {
	Login string `json:"login"`
	Hash  string `json:"hash,omitempty"`
	// Passkey: the account exists already, made with a passkey; the code confirms its address.
	Passkey bool `json:"passkey,omitempty"`
}

// checkAccountFree refuses a login or address ("" skips it) that an account has already.
func (s *Service) checkAccountFree(ctx context.Context, login, email string) error {
	if login != "" {
		if _, err := s.st.GetUserByLogin(ctx, login); err == nil {
			return fault.Conflictf("the login %q is taken", login)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if email == "" {
		return nil
	}
	if _, err := s.st.GetUserByEmail(ctx, email); err == nil {
		return fault.Conflictf("an account with the address %q exists already", email)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// Recovery is user.recovery: without Code it mails a code if the address has a local account (the
// answer is the same either way, so it tells nobody which addresses have accounts); with the code it
// sets the new password and revokes every token of the account.
type Recovery struct {
	Email, Password, Code string
}

// Recover is both steps of a recovery.
func (s *Service) Recover(ctx context.Context, c Caller, r Recovery) (string, error) {
	if s.o.Features.DisableRecovery {
		return "", errFeatureOff("password recovery")
	}
	if r.Code == "" {
		u, err := s.st.GetUserByEmail(ctx, r.Email)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && (u.Provider != store.ProviderLocal || u.Disabled):
			return StatusCodeSentIfAccount, nil
		case err != nil:
			return "", err
		}
		err = s.auth.IssueCode(ctx, auth.CodeRecovery, u.ID, u.Email, "", "Your deskhub recovery code",
			"Someone (hopefully you) asked to set a new password for the deskhub account \""+u.Login+"\".")
		if err != nil {
			return "", err
		}
		return StatusCodeSentIfAccount, nil
	}
	if r.Password == "" && r.Email == "" {
		// ui-vmm's panel checks the code on its own before it asks for the new password: the code is
		// checked, not used.
		err := s.st.InTx(ctx, func(tx store.Store) error {
			if _, err := s.auth.ConsumeCode(ctx, tx, auth.CodeRecovery, r.Code); err != nil {
				return err
			}
			return errCheckOnly
		})
		if !errors.Is(err, errCheckOnly) {
			return "", err
		}
		return StatusCodeValid, nil
	}
	if err := checkNewPassword(r.Password); err != nil {
		return "", err
	}
	hash, err := auth.HashPassword(r.Password)
	if err != nil {
		return "", err
	}
	var u store.User
	err = s.st.InTx(ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(ctx, tx, auth.CodeRecovery, r.Code)
		if err != nil {
			return err
		}
		if r.Email != "" && code.Email != r.Email {
			return fault.Invalidf("user_code", "this code was sent to another address")
		}
		if u, err = tx.GetUser(ctx, code.UserID); err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(ctx, &u); err != nil {
			return err
		}
		_, err = tx.RevokeUserTokens(ctx, u.ID, "", 0, time.Now())
		return err
	})
	if err != nil {
		return "", err
	}
	s.kick()
	s.auth.Throttle().Succeed(u.Login, "")
	s.Audit(ctx, c.as(u), "user.recovery", u.Login, nil)
	return StatusPasswordSet, nil
}

// ChangeEmail is user.emailChange: without code it mails a code to the new address; with it, it
// changes the caller's address.
func (s *Service) ChangeEmail(ctx context.Context, c Caller, email, code string) (string, error) {
	if err := badMember("user_email", auth.CheckEmail(email)); err != nil {
		return "", err
	}
	u, err := s.User(ctx, c)
	if err != nil {
		return "", err
	}
	if u.Email == email {
		return "", fault.Invalidf("user_email", "this is your address already")
	}
	if code == "" {
		if err := s.checkAccountFree(ctx, "", email); err != nil {
			return "", err
		}
		err := s.auth.IssueCode(ctx, auth.CodeEmail, u.ID, email, "", "Confirm your new deskhub address",
			"Someone (hopefully you) asked to use this address for the deskhub account \""+u.Login+"\".")
		if err != nil {
			return "", err
		}
		return StatusCodeSent, nil
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		got, err := s.auth.ConsumeCode(ctx, tx, auth.CodeEmail, code)
		if err != nil {
			return err
		}
		if got.UserID != u.ID || got.Email != email {
			return fault.Invalidf("user_code", "this code was sent for another account or address")
		}
		u.Email = email
		if err := tx.UpdateUser(ctx, &u); errors.Is(err, store.ErrConflict) {
			return fault.Conflictf("an account with the address %q exists already", email)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	s.Audit(ctx, c.as(u), "user.emailChange", email, nil)
	return StatusEmailChanged, nil
}

// ChangePassword sets the caller's new password unless changes are locked; the caller's other login
// tokens are revoked.
func (s *Service) ChangePassword(ctx context.Context, c Caller, password string) error {
	u, err := s.User(ctx, c)
	if err != nil {
		return err
	}
	if u.Provider != store.ProviderLocal {
		return fault.Conflictf("this account's password lives on its host (provider %s); change it there", u.Provider)
	}
	if u.PasswordLocked {
		return fault.New(fault.Forbidden,
			"password changes are locked on this account: unlock them with user.passwordLock (a code is mailed), or use user.recovery")
	}
	if err := checkNewPassword(password); err != nil {
		return err
	}
	if u.PasswordHash, err = auth.HashPassword(password); err != nil {
		return err
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		if err := tx.UpdateUser(ctx, &u); err != nil {
			return err
		}
		_, err := tx.RevokeUserTokens(ctx, u.ID, store.TokenUserLogin, c.TokenID, time.Now())
		return err
	})
	if err != nil {
		return err
	}
	s.kick()
	s.Audit(ctx, c.as(u), "user.passwordChange", u.Login, nil)
	return nil
}

// LockPassword is user.passwordLock: without code it mails a code to the caller's address (codeSent);
// with it, it locks or unlocks password changes. It answers the account either way.
func (s *Service) LockPassword(ctx context.Context, c Caller, locked bool, code string) (u store.User, codeSent bool, err error) {
	if u, err = s.User(ctx, c); err != nil {
		return u, false, err
	}
	if code == "" {
		if u.Email == "" {
			return u, false, fault.Conflictf("this account has no mail address to send the code to")
		}
		verb := "unlock"
		if locked {
			verb = "lock"
		}
		data, _ := json.Marshal(map[string]bool{"locked": locked})
		if err := s.auth.IssueCode(ctx, auth.CodePasswordLock, u.ID, u.Email, string(data), "Your deskhub code to "+verb+" password changes",
			"Someone (hopefully you) asked to "+verb+" password changes of the deskhub account \""+u.Login+"\"."); err != nil {
			return u, false, err
		}
		return u, true, nil
	}
	err = s.st.InTx(ctx, func(tx store.Store) error {
		got, err := s.auth.ConsumeCode(ctx, tx, auth.CodePasswordLock, code)
		if err != nil {
			return err
		}
		var data struct{ Locked bool }
		_ = json.Unmarshal([]byte(got.Data), &data)
		if got.UserID != u.ID || data.Locked != locked {
			return fault.Invalidf("user_code", "this code was sent for another account or the opposite change")
		}
		u.PasswordLocked = locked
		return tx.UpdateUser(ctx, &u)
	})
	if err != nil {
		return u, false, err
	}
	s.Audit(ctx, c.as(u), "user.passwordLock", u.Login, map[string]any{"locked": u.PasswordLocked})
	return u, false, nil
}

// Issued is a token just made: its row and its secret, shown only this once.
type Issued struct {
	User   store.User
	Token  store.Token
	Secret string
}

// Login is user.login: a password login that answers a new login token.
func (s *Service) Login(ctx context.Context, c Caller, login, password string) (Issued, error) {
	u, err := s.auth.CheckLoginPassword(ctx, login, password, c.Remote)
	if err != nil {
		s.Audit(ctx, c.trying(login), "user.login.failed", login, nil)
		return Issued{}, err
	}
	secret, tok, err := s.auth.IssueToken(ctx, nil, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
	if err != nil {
		return Issued{}, err
	}
	s.Audit(ctx, c.as(u), "user.login", tok.Name, nil)
	return Issued{User: u, Token: tok, Secret: secret}, nil
}

// Logout revokes the token the caller came with.
func (s *Service) Logout(ctx context.Context, c Caller) error {
	err := s.st.RevokeToken(ctx, c.TokenID, time.Now())
	s.kick()
	if err == nil {
		s.Audit(ctx, c, "user.logout", c.Login, nil)
	}
	return err
}
