package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
)

// The infrastructure surface's account calls: user.*, token.*, ssh-key.* (WebAuthn in webauthn.go).

func userResource(u store.User) jsonapi.Resource[vmm.UserAttributes] {
	return jsonapi.Resource[vmm.UserAttributes]{Type: vmm.TypeUser, ID: strconv.FormatInt(u.ID, 10),
		Attributes: vmm.UserAttributes{UserLogin: u.Login, UserEmail: u.Email, UserName: u.Name, UserAdmin: u.Admin,
			UserPasswordLocked: u.PasswordLocked, UserProvider: u.Provider, UserCreatedAt: u.CreatedAt}}
}

func asAny[A any](r jsonapi.Resource[A]) jsonapi.Resource[any] {
	return jsonapi.Resource[any]{Type: r.Type, ID: r.ID, Attributes: r.Attributes, Relationships: r.Relationships}
}

func tokenResource(t store.Token, now time.Time, secret string) jsonapi.Resource[vmm.TokenAttributes] {
	a := vmm.TokenAttributes{TokenName: t.Name, TokenType: t.Type, TokenState: auth.TokenState(t, now),
		TokenStart: t.CreatedAt, TokenExpire: t.ExpiresAt, Token: secret}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt
		a.TokenRevoked = &r
	}
	return jsonapi.Resource[vmm.TokenAttributes]{Type: vmm.TypeToken, ID: t.Name, Attributes: a,
		Relationships: map[string]jsonapi.Relationship{"user": {Data: jsonapi.Identifier{Type: vmm.TypeUser, ID: strconv.FormatInt(t.UserID, 10)}}}}
}

func sshKeyResource(k store.SSHKey) jsonapi.Resource[vmm.SSHKeyAttributes] {
	return jsonapi.Resource[vmm.SSHKeyAttributes]{Type: vmm.TypeSSHKey, ID: strconv.FormatInt(k.ID, 10),
		Attributes: vmm.SSHKeyAttributes{KeyID: k.ID, KeyName: k.Name, KeyPublic: k.PublicKey,
			KeyFingerprint: k.Fingerprint, KeyCreatedAt: k.CreatedAt}}
}

func ack(status string) jsonapi.Meta { return jsonapi.Meta{Meta: map[string]any{"status": status}} }

// remoteAddr is the client's address without the port (the key for per-address throttling).
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) currentUser(c *httpapi.Call) (store.User, error) {
	return s.store.GetUser(c.Ctx, c.Principal.UserID)
}

var errForbiddenFeature = func(what string) error {
	return httpapi.Errorf(http.StatusForbidden, "%s is disabled on this server", what)
}

// audit records a security event; a failure to record is logged, not fatal.
func (s *Server) audit(ctx context.Context, c *httpapi.Call, userID int64, actor, action, target string, detail map[string]any) {
	e := store.AuditEntry{At: time.Now().UTC(), UserID: userID, Actor: actor, Action: action, Target: target}
	if detail != nil {
		b, _ := json.Marshal(detail)
		e.Detail = string(b)
	}
	if c != nil {
		e.RemoteAddr = remoteAddr(c.R)
	}
	if err := s.store.AppendAudit(ctx, &e); err != nil {
		s.log.Warn("audit log", "action", action, "error", err)
	}
}

func checkNewPassword(pw string) error {
	return badMember("user_password", auth.CheckPassword(pw))
}

// badMember is a 400 about member, or nil when err is nil.
func badMember(member string, err error) error {
	if err == nil {
		return nil
	}
	return httpapi.BadRequest(member, "member %q: %v", member, err)
}

