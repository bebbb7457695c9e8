package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// authenticator reads the credentials of a request (the HTTP side of auth.Service.Verify).
type authenticator struct{ auth *auth.Service }

// bearerToken returns the token a request carries: Authorization: Bearer, or X-FASTX-TOKEN on the
// session surface.
func bearerToken(r *http.Request, surface httpapi.Surface) string {
	if h := r.Header.Get("Authorization"); h != "" {
		if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if surface == httpapi.Session {
		return strings.TrimSpace(r.Header.Get("X-FASTX-TOKEN"))
	}
	return ""
}

// Authenticate implements httpapi.Authenticator.
func (a authenticator) Authenticate(ctx context.Context, r *http.Request, surface httpapi.Surface) (*httpapi.Principal, error) {
	secret := bearerToken(r, surface)
	if secret == "" {
		if r.Header.Get("Authorization") != "" {
			return nil, httpapi.Errorf(http.StatusUnauthorized, "the Authorization header must be \"Bearer <token>\"")
		}
		return nil, nil
	}
	tok, u, err := a.auth.Verify(ctx, secret)
	if err != nil {
		return nil, err
	}
	return &httpapi.Principal{UserID: u.ID, Login: u.Login, Admin: u.Admin, TokenID: tok.ID, Account: u}, nil
}
