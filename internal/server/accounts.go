package server

import (
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/deskhub/deskhub/api/jsonapi"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
)

// The infrastructure surface's account calls: user.*, token.*, ssh-key.* (WebAuthn in webauthn.go),
// adapters over internal/account.

func userResource(u store.User) jsonapi.Resource[vmm.UserAttributes] {
	group := vmm.GroupUser
	if u.Admin {
		group = vmm.GroupAdmin
	}
	return jsonapi.Resource[vmm.UserAttributes]{Type: vmm.TypeUser, ID: strconv.FormatInt(u.ID, 10),
		Attributes: vmm.UserAttributes{UserID: u.ID, Login: u.Login, Email: u.Email, Group: group, PasswordLocked: u.PasswordLocked,
			UserLogin: u.Login, UserEmail: u.Email, UserName: u.Name, UserAdmin: u.Admin,
			UserPasswordLocked: u.PasswordLocked, UserProvider: u.Provider, UserCreatedAt: u.CreatedAt}}
}

func asAny[A any](r jsonapi.Resource[A]) jsonapi.Resource[any] {
	return jsonapi.Resource[any]{Type: r.Type, ID: r.ID, Attributes: r.Attributes, Relationships: r.Relationships}
}

func tokenResource(t store.Token, now time.Time, secret string) jsonapi.Resource[vmm.TokenAttributes] {
	a := vmm.TokenAttributes{TokenID: t.ID, UserID: t.UserID, TokenName: t.Name, TokenType: t.Type,
		TokenStatus: auth.TokenState(t, now), TokenStart: t.CreatedAt, TokenExpire: t.ExpiresAt, Token: secret,
		TokenTimeStart: t.CreatedAt.Unix(), TokenTimeExpire: t.ExpiresAt.Unix()}
	if a.TokenStatus == vmm.TokenStateActive {
		a.TokenState = 1
	}
	if !t.RevokedAt.IsZero() {
		r := t.RevokedAt
		a.TokenRevoked = &r
		a.RevokeTime = r.Unix()
	}
	return jsonapi.Resource[vmm.TokenAttributes]{Type: vmm.TypeToken, ID: t.Name, Attributes: a,
		Relationships: map[string]jsonapi.Relationship{"user": {Data: jsonapi.Identifier{Type: vmm.TypeUser, ID: strconv.FormatInt(t.UserID, 10)}}}}
}

func sshKeyResource(k store.SSHKey) jsonapi.Resource[vmm.SSHKeyAttributes] {
	return jsonapi.Resource[vmm.SSHKeyAttributes]{Type: vmm.TypeSSHKey, ID: strconv.FormatInt(k.ID, 10),
		Attributes: vmm.SSHKeyAttributes{KeyID: k.ID, KeyName: k.Name, KeyPublic: k.PublicKey,
			KeyFingerprint: k.Fingerprint, KeyCreatedAt: k.CreatedAt, KeyTimeAdd: k.CreatedAt.Unix(), KeyType: "ssh"}}
}

// ack acknowledges a call about the resource typ/id ("" id: none to name) with a status.
func ack(typ, id, status string) jsonapi.Meta {
	return jsonapi.Ack(typ, id, map[string]any{"status": status})
}

// userID is the id of the caller's account as resources carry it ("" for none).
func userID(c *httpapi.Call) string {
	if c.Principal == nil {
		return ""
	}
	return strconv.FormatInt(c.Principal.UserID, 10)
}

// remoteAddr is the client's address without the port (the key for per-address throttling).
func remoteAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// who is the caller of a request as the services know it: the authenticated account, if any, and the
// client's address.
func who(c *httpapi.Call) account.Caller {
	w := account.Caller{Remote: remoteAddr(c.R)}
	if p := c.Principal; p != nil {
		w.UserID, w.Login, w.Admin, w.TokenID = p.UserID, p.Login, p.Admin, p.TokenID
	}
	return w
}