// userRegister: step one (no code) checks everything and mails a code; step two creates the account.
func (s *Server) userRegister(c *httpapi.Call, r *vmm.UserRegisterRequest) (jsonapi.Meta, error) {
	if s.cfg.Features.DisableUserRegistration {
		return jsonapi.Meta{}, errForbiddenFeature("registration")
	}
	if err := badMember("user_login", auth.CheckLogin(r.UserLogin)); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := badMember("user_email", auth.CheckEmail(r.UserEmail)); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := checkNewPassword(r.UserPassword); err != nil {
		return jsonapi.Meta{}, err
	}
	if err := s.checkAccountFree(c.Ctx, r.UserLogin, r.UserEmail); err != nil {
		return jsonapi.Meta{}, err
	}
	if r.UserCode == "" {
		data, _ := json.Marshal(map[string]string{"login": r.UserLogin})
		err := s.auth.IssueCode(c.Ctx, auth.CodeRegister, 0, r.UserEmail, string(data), "Your deskhub registration code",
			"Someone (hopefully you) asked to create the deskhub account \""+r.UserLogin+"\" with this address.")
		if err != nil {
			return jsonapi.Meta{}, err
		}
		return ack("code_sent"), nil
	}
	u, err := auth.NewLocalUser(r.UserLogin, r.UserEmail, r.UserPassword, false)
	if err != nil {
		return jsonapi.Meta{}, httpapi.BadRequest("", "%s", err)
	}
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(c.Ctx, tx, auth.CodeRegister, r.UserCode)
		if err != nil {
			return err
		}
		var data struct{ Login string }
		_ = json.Unmarshal([]byte(code.Data), &data)
		if code.Email != r.UserEmail || data.Login != r.UserLogin {
			return httpapi.BadRequest("user_code", "this code was sent for another login or address")
		}
		if err := tx.CreateUser(c.Ctx, &u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return httpapi.Errorf(http.StatusConflict, "the login or the address was taken meanwhile")
			}
			return err
		}
		return nil
	})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "user.register", u.Login, nil)
	return ack("registered"), nil
}

// checkAccountFree refuses a login or address ("" skips it) that an account has already.
func (s *Server) checkAccountFree(ctx context.Context, login, email string) error {
	if login != "" {
		if _, err := s.store.GetUserByLogin(ctx, login); err == nil {
			return httpapi.Errorf(http.StatusConflict, "the login %q is taken", login)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if email == "" {
		return nil
	}
	if _, err := s.store.GetUserByEmail(ctx, email); err == nil {
		return httpapi.Errorf(http.StatusConflict, "an account with the address %q exists already", email)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// userRecovery: step one mails a code if the address has a local account (the answer is the same
// either way, so it tells nobody which addresses have accounts); step two sets the new password and
// revokes every token of the account.
func (s *Server) userRecovery(c *httpapi.Call, r *vmm.UserRecoveryRequest) (jsonapi.Meta, error) {
	if s.cfg.Features.DisableUserRecovery {
		return jsonapi.Meta{}, errForbiddenFeature("password recovery")
	}
	if r.UserCode == "" {
		u, err := s.store.GetUserByEmail(c.Ctx, r.UserEmail)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && (u.Provider != "local" || u.Disabled):
			return ack("code_sent_if_account_exists"), nil
		case err != nil:
			return jsonapi.Meta{}, err
		}
		err = s.auth.IssueCode(c.Ctx, auth.CodeRecovery, u.ID, u.Email, "", "Your deskhub recovery code",
			"Someone (hopefully you) asked to set a new password for the deskhub account \""+u.Login+"\".")
		if err != nil {
			return jsonapi.Meta{}, err
		}
		return ack("code_sent_if_account_exists"), nil
	}
	if err := checkNewPassword(r.UserPassword); err != nil {
		return jsonapi.Meta{}, err
	}
	hash, err := auth.HashPassword(r.UserPassword)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	var u store.User
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(c.Ctx, tx, auth.CodeRecovery, r.UserCode)
		if err != nil {
			return err
		}
		if code.Email != r.UserEmail {
			return httpapi.BadRequest("user_code", "this code was sent to another address")
		}
		if u, err = tx.GetUser(c.Ctx, code.UserID); err != nil {
			return err
		}
		u.PasswordHash = hash
		if err := tx.UpdateUser(c.Ctx, &u); err != nil {
			return err
		}
		_, err = tx.RevokeUserTokens(c.Ctx, u.ID, "", 0, time.Now())
		return err
	})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	s.revoke.Kick()
	s.auth.Throttle().Succeed(u.Login, "")
	s.audit(c.Ctx, c, u.ID, u.Login, "user.recovery", u.Login, nil)
	return ack("password_set"), nil
}

// userEmailChange: step one mails a code to the new address; step two changes it.
func (s *Server) userEmailChange(c *httpapi.Call, r *vmm.UserEmailChangeRequest) (jsonapi.Meta, error) {
	if err := badMember("user_email", auth.CheckEmail(r.UserEmail)); err != nil {
		return jsonapi.Meta{}, err
	}
	u, err := s.currentUser(c)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	if u.Email == r.UserEmail {
		return jsonapi.Meta{}, httpapi.BadRequest("user_email", "this is your address already")
	}
	if r.UserCode == "" {
		if err := s.checkAccountFree(c.Ctx, "", r.UserEmail); err != nil {
			return jsonapi.Meta{}, err
		}
		err := s.auth.IssueCode(c.Ctx, auth.CodeEmail, u.ID, r.UserEmail, "", "Confirm your new deskhub address",
			"Someone (hopefully you) asked to use this address for the deskhub account \""+u.Login+"\".")
		if err != nil {
			return jsonapi.Meta{}, err
		}
		return ack("code_sent"), nil
	}
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(c.Ctx, tx, auth.CodeEmail, r.UserCode)
		if err != nil {
			return err
		}
		if code.UserID != u.ID || code.Email != r.UserEmail {
			return httpapi.BadRequest("user_code", "this code was sent for another account or address")
		}
		u.Email = r.UserEmail
		if err := tx.UpdateUser(c.Ctx, &u); errors.Is(err, store.ErrConflict) {
			return httpapi.Errorf(http.StatusConflict, "an account with the address %q exists already", r.UserEmail)
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "user.emailChange", r.UserEmail, nil)
	return ack("email_changed"), nil
}

// userPasswordChange sets a new password unless changes are locked; other login tokens are revoked.
func (s *Server) userPasswordChange(c *httpapi.Call, r *vmm.UserPasswordChangeRequest) (jsonapi.Meta, error) {
	u, err := s.currentUser(c)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	if u.Provider != "local" {
		return jsonapi.Meta{}, httpapi.Errorf(http.StatusConflict, "this account's password lives on its host (provider %s); change it there", u.Provider)
	}
	if u.PasswordLocked {
		return jsonapi.Meta{}, httpapi.Errorf(http.StatusForbidden,
			"password changes are locked on this account: unlock them with user.passwordLock (a code is mailed), or use user.recovery")
	}
	if err := checkNewPassword(r.UserPassword); err != nil {
		return jsonapi.Meta{}, err
	}
	if u.PasswordHash, err = auth.HashPassword(r.UserPassword); err != nil {
		return jsonapi.Meta{}, err
	}
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		if err := tx.UpdateUser(c.Ctx, &u); err != nil {
			return err
		}
		_, err := tx.RevokeUserTokens(c.Ctx, u.ID, store.TokenUserLogin, c.Principal.TokenID, time.Now())
		return err
	})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	s.revoke.Kick()
	s.audit(c.Ctx, c, u.ID, u.Login, "user.passwordChange", u.Login, nil)
	return ack("password_changed"), nil
}

