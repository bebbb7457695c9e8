package server

import (
	"encoding/base64"
	"net/http"
	"os/user"
	"strings"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/httpapi"
	"github.com/deskhub/deskhub/internal/store"
)

// The session surface's staged login (/v3/api/user/login…), adapters over internal/account. The
// client sends the stage token of the login in progress back with each next step (Authorization:
// Bearer or X-FASTX-TOKEN).

func (s *Server) knownHostsPath() string {
	if s.cfg.Auth.SSHKnownHosts != "" {
		return s.cfg.Auth.SSHKnownHosts
	}
	return s.cfg.DataDir + "/ssh_known_hosts"
}

// loginOptions configure internal/account's staged login from the configuration.
func (s *Server) loginOptions() account.LoginOptions {
	return account.LoginOptions{Provider: s.cfg.Auth.Provider, ServerID: s.serverID, Hostname: s.hostname,
		SSHAddr: s.cfg.Auth.SSHAddr, SSHKnownHosts: s.knownHostsPath()}
}

// v3Login starts a login.
func (s *Server) v3Login(c *httpapi.Call, r *fastx.LoginRequest) (fastx.LoginStage, error) {
	return s.accounts.StartLogin(c.Ctx, who(c), account.LoginStart{ServerID: r.ServerID, Username: r.Username,
		Password: r.Password, UsePK: r.UsePK})
}

// stageToken is the token of the login in progress a step names.
func stageToken(c *httpapi.Call) string { return bearerToken(c.R, httpapi.Session) }

func (s *Server) v3LoginPassword(c *httpapi.Call, r *fastx.PasswordRequest) (fastx.LoginStage, error) {
	return s.accounts.AnswerPassword(c.Ctx, who(c), stageToken(c), r.Password)
}

func (s *Server) v3LoginKeyboard(c *httpapi.Call, r *fastx.KeyboardInteractiveRequest) (fastx.LoginStage, error) {
	return s.accounts.AnswerKeyboard(c.Ctx, who(c), stageToken(c), r.Answer)
}

func (s *Server) v3LoginPublicKey(c *httpapi.Call, r *fastx.PublicKeyRequest) (fastx.LoginStage, error) {
	return s.accounts.AnswerPublicKey(c.Ctx, who(c), stageToken(c), decodeB64(r.PublicKey))
}

func (s *Server) v3LoginSigned(c *httpapi.Call, r *fastx.SignatureRequest) (fastx.LoginStage, error) {
	return s.accounts.AnswerSignature(c.Ctx, who(c), stageToken(c), decodeB64(r.Signature))
}

func decodeB64(s string) []byte {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b
	}
	b, _ := base64.RawStdEncoding.DecodeString(s)
	return b
}

func (s *Server) v3Profile(c *httpapi.Call, _ *httpapi.Empty) (fastx.Profile, error) {
	u, err := s.currentUser(c)
	if err != nil {
		return fastx.Profile{}, err
	}
	p := fastx.Profile{Token: bearerToken(c.R, httpapi.Session), Login: u.Login, Hostname: s.hostname,
		Provider: u.Provider, Authenticated: true, LoggedIn: true, Groups: []string{}, Email: u.Email}
	if first, last, ok := strings.Cut(u.Name, " "); ok {
		p.FirstName, p.LastName = first, last
	} else {
		p.FirstName = u.Name
	}
	if u.Provider == store.ProviderSSH {
		p.Groups = unixGroups(u.Login)
	} else if u.Admin {
		p.Groups = []string{"deskhub-admin"}
	}
	return p, nil
}

// unixGroups lists the host groups of a Unix user (empty when unknown).
func unixGroups(login string) []string {
	out := []string{}
	uu, err := user.Lookup(login)
	if err != nil {
		return out
	}
	ids, err := uu.GroupIds()
	if err != nil {
		return out
	}
	for _, id := range ids {
		if g, err := user.LookupGroupId(id); err == nil {
			out = append(out, g.Name)
		}
	}
	return out
}

func (s *Server) v3Logout(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	clearSessionCookie(c.W, c.R)
	return fastx.Null{}, s.accounts.Logout(c.Ctx, who(c))
}

func (s *Server) v3Admin(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	if !c.Principal.Admin {
		return fastx.Null{}, httpapi.Errorf(http.StatusForbidden, "%s is not an administrator", c.Principal.Login)
	}
	return fastx.Null{}, nil
}

// v3Keepalive extends a login token to a full login lifetime from now (API tokens keep their expiry).
func (s *Server) v3Keepalive(c *httpapi.Call, _ *httpapi.Empty) (fastx.Null, error) {
	return fastx.Null{}, s.accounts.Keepalive(c.Ctx, bearerToken(c.R, httpapi.Session))
}