// currentUser is the caller's account: as authentication read it for this request, else from the
// store.
func (s *Server) currentUser(c *httpapi.Call) (store.User, error) {
	if p := c.Principal; p != nil {
		if u, ok := p.Account.(store.User); ok && u.ID == p.UserID {
			return u, nil
		}
	}
	return s.accounts.User(c.Ctx, who(c))
}

func errForbiddenFeature(what string) error {
	return fault.New(fault.Forbidden, "%s is disabled on this server", what)
}

// audit records a security event done by the request's caller.
func (s *Server) audit(c *httpapi.Call, action, target string, detail map[string]any) {
	s.accounts.Audit(c.Ctx, who(c), action, target, detail)
}

func (s *Server) userRegister(c *httpapi.Call, r *vmm.UserRegisterRequest) (jsonapi.Meta, error) {
	status, err := s.accounts.Register(c.Ctx, who(c), account.Registration{Login: r.UserLogin, Email: r.UserEmail,
		Password: r.UserPassword, Code: r.UserCode})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeUser, "", status), nil
}

func (s *Server) userRecovery(c *httpapi.Call, r *vmm.UserRecoveryRequest) (jsonapi.Meta, error) {
	status, err := s.accounts.Recover(c.Ctx, who(c), account.Recovery{Email: r.UserEmail, Password: r.UserPassword, Code: r.UserCode})
	if err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeUser, "", status), nil
}

func (s *Server) userEmailChange(c *httpapi.Call, r *vmm.UserEmailChangeRequest) (jsonapi.Meta, error) {
	status, err := s.accounts.ChangeEmail(c.Ctx, who(c), r.UserEmail, r.UserCode)
	if err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeUser, userID(c), status), nil
}

func (s *Server) userPasswordChange(c *httpapi.Call, r *vmm.UserPasswordChangeRequest) (jsonapi.Meta, error) {
	if err := s.accounts.ChangePassword(c.Ctx, who(c), r.UserPassword); err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeUser, userID(c), account.StatusPasswordChanged), nil
}

func (s *Server) userPasswordLock(c *httpapi.Call, r *vmm.UserPasswordLockRequest) (jsonapi.One[vmm.UserAttributes], error) {
	u, sent, err := s.accounts.LockPassword(c.Ctx, who(c), r.UserPasswordLocked, r.UserCode)
	if err != nil {
		return jsonapi.One[vmm.UserAttributes]{}, err
	}
	doc := jsonapi.One[vmm.UserAttributes]{Data: userResource(u)}
	if sent {
		doc.Meta = map[string]any{"status": account.StatusCodeSent}
	}
	return doc, nil
}

// loginAnswer is the document user.login and user.assertionVerify answer: the new token, with the user
// in included.
// The data is a "login" whose id is the user's (ui-vmm's panel finds the user in included by the
// data's id) and whose attributes are the token's.
func loginAnswer(in account.Issued, now time.Time) jsonapi.One[vmm.TokenAttributes] {
	tok := tokenResource(in.Token, now, in.Secret)
	tok.Type, tok.ID = vmm.TypeLogin, strconv.FormatInt(in.User.ID, 10)
	return jsonapi.One[vmm.TokenAttributes]{Data: tok, Included: []jsonapi.Resource[any]{asAny(userResource(in.User))}}
}

func (s *Server) userLogin(c *httpapi.Call, r *vmm.UserLoginRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	in, err := s.accounts.Login(c.Ctx, who(c), r.UserLogin, r.UserPassword)
	if err != nil {
		return jsonapi.One[vmm.TokenAttributes]{}, err
	}
	return loginAnswer(in, s.accounts.Now()), nil
}

func (s *Server) userLogout(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Meta, error) {
	clearSessionCookie(c.W, c.R)
	if err := s.accounts.Logout(c.Ctx, who(c)); err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeUser, userID(c), account.StatusLoggedOut), nil
}

