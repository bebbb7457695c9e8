package server

import (
	"net/url"
	"testing"
	"time"
)

// FastX clients may send every call as GET with the parameters in the query string; this walks the
// session, bookmark, share and system calls that way. It stays on raw calls: the GET form is the point
// (the SDK sends POST with a JSON body, which the other tests cover), and these are the 2xx GETs the
// coverage check of TestMain counts.
func TestSessionCallsByGET(t *testing.T) {
	h := desktopHarness(t)
	tok := h.user("gina", false)
	admin := h.user("boss", true)
	q := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	id := h.get("/v3/api/session/start", tok, q("command", "xterm", "geometry", "800x600", "params", `{"k":"v"}`)).want(t, 200).str("result", "id")
	if n := len(h.get("/v3/api/session/list", tok, q("filter", "k==v", "sortBy", "started", "limit", "5")).want(t, 200).get("result").([]any)); n != 1 {
		t.Fatalf("filtered list: %d", n)
	}
	h.get("/v3/api/session/list/count", tok, nil).want(t, 200)
	h.get("/v3/api/session/connect", tok, q("id", id)).want(t, 200)
	h.get("/v3/api/session/params", tok, q("id", id, "params", `{"k":""}`)).want(t, 200)
	h.get("/v3/api/session/log", tok, q("id", id)).want(t, 200)
	h.get("/v3/api/session/screenshot", tok, q("id", id, "width", "200", "height", "150", "keep_aspect", "0")).want(t, 200)
	h.get("/v3/api/session/exec", tok, q("id", id, "command", "xclock", "args", "-digital")).want(t, 200)
	h.get("/v3/api/session/disconnect", tok, q("id", id)).want(t, 200)

	h.get("/v3/api/bookmark/list", tok, nil).want(t, 200)
	h.get("/v3/api/bookmark/edit", tok, q("id", "bm", "command", "xterm", "tags", "a", "tags", "b")).want(t, 200)
	sc := h.get("/v3/api/session/shortcut", tok, q("id", "bm")).want(t, 200).str("result", "id")
	h.get("/v3/api/session/start/bookmark", tok, q("id", "s-1")).want(t, 200)
	h.get("/v3/api/bookmark/delete", tok, q("id", "bm")).want(t, 200)

	keys := h.get("/v3/api/share/edit", tok, q("id", id, "key", "", "perms", "viewer")).want(t, 200)
	key := keys.str("result", 0, "key")
	h.get("/v3/api/share/list", tok, q("id", id)).want(t, 200)
	h.get("/v3/api/share/connect", "", q("id", id, "key", key)).want(t, 200)
	h.get("/v3/api/share/email", tok, q("id", id, "email", "pal@example.org", "perms", "viewer")).want(t, 200)
	h.get("/v3/api/share/delete", tok, q("id", id, "key", key)).want(t, 200)
	h.get("/v3/api/share/reset", tok, q("id", id)).want(t, 200)

	h.get("/v3/system/session/count", admin, q("filter", "login==gina")).want(t, 200)
	h.get("/v3/system/session/list", admin, q("sortBy", "login")).want(t, 200)
	h.get("/v3/system/server/list", admin, nil).want(t, 200)
	h.get("/v3/system/session/profile", tok, nil).want(t, 200)

	sch := h.get("/v3/api/session/schedule", tok, q("command", "xterm", "at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))).want(t, 200)
	h.get("/v3/api/session/terminate", tok, q("id", sch.str("result", "id"))).want(t, 200) // cancels the schedule
	for _, s := range []string{id, sc} {
		h.get("/v3/api/session/terminate", tok, q("id", s)).want(t, 200)
	}
}
