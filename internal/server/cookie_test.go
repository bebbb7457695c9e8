package server

import (
	"net/http"
	"strings"
	"testing"
)

// TestSessionCookie: user.cookie keeps a login's token as the web app's cookie (HttpOnly,
// SameSite=Strict, Path=/), the cookie authenticates the infrastructure, session and agent surfaces'
// calls from deskhub's own origin, a cookie request from another origin (or, for a state-changing call,
// with neither Origin nor X-Deskhub-Request) is refused, a cookie whose token was revoked is no
// credential (public calls still run), user.cookie itself is refused from another origin (login CSRF),
// and user.logout clears the cookie.
func TestSessionCookie(t *testing.T) {
	h := newHarness(t)
	tok := h.user("cookie", false)

	h.call("POST", "/api/v1/user.cookie", "", `{"token":"not-a-token"}`, "X-Deskhub-Request", "1").wantErr(t, 401, "does not stand")
	// Login CSRF: another site's page cannot set the cookie.
	h.call("POST", "/api/v1/user.cookie", "", map[string]string{"token": tok}, "Origin", "http://evil.example").wantErr(t, 403, "Origin")
	h.call("POST", "/api/v1/user.cookie", "", map[string]string{"token": tok}).wantErr(t, 403, "no Origin")
	r := h.call("POST", "/api/v1/user.cookie", "", map[string]string{"token": tok}, "Origin", "http://example.com").want(t, 200)
	if r.str("data", "attributes", "user_login") != "cookie" {
		t.Errorf("user.cookie answered %s", r.Raw)
	}
	set := r.Header.Get("Set-Cookie")
	for _, want := range []string{SessionCookie + "=" + tok, "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if strings.Contains(set, "Secure") {
		t.Errorf("Set-Cookie %q: Secure over plain HTTP would make the browser drop it", set)
	}
	cookie := SessionCookie + "=" + tok
	own := "http://example.com" // httptest's Host

	h.call("POST", "/api/v1/user.get", "", "{}", "Cookie", cookie, "Origin", own).want(t, 200)
	h.call("POST", "/v3/api/session/list", "", "{}", "Cookie", cookie, "Origin", own).want(t, 200)
	h.call("POST", "/v3/api/user/profile", "", "{}", "Cookie", cookie, "X-Deskhub-Request", "1").want(t, 200)
	// The agent surface: the cookie gets past authentication (an unknown session is 404, not 401).
	if st := h.call("GET", "/spawner/nosuch/version", "", nil, "Cookie", cookie).Status; st == http.StatusUnauthorized || st == http.StatusForbidden {
		t.Errorf("agent surface with the cookie: HTTP %d", st)
	}

	// CSRF: another origin, or no Origin and no custom header on a POST, is refused.
	h.call("POST", "/api/v1/user.get", "", "{}", "Cookie", cookie, "Origin", "http://evil.example").wantErr(t, 403, "Origin")
	h.call("POST", "/v3/api/session/list", "", "{}", "Cookie", cookie).wantErr(t, 403, "no Origin")
	// A websocket upgrade needs the Origin even though it is a GET.
	h.call("GET", "/spawner/nosuch/events", "", nil, "Cookie", cookie, "Upgrade", "websocket", "Connection", "Upgrade",
		"Origin", "http://evil.example").wantErr(t, 403, "Origin")
	// A bearer token wins over the cookie and needs no Origin.
	h.call("POST", "/api/v1/user.get", tok, "{}", "Cookie", SessionCookie+"=garbage").want(t, 200)

	// Logout clears the cookie and revokes its token: the cookie then authenticates nothing, and public
	// calls still run with it.
	out := h.call("POST", "/api/v1/user.logout", "", "{}", "Cookie", cookie, "Origin", own).want(t, 200)
	if c := out.Header.Get("Set-Cookie"); !strings.Contains(c, SessionCookie+"=;") || !strings.Contains(c, "Max-Age=0") {
		t.Errorf("user.logout Set-Cookie %q does not clear the cookie", c)
	}
	h.call("POST", "/api/v1/user.get", "", "{}", "Cookie", cookie, "Origin", own).wantErr(t, 401, "")
	h.call("POST", "/api/v1/config.get", "", "{}", "Cookie", cookie, "Origin", own).want(t, 200)

	// The session surface's logout clears it too.
	tok2 := h.login("cookie", testPassword)
	out = h.call("POST", "/v3/api/user/logout", "", "{}", "Cookie", SessionCookie+"="+tok2, "Origin", own).want(t, 200)
	if c := out.Header.Get("Set-Cookie"); !strings.Contains(c, "Max-Age=0") {
		t.Errorf("user/logout Set-Cookie %q does not clear the cookie", c)
	}
}