// userPasswordLock: step one mails a code to the account's address; step two locks or unlocks.
func (s *Server) userPasswordLock(c *httpapi.Call, r *vmm.UserPasswordLockRequest) (jsonapi.One[vmm.UserAttributes], error) {
	var none jsonapi.One[vmm.UserAttributes]
	u, err := s.currentUser(c)
	if err != nil {
		return none, err
	}
	if r.UserCode == "" {
		if u.Email == "" {
			return none, httpapi.Errorf(http.StatusConflict, "this account has no mail address to send the code to")
		}
		verb := "unlock"
		if r.UserPasswordLocked {
			verb = "lock"
		}
		data, _ := json.Marshal(map[string]bool{"locked": r.UserPasswordLocked})
		if err := s.auth.IssueCode(c.Ctx, auth.CodePasswordLock, u.ID, u.Email, string(data), "Your deskhub code to "+verb+" password changes",
			"Someone (hopefully you) asked to "+verb+" password changes of the deskhub account \""+u.Login+"\"."); err != nil {
			return none, err
		}
		doc := jsonapi.One[vmm.UserAttributes]{Data: userResource(u), Meta: map[string]any{"status": "code_sent"}}
		return doc, nil
	}
	err = s.store.InTx(c.Ctx, func(tx store.Store) error {
		code, err := s.auth.ConsumeCode(c.Ctx, tx, auth.CodePasswordLock, r.UserCode)
		if err != nil {
			return err
		}
		var data struct{ Locked bool }
		_ = json.Unmarshal([]byte(code.Data), &data)
		if code.UserID != u.ID || data.Locked != r.UserPasswordLocked {
			return httpapi.BadRequest("user_code", "this code was sent for another account or the opposite change")
		}
		u.PasswordLocked = r.UserPasswordLocked
		return tx.UpdateUser(c.Ctx, &u)
	})
	if err != nil {
		return none, err
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "user.passwordLock", u.Login, map[string]any{"locked": u.PasswordLocked})
	return jsonapi.One[vmm.UserAttributes]{Data: userResource(u)}, nil
}

