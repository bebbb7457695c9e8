package server

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// SessionCookie is the cookie the web app keeps its login token in (docs/SECURITY.md, "The web app's
// cookie"): HttpOnly (the page's script never reads it), SameSite=Strict (no other site's page makes the
// browser send it), Secure when deskhub serves HTTPS, Path=/. user.cookie sets it; user.logout (both
// surfaces) revokes its token and clears it.
const SessionCookie = "deskhub_session"

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

// cookieToken returns the token of the web app's cookie ("" when none).
func cookieToken(r *http.Request) string {
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(c.Value)
}

// sameOrigin is the CSRF check of cookie-authenticated requests: a request that may change state (any
// method but GET, HEAD and OPTIONS) and every websocket upgrade must carry an Origin header naming this
// very host (browsers send Origin on every cross-origin and same-origin POST, and on every websocket).
// A request with no Origin passes only with the X-Deskhub-Request header, which no other site's page can
// set without a CORS preflight that deskhub would refuse for cookies.
func sameOrigin(r *http.Request) error {
	upgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		if !upgrade {
			return nil
		}
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		if !upgrade && r.Header.Get("X-Deskhub-Request") != "" {
			return nil
		}
		return httpapi.Errorf(http.StatusForbidden, "a request authenticated by the session cookie must come from deskhub's own pages (no Origin header)")
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return httpapi.Errorf(http.StatusForbidden, "a request authenticated by the session cookie must come from deskhub's own pages (Origin %q is not %q)", origin, r.Host)
	}
	return nil
}

// Authenticate implements httpapi.Authenticator. A bearer token (or X-FASTX-TOKEN) wins; without one, the
// web app's cookie authenticates, after the same-origin check. A cookie whose token no longer stands is
// no credential at all (the call runs anonymously, so the login calls still work), while a cookie sent
// from another origin is refused.
func (a authenticator) Authenticate(ctx context.Context, r *http.Request, surface httpapi.Surface) (*httpapi.Principal, error) {
	secret := bearerToken(r, surface)
	fromCookie := false
	if secret == "" {
		if r.Header.Get("Authorization") != "" {
			return nil, httpapi.Errorf(http.StatusUnauthorized, "the Authorization header must be \"Bearer <token>\"")
		}
		if secret = cookieToken(r); secret == "" {
			return nil, nil
		}
		if err := sameOrigin(r); err != nil {
			return nil, err
		}
		fromCookie = true
	}
	tok, u, err := a.auth.Verify(ctx, secret)
	if err != nil {
		if fromCookie {
			return nil, nil
		}
		return nil, err
	}
	return &httpapi.Principal{UserID: u.ID, Login: u.Login, Admin: u.Admin, TokenID: tok.ID, Account: u}, nil
}

// setSessionCookie makes the browser keep secret as the web app's login, until expires (zero: until the
// browser closes).
func setSessionCookie(w http.ResponseWriter, r *http.Request, secret string, expires time.Time) {
	c := &http.Cookie{Name: SessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil}
	if !expires.IsZero() {
		c.Expires = expires
	}
	http.SetCookie(w, c)
}

// clearSessionCookie makes the browser forget the web app's login.
func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}