// userCookie keeps a token the caller got from a login as the web app's session cookie (authn.go),
// and answers its account.
func (s *Server) userCookie(c *httpapi.Call, r *vmm.UserCookieRequest) (jsonapi.One[vmm.UserAttributes], error) {
	// Another site's page must not log the browser in to an account of its choosing (login CSRF).
	if err := sameOrigin(c.R); err != nil {
		return jsonapi.One[vmm.UserAttributes]{}, err
	}
	tok, u, err := s.auth.Verify(c.Ctx, r.Token)
	if err != nil {
		return jsonapi.One[vmm.UserAttributes]{}, fault.New(fault.Unauthorized, "this token does not stand (expired, revoked or unknown)")
	}
	setSessionCookie(c.W, c.R, r.Token, tok.ExpiresAt)
	return jsonapi.One[vmm.UserAttributes]{Data: userResource(u)}, nil
}

func (s *Server) userGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.One[vmm.UserAttributes], error) {
	u, err := s.currentUser(c)
	if err != nil {
		return jsonapi.One[vmm.UserAttributes]{}, err
	}
	return jsonapi.One[vmm.UserAttributes]{Data: userResource(u)}, nil
}

func (s *Server) tokenCreate(c *httpapi.Call, r *vmm.TokenCreateRequest) (jsonapi.One[vmm.TokenAttributes], error) {
	in, err := s.accounts.CreateToken(c.Ctx, who(c), int64(r.TokenLifetime), r.TokenRevokeAll)
	if err != nil {
		return jsonapi.One[vmm.TokenAttributes]{}, err
	}
	return jsonapi.One[vmm.TokenAttributes]{Data: tokenResource(in.Token, s.accounts.Now(), in.Secret)}, nil
}

func (s *Server) tokenGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.TokenAttributes], error) {
	toks, err := s.accounts.Tokens(c.Ctx, who(c))
	if err != nil {
		return jsonapi.Many[vmm.TokenAttributes]{}, err
	}
	doc := jsonapi.Many[vmm.TokenAttributes]{Data: make([]jsonapi.Resource[vmm.TokenAttributes], 0, len(toks))}
	now := s.accounts.Now()
	for _, t := range toks {
		doc.Data = append(doc.Data, tokenResource(t, now, ""))
	}
	// The user the tokens link to, in included (a list's relationships must resolve there).
	u, err := s.currentUser(c)
	if err != nil {
		return doc, err
	}
	doc.Included = []jsonapi.Resource[any]{asAny(userResource(u))}
	return doc, nil
}

func (s *Server) tokenRevoke(c *httpapi.Call, r *vmm.TokenRevokeRequest) (jsonapi.Meta, error) {
	if err := s.accounts.RevokeToken(c.Ctx, who(c), r.TokenName); err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeToken, r.TokenName, account.StatusRevoked), nil
}

func (s *Server) sshKeyAdd(c *httpapi.Call, r *vmm.SSHKeyAddRequest) (jsonapi.One[vmm.SSHKeyAttributes], error) {
	k, err := s.accounts.AddSSHKey(c.Ctx, who(c), r.KeyName, r.KeyPublic)
	if err != nil {
		return jsonapi.One[vmm.SSHKeyAttributes]{}, err
	}
	return jsonapi.One[vmm.SSHKeyAttributes]{Data: sshKeyResource(k)}, nil
}

func (s *Server) sshKeyGet(c *httpapi.Call, _ *httpapi.Empty) (jsonapi.Many[vmm.SSHKeyAttributes], error) {
	keys, err := s.accounts.SSHKeys(c.Ctx, who(c))
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
	if err := s.accounts.DeleteSSHKey(c.Ctx, who(c), int64(r.KeyID)); err != nil {
		return jsonapi.Meta{}, err
	}
	return ack(vmm.TypeSSHKey, strconv.FormatInt(int64(r.KeyID), 10), account.StatusDeleted), nil
}