// loginAnswer is the document user.login and user.assertionVerify answer: the new token, with the user
// in included.
func loginAnswer(u store.User, tok store.Token, secret string, now time.Time) jsonapi.One[vmm.TokenAttributes] {
	return jsonapi.One[vmm.TokenAttributes]{Data: tokenResource(tok, now, secret),
		Included: []jsonapi.Resource[any]{asAny(userResource(u))}}
}

func (s *Server) userLogin(c *httpapi.Call, r *vmm.UserLoginRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	u, err := s.auth.CheckLoginPassword(c.Ctx, r.UserLogin, r.UserPassword, remoteAddr(c.R))
	if err != nil {
		s.audit(c.Ctx, c, 0, r.UserLogin, "user.login.failed", r.UserLogin, nil)
		return jsonapi.One[vmm.TokenAttributes]{}, err
	}
	secret, tok, err := s.auth.IssueToken(c.Ctx, nil, u.ID, store.TokenUserLogin, s.auth.Options().LoginTTL)
	if err != nil {
		return jsonapi.One[vmm.TokenAttributes]{}, err
	}
	s.audit(c.Ctx, c, u.ID, u.Login, "user.login", tok.Name, nil)
	return loginAnswer(u, tok, secret, s.auth.Now()), nil
}

func (s *Server) userLogout(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Meta, error) {
	if err := s.store.RevokeToken(c.Ctx, c.Principal.TokenID, time.Now()); err != nil {
		return jsonapi.Meta{}, err
	}
	s.revoke.Kick()
	return ack("logged_out"), nil
}

func (s *Server) userGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.One[vmm.UserAttributes], error) {
	u, err := s.currentUser(c)
	if err != nil {
		return jsonapi.One[vmm.UserAttributes]{}, err
	}
	return jsonapi.One[vmm.UserAttributes]{Data: userResource(u)}, nil
}

func (s *Server) tokenCreate(c *httpapi.Call, r *vmm.TokenCreateRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	var none jsonapi.One[vmm.TokenAttributes]
	maxLife := s.auth.Options().MaxTokenLifetime
	if time.Duration(r.TokenLifetime)*time.Second > maxLife || r.TokenLifetime > int64(maxLife/time.Second) {
		return none, httpapi.BadRequest("token_lifetime", "member \"token_lifetime\" must be at most %d seconds (%s)",
			int64(maxLife/time.Second), maxLife)
	}
	var secret string
	var tok store.Token
	err := s.store.InTx(c.Ctx, func(tx store.Store) error {
		var err error
		if secret, tok, err = s.auth.IssueToken(c.Ctx, tx, c.Principal.UserID, store.TokenSystemAPI, time.Duration(r.TokenLifetime)*time.Second); err != nil {
			return err
		}
		if r.TokenRevokeAll {
			_, err = tx.RevokeUserTokens(c.Ctx, c.Principal.UserID, store.TokenSystemAPI, tok.ID, time.Now())
		}
		return err
	})
	if err != nil {
		return none, err
	}
	s.revoke.Kick()
	s.audit(c.Ctx, c, c.Principal.UserID, c.Principal.Login, "token.create", tok.Name, map[string]any{"revoke_all": r.TokenRevokeAll})
	return jsonapi.One[vmm.TokenAttributes]{Data: tokenResource(tok, s.auth.Now(), secret)}, nil
}

