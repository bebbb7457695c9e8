package server

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/store"
)

func TestV3LoginLocalStages(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.user("quinn", true)
	h.user("rosa", false)

	// Stage one: the password stage and a stage token.
	c := h.client("")
	st, err := c.Login(ctx, fastx.LoginRequest{Username: "quinn"})
	must(t, err)
	if st.Stage != fastx.StagePassword || st.Token == "" || st.Host != "deskhub-test" {
		t.Fatalf("first stage: %+v", st)
	}
	stage := st.Token
	// Answers for other stages are refused.
	_, err = c.LoginKeyboardInteractive(ctx, stage, "x")
	wantErr(t, err, 409, "password")
	ok, err := c.LoginPassword(ctx, stage, testPassword)
	must(t, err)
	if ok.Stage != fastx.StageSuccess || c.Token() != ok.Token {
		t.Fatalf("success stage: %+v", ok)
	}
	tok := ok.Token
	// The stage token is spent.
	_, err = h.client("").LoginPassword(ctx, stage, testPassword)
	wantErr(t, err, 401, "no login in progress")

	// The API token works on every surface, as Bearer and as X-FASTX-TOKEN.
	p, err := h.client("", "X-FASTX-TOKEN", tok).UserProfile(ctx)
	must(t, err)
	if p.Login != "quinn" || !p.Authenticated || p.Provider != "local" {
		t.Fatalf("profile: %+v", p)
	}
	_, err = c.UserProfile(ctx)
	must(t, err)
	_, err = c.User(ctx)
	must(t, err)
	if admin, err := c.IsAdmin(ctx); err != nil || !admin {
		t.Fatalf("admin: %v, %v", admin, err)
	}

	// Password in the first call: straight to success; a non-admin is told so by user/admin.
	r := h.client("")
	st, err = r.Login(ctx, fastx.LoginRequest{Username: "rosa", Password: testPassword})
	must(t, err)
	if st.Stage != fastx.StageSuccess || r.Token() == "" {
		t.Fatalf("one-step login: %+v", st)
	}
	if admin, err := r.IsAdmin(ctx); err != nil || admin {
		t.Fatalf("a non-admin: admin %v, %v", admin, err) // IsAdmin answers user/admin's 403 as false
	}
	_, err = h.client("").IsAdmin(ctx)
	wantErr(t, err, 401, "needs a token")

	// Keepalive extends a login token from now.
	h.clock.Advance(11 * time.Hour)
	must(t, r.Keepalive(ctx))
	h.clock.Advance(11 * time.Hour) // 22 h after login: alive thanks to the keepalive
	_, err = r.UserProfile(ctx)
	must(t, err)
	_, err = c.UserProfile(ctx)
	wantErr(t, err, 401, "not valid") // no keepalive: expired

	// Logout ends the token.
	rosa := r.Token()
	must(t, r.Logout(ctx))
	_, err = h.client(rosa).UserProfile(ctx)
	wantErr(t, err, 401, "not valid")

	// Every call also works as GET with its parameters in the query string, as FastX clients may send
	// it; the SDK always POSTs, so these stay raw: the GET form is the point.
	g := h.get("/v3/api/user/login", "", url.Values{"username": {"quinn"}, "password": {testPassword}}).want(t, 200)
	if g.str("result", "stage") != "success" {
		t.Fatalf("one-step GET login: %s", g.Raw)
	}
	quinn := g.str("result", "token")
	h.get("/v3/api/user/admin", quinn, nil).want(t, 200)
	h.get("/v3/api/user/admin", "", nil, "X-FASTX-TOKEN", h.login("rosa", testPassword)).wantErr(t, 403, "not an administrator")
	g = h.get("/v3/api/user/login", "", url.Values{"username": {"rosa"}}).want(t, 200)
	g = h.get("/v3/api/user/login/password", "", url.Values{"password": {testPassword}}, "X-FASTX-TOKEN", g.str("result", "token")).want(t, 200)
	rosa = g.str("result", "token")
	if p := h.get("/v3/api/user/profile", "", nil, "X-FASTX-TOKEN", rosa).want(t, 200); p.str("result", "login") != "rosa" {
		t.Fatalf("GET profile: %s", p.Raw)
	}
	h.get("/v3/api/user/keepalive", "", nil, "X-FASTX-TOKEN", rosa).want(t, 200)
	h.get("/v3/api/user/logout", "", nil, "X-FASTX-TOKEN", rosa).want(t, 200)
	h.get("/v3/api/user/profile", "", nil, "X-FASTX-TOKEN", rosa).wantErr(t, 401, "not valid")
}

func TestV3LoginLocalFailures(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.user("sara", false)
	anon := h.client("")
	login := func(req fastx.LoginRequest) error {
		_, err := anon.Login(ctx, req)
		return err
	}
	wantErr(t, login(fastx.LoginRequest{Username: "sara", Password: "wrong password"}), 401, "wrong login or password")
	wantErr(t, login(fastx.LoginRequest{Username: "nobody", Password: "wrong password"}), 401, "wrong login or password")
	wantErr(t, login(fastx.LoginRequest{Username: "sara", ServerID: "elsewhere"}), 400, "serverId")
	// Raw: a body without the required member, and one with an unknown member, which the SDK cannot send.
	h.call("POST", "/v3/api/user/login", "", `{}`).wantErr(t, 400, `"username" is required`)
	h.call("POST", "/v3/api/user/login", "", `{"username":"sara","colour":"x"}`).wantErr(t, 400, "not known")
	_, err := anon.LoginPassword(ctx, "", "x")
	wantErr(t, err, 401, "no login in progress")
	_, err = anon.LoginPassword(ctx, "stage_forged", "x")
	wantErr(t, err, 401, "no login in progress")
	// Failures count towards the throttle shared with user.login (sara has one failure already).
	h.remote = "203.0.113.5:7"
	for range 3 {
		wantErr(t, login(fastx.LoginRequest{Username: "sara", Password: "wrong password"}), 401, "")
	}
	if e := wantErr(t, login(fastx.LoginRequest{Username: "sara", Password: testPassword}), 429, ""); e.RetryAfter <= 0 {
		t.Fatalf("no Retry-After: %+v", e)
	}
	n, _ := h.s.store.ListAudit(context.Background(), storeAuditAll)
	if len(n) == 0 {
		t.Fatal("failed logins are not audited")
	}
}

var storeAuditAll = store.AuditFilter{Limit: 1000}

var storeRunning = store.SessionFilter{States: []string{"starting", "running"}}
