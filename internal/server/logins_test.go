package server

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

func TestV3LoginLocalStages(t *testing.T) {
	h := newHarness(t)
	h.user("quinn", true)
	h.user("rosa", false)

	// Stage one: the password stage and a stage token.
	st := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "quinn"}).want(t, 200)
	if st.str("result", "stage") != "password" || st.str("result", "token") == "" || st.str("result", "host") != "deskhub-test" {
		t.Fatalf("first stage: %s", st.Raw)
	}
	stage := st.str("result", "token")
	// Answers for other stages are refused.
	h.call("POST", "/v3/api/user/login/keyboard-interactive", "", map[string]any{"answer": "x"}, "X-FASTX-TOKEN", stage).
		wantErr(t, 409, "password")
	ok := h.call("POST", "/v3/api/user/login/password", "", map[string]any{"password": testPassword}, "X-FASTX-TOKEN", stage).want(t, 200)
	if ok.str("result", "stage") != "success" {
		t.Fatalf("success stage: %s", ok.Raw)
	}
	tok := ok.str("result", "token")
	// The stage token is spent.
	h.call("POST", "/v3/api/user/login/password", "", map[string]any{"password": testPassword}, "X-FASTX-TOKEN", stage).
		wantErr(t, 401, "no login in progress")

	// The API token works on every surface, as Bearer and as X-FASTX-TOKEN.
	p := h.call("GET", "/v3/api/user/profile", "", nil, "X-FASTX-TOKEN", tok).want(t, 200)
	if p.str("result", "login") != "quinn" || p.get("result", "authenticated") != true || p.str("result", "provider") != "local" {
		t.Fatalf("profile: %s", p.Raw)
	}
	h.call("POST", "/v3/api/user/profile", tok, "{}").want(t, 200)
	h.call("POST", "/api/v1/user.get", tok, "{}").want(t, 200)
	h.call("GET", "/v3/api/user/admin", tok, nil).want(t, 200)

	// Password in the first call: straight to success; a non-admin is told so by user/admin.
	r := h.call("GET", "/v3/api/user/login?username=rosa&password="+"correct%20horse%20battery", "", nil).want(t, 200)
	rosa := r.str("result", "token")
	if r.str("result", "stage") != "success" {
		t.Fatalf("one-step login: %s", r.Raw)
	}
	h.call("POST", "/v3/api/user/admin", rosa, "{}").wantErr(t, 403, "not an administrator")
	h.call("POST", "/v3/api/user/admin", "", "{}").wantErr(t, 401, "needs a token")

	// Keepalive extends a login token from now.
	h.clock.Advance(11 * time.Hour)
	h.call("POST", "/v3/api/user/keepalive", rosa, "{}").want(t, 200)
	h.clock.Advance(11 * time.Hour) // 22 h after login: alive thanks to the keepalive
	h.call("POST", "/v3/api/user/profile", rosa, "{}").want(t, 200)
	h.call("POST", "/v3/api/user/profile", tok, "{}").wantErr(t, 401, "not valid") // no keepalive: expired

	// Logout ends the token.
	h.call("POST", "/v3/api/user/logout", rosa, "{}").want(t, 200)
	h.call("POST", "/v3/api/user/profile", rosa, "{}").wantErr(t, 401, "not valid")

	// Every call also works as GET with its parameters in the query string.
	st = h.get("/v3/api/user/login", "", url.Values{"username": {"rosa"}}).want(t, 200)
	ok = h.get("/v3/api/user/login/password", "", url.Values{"password": {testPassword}}, "X-FASTX-TOKEN", st.str("result", "token")).want(t, 200)
	rosa = ok.str("result", "token")
	h.get("/v3/api/user/keepalive", "", nil, "X-FASTX-TOKEN", rosa).want(t, 200)
	h.get("/v3/api/user/logout", "", nil, "X-FASTX-TOKEN", rosa).want(t, 200)
	h.get("/v3/api/user/profile", "", nil, "X-FASTX-TOKEN", rosa).wantErr(t, 401, "not valid")
}

func TestV3LoginLocalFailures(t *testing.T) {
	h := newHarness(t)
	h.user("sara", false)
	h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "sara", "password": "wrong password"}).
		wantErr(t, 401, "wrong login or password")
	h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "nobody", "password": "wrong password"}).
		wantErr(t, 401, "wrong login or password")
	h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "sara", "serverId": "elsewhere"}).
		wantErr(t, 400, "serverId")
	h.call("POST", "/v3/api/user/login", "", map[string]any{}).wantErr(t, 400, `"username" is required`)
	h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "sara", "colour": "x"}).wantErr(t, 400, "not known")
	h.call("POST", "/v3/api/user/login/password", "", map[string]any{"password": "x"}).wantErr(t, 401, "no login in progress")
	h.call("POST", "/v3/api/user/login/password", "", map[string]any{"password": "x"}, "X-FASTX-TOKEN", "stage_forged").
		wantErr(t, 401, "no login in progress")
	// Failures count towards the throttle shared with user.login (sara has one failure already).
	h.remote = "203.0.113.5:7"
	for range 3 {
		h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "sara", "password": "wrong password"}).want(t, 401)
	}
	r := h.call("POST", "/v3/api/user/login", "", map[string]any{"username": "sara", "password": testPassword}).want(t, 429)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	n, _ := h.s.store.ListAudit(context.Background(), storeAuditAll)
	if len(n) == 0 {
		t.Fatal("failed logins are not audited")
	}
}

var storeAuditAll = store.AuditFilter{Limit: 1000}

var storeRunning = store.SessionFilter{States: []string{"starting", "running"}}