func (s *Server) tokenGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.TokenAttributes], error) {
	toks, err := s.store.ListTokens(c.Ctx, c.Principal.UserID)
	if err != nil {
		return jsonapi.Many[vmm.TokenAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.TokenAttributes]{Data: make([]jsonapi.Resource[vmm.TokenAttributes], 0, len(toks))}
	now := s.auth.Now()
	for _, t := range toks {
		doc.Data = append(doc.Data, tokenResource(t, now, ""))
	}
	return doc, nil
}

func (s *Server) tokenRevoke(c *httpapi.Call, r *vmm.TokenRevokeRequest) (jsonapi.Meta, error) {
	tok, err := s.store.GetTokenByName(c.Ctx, c.Principal.UserID, r.TokenName)
	if errors.Is(err, store.ErrNotFound) {
		return jsonapi.Meta{}, httpapi.NotFound("no token named %q", r.TokenName)
	} else if err != nil {
		return jsonapi.Meta{}, err
	}
	if err := s.store.RevokeToken(c.Ctx, tok.ID, time.Now()); err != nil {
		return jsonapi.Meta{}, err
	}
	s.revoke.Kick()
	s.audit(c.Ctx, c, c.Principal.UserID, c.Principal.Login, "token.revoke", tok.Name, nil)
	return ack("revoked"), nil
}

// Bounds of SSH keys.
const (
	maxKeyName   = 128
	maxKeyPublic = 16 << 10
)

// ParseAuthorizedKey checks one authorized_keys line and returns it normalised with its SHA256
// fingerprint.
func ParseAuthorizedKey(line string) (normalised, fingerprint string, err error) {
	line = strings.TrimSpace(line)
	if len(line) > maxKeyPublic {
		return "", "", httpapi.BadRequest("key_public", "member \"key_public\" is longer than %d bytes", maxKeyPublic)
	}
	if strings.ContainsAny(line, "\r\n") {
		return "", "", httpapi.BadRequest("key_public", "member \"key_public\" must be one authorized_keys line")
	}
	pub, comment, options, rest, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return "", "", httpapi.BadRequest("key_public", "member \"key_public\" is not an SSH public key in authorized_keys format: %v", err)
	}
	if len(options) > 0 || len(rest) > 0 {
		return "", "", httpapi.BadRequest("key_public", "member \"key_public\" must be a bare key (type, base64, comment) without options")
	}
	normalised = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		normalised += " " + comment
	}
	return normalised, ssh.FingerprintSHA256(pub), nil
}

func (s *Server) sshKeyAdd(c *httpapi.Call, r *vmm.SSHKeyAddRequest) (jsonapi.One[vmm.SSHKeyAttributes], error) {
	var none jsonapi.One[vmm.SSHKeyAttributes]
	if s.cfg.Features.DisableSSHKeyAdd {
		return none, errForbiddenFeature("adding SSH keys")
	}
	if len(r.KeyName) > maxKeyName {
		return none, httpapi.BadRequest("key_name", "member \"key_name\" is longer than %d bytes", maxKeyName)
	}
	line, fp, err := ParseAuthorizedKey(r.KeyPublic)
	if err != nil {
		return none, err
	}
	k := store.SSHKey{UserID: c.Principal.UserID, Name: strings.TrimSpace(r.KeyName), PublicKey: line, Fingerprint: fp}
	if err := s.store.CreateSSHKey(c.Ctx, &k); errors.Is(err, store.ErrConflict) {
		return none, httpapi.Errorf(http.StatusConflict, "this key is added already (fingerprint %s)", fp)
	} else if err != nil {
		return none, err
	}
	s.audit(c.Ctx, c, c.Principal.UserID, c.Principal.Login, "ssh-key.add", fp, nil)
	return jsonapi.One[vmm.SSHKeyAttributes]{Data: sshKeyResource(k)}, nil
}

func (s *Server) sshKeyGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.SSHKeyAttributes], error) {
	keys, err := s.store.ListSSHKeys(c.Ctx, c.Principal.UserID)
	if err != nil {
		return jsonapi.Many[vmm.SSHKeyAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.SSHKeyAttributes]{Data: make([]jsonapi.Resource[vmm.SSHKeyAttributes], 0, len(keys))}
	for _, k := range keys {
		doc.Data = append(doc.Data, sshKeyResource(k))
	}
	return doc, nil
}

func (s *Server) sshKeyDelete(c *httpapi.Call, r *vmm.SSHKeyDeleteRequest) (jsonapi.Meta, error) {
	if err := s.store.DeleteSSHKey(c.Ctx, c.Principal.UserID, r.KeyID); errors.Is(err, store.ErrNotFound) {
		return jsonapi.Meta{}, httpapi.NotFound("no SSH key with id %d", r.KeyID)
	} else if err != nil {
		return jsonapi.Meta{}, err
	}
	s.audit(c.Ctx, c, c.Principal.UserID, c.Principal.Login, "ssh-key.delete", strconv.FormatInt(r.KeyID, 10), nil)
	return ack("deleted"), nil
}
