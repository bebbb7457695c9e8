package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
)

// auditActions lists the actions of entries, newest first.
func auditActions(t *testing.T, c *client.Client, req vmm.AdminAuditListRequest) []string {
	t.Helper()
	doc, err := c.AdminAudit(context.Background(), req)
	must(t, err)
	var out []string
	for _, e := range doc.Data {
		out = append(out, e.Attributes.AuditAction+" "+e.Attributes.AuditTarget)
	}
	return out
}

// TestAdminEndpointsRefuseNonAdmins: every admin.* call is a 401 without a token and a 403 with a
// message for a user who is not an administrator, and changes nothing.
func TestAdminEndpointsRefuseNonAdmins(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	alice := h.user("alice", false)
	h.user("bob", false)
	calls := map[string]func(c *client.Client) error{
		"admin.userList": func(c *client.Client) error { _, err := c.AdminUsers(ctx); return err },
		"admin.userCreate": func(c *client.Client) error {
			_, err := c.AdminCreateUser(ctx, vmm.AdminUserCreateRequest{UserLogin: "eve", UserEmail: "eve@example.org", UserPassword: testPassword, UserAdmin: true})
			return err
		},
		"admin.userLock":   func(c *client.Client) error { _, err := c.AdminLockUser(ctx, "bob", true); return err },
		"admin.userDelete": func(c *client.Client) error { _, err := c.AdminDeleteUser(ctx, "bob", true); return err },
		"admin.userPasswordReset": func(c *client.Client) error {
			_, err := c.AdminResetPassword(ctx, "bob", "another long password")
			return err
		},
		"admin.auditList": func(c *client.Client) error { _, err := c.AdminAudit(ctx, vmm.AdminAuditListRequest{}); return err },
	}
	for name, call := range calls {
		wantErr(t, call(h.client("")), 401, "needs a token")
		wantErr(t, call(h.client(alice)), 403, "for administrators")
		_ = name
	}
	if n := h.countUsers(); n != 2 {
		t.Fatalf("%d accounts after refused calls, want 2", n)
	}
	if _, err := h.client("").UserLogin(ctx, "bob", testPassword); err != nil {
		t.Fatalf("bob after refused lock/delete/reset: %v", err)
	}
}

// TestAdminUsers: an administrator creates, lists, locks, unlocks, resets and deletes accounts; bad
// input is a 4xx with a message; each change is in the audit log.
func TestAdminUsers(t *testing.T) {
	h := newHarness(t, func(c *config.Config, _ *Options) { c.Sessions.UserPrefix = "dhadmt-" }) // deletes retire dhadmt-<id>
	ctx := context.Background()
	root := h.user("root", true)
	adm := h.client(root)

	// Create: bad input refused, nothing written.
	for _, c := range []struct {
		req    string
		status int
		detail string
	}{
		{`{"user_login":"","user_email":"e@example.org","user_password":"long enough pw"}`, 400, "user_login"},
		{`{"user_login":"Bad Login","user_email":"e@example.org","user_password":"long enough pw"}`, 400, "login"},
		{`{"user_login":"erin","user_email":"not-an-address","user_password":"long enough pw"}`, 400, "mail"},
		{`{"user_login":"erin","user_email":"e@example.org","user_password":"short"}`, 400, "password"},
		{`{"user_login":"erin","user_email":"e@example.org"}`, 400, "user_password"},
		{`{"user_login":"erin","user_email":"e@example.org","user_password":"long enough pw","user_group":1}`, 400, "not known"},
		{`{"user_login":"root","user_email":"e@example.org","user_password":"long enough pw"}`, 409, "exists already"},
	} {
		r := h.call("POST", "/api/v1/admin.userCreate", root, c.req)
		r.wantErr(t, c.status, c.detail)
	}
	if n := h.countUsers(); n != 1 {
		t.Fatalf("%d accounts after refused creations", n)
	}
	doc, err := adm.AdminCreateUser(ctx, vmm.AdminUserCreateRequest{UserLogin: "erin", UserEmail: "erin@example.org", UserPassword: testPassword})
	must(t, err)
	if a := doc.Data.Attributes; a.UserLogin != "erin" || a.UserAdmin || a.UserLocked || a.UserProvider != "local" || a.UserID == 0 {
		t.Fatalf("created: %+v", a)
	}
	erin := h.login("erin", testPassword)

	list, err := adm.AdminUsers(ctx)
	must(t, err)
	var logins []string
	for _, u := range list.Data {
		logins = append(logins, u.Attributes.UserLogin)
		if u.Attributes.UserLogin == "root" && !u.Attributes.UserAdmin {
			t.Fatalf("root is not listed as an administrator: %+v", u.Attributes)
		}
	}
	slices.Sort(logins)
	if !slices.Equal(logins, []string{"erin", "root"}) {
		t.Fatalf("userList: %v", logins)
	}

	// Lock: erin's token dies, she cannot log in; an administrator cannot lock himself out.
	locked, err := adm.AdminLockUser(ctx, "erin", true)
	must(t, err)
	if !locked.Data.Attributes.UserLocked || locked.Meta["status"] != "locked" || locked.Meta["tokens_revoked"] != float64(1) {
		t.Fatalf("lock: %+v", locked)
	}
	_, err = h.client(erin).User(ctx)
	wantErr(t, err, 401, "")
	_, err = h.client("").UserLogin(ctx, "erin", testPassword)
	wantErr(t, err, 401, "")
	_, err = adm.AdminLockUser(ctx, "root", true)
	wantErr(t, err, 409, "your own account")
	_, err = adm.AdminLockUser(ctx, "nobody", true)
	wantErr(t, err, 404, `no account with login "nobody"`)
	h.call("POST", "/api/v1/admin.userLock", root, `{"user_login":"erin"}`).wantErr(t, 400, "user_locked")
	unlocked, err := adm.AdminLockUser(ctx, "erin", false)
	must(t, err)
	if unlocked.Data.Attributes.UserLocked || unlocked.Meta["status"] != "unlocked" {
		t.Fatalf("unlock: %+v", unlocked)
	}
	h.clock.Advance(time.Minute) // past the throttle's backoff after the refused login
	erin = h.login("erin", testPassword)

	// Reset the password: the old one and erin's login tokens stop working.
	_, err = adm.AdminResetPassword(ctx, "erin", "short")
	wantErr(t, err, 400, "password")
	reset, err := adm.AdminResetPassword(ctx, "erin", "a brand new password")
	must(t, err)
	if reset.Meta["status"] != "password_changed" || reset.Meta["tokens_revoked"] != float64(1) {
		t.Fatalf("reset: %+v", reset)
	}
	_, err = h.client(erin).User(ctx)
	wantErr(t, err, 401, "")
	h.login("erin", "a brand new password")

	// Delete: needs user_confirm, refuses the caller's own account and the last administrator.
	_, err = adm.AdminDeleteUser(ctx, "erin", false)
	wantErr(t, err, 400, "cannot be undone")
	_, err = adm.AdminDeleteUser(ctx, "root", true)
	wantErr(t, err, 409, "your own account")
	gone, err := adm.AdminDeleteUser(ctx, "erin", true)
	must(t, err)
	if gone.Meta["status"] != "deleted" || gone.Meta["tokens"] != float64(3) {
		t.Fatalf("delete: %+v", gone)
	}
	_, err = adm.AdminDeleteUser(ctx, "erin", true)
	wantErr(t, err, 404, "no account")
	if n := h.countUsers(); n != 1 {
		t.Fatalf("%d accounts after the delete", n)
	}

	// The audit log has each change, by the administrator, newest first; filtered by login.
	got := auditActions(t, adm, vmm.AdminAuditListRequest{UserLogin: "erin"})
	want := []string{"admin.userDelete erin", "user.login", "admin.userPasswordReset erin", "user.login", "admin.userUnlock erin",
		"user.login.failed erin", "admin.userLock erin", "user.login", "admin.userCreate erin"}
	if len(got) != len(want) {
		t.Fatalf("audit of erin:\n got %q\nwant %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] && !(want[i] == "user.login" && len(got[i]) > len("user.login ") && got[i][:11] == "user.login ") {
			t.Fatalf("audit of erin, entry %d:\n got %q\nwant %q", i, got, want)
		}
	}
	page, err := adm.AdminAudit(ctx, vmm.AdminAuditListRequest{UserLogin: "erin", AuditLimit: 1})
	must(t, err)
	if len(page.Data) != 1 || page.Data[0].Attributes.AuditActor != "root" || page.Data[0].Attributes.AuditRemote == "" {
		t.Fatalf("first entry: %+v", page.Data)
	}
	var detail map[string]any
	if err := json.Unmarshal(page.Data[0].Attributes.AuditDetail, &detail); err != nil || detail["tokens"] != float64(3) {
		t.Fatalf("detail of the delete: %s %v", page.Data[0].Attributes.AuditDetail, err)
	}
}

// TestAdminAuditList: pages (audit_before, audit_limit), the time window, and refused filters.
func TestAdminAuditList(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	root := h.user("root", true)
	adm := h.client(root)
	for i := range 7 {
		_, err := adm.AdminCreateUser(ctx, vmm.AdminUserCreateRequest{UserLogin: fmt.Sprintf("u%d", i), UserEmail: fmt.Sprintf("u%d@example.org", i), UserPassword: testPassword})
		must(t, err)
	}
	all := auditActions(t, adm, vmm.AdminAuditListRequest{})
	if len(all) != 8 || all[0] != "admin.userCreate u6" || all[7][:11] != "user.login " {
		t.Fatalf("whole log: %q", all)
	}
	var paged []string
	req := vmm.AdminAuditListRequest{AuditLimit: 3}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		doc, err := adm.AdminAudit(ctx, req)
		must(t, err)
		for _, e := range doc.Data {
			paged = append(paged, e.Attributes.AuditAction+" "+e.Attributes.AuditTarget)
		}
		next, ok := doc.Meta["next_before"].(float64)
		if !ok {
			if len(doc.Data) == 3 {
				t.Fatal("a full page without meta.next_before")
			}
			break
		}
		req.AuditBefore = int64(next)
	}
	if !slices.Equal(paged, all) {
		t.Fatalf("pages:\n%q\nwhole:\n%q", paged, all)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	if got := auditActions(t, adm, vmm.AdminAuditListRequest{AuditSince: future}); len(got) != 0 {
		t.Fatalf("since an hour ahead: %q", got)
	}
	if got := auditActions(t, adm, vmm.AdminAuditListRequest{AuditUntil: future, AuditSince: "2000-01-01T00:00:00Z"}); len(got) != 8 {
		t.Fatalf("window around now: %q", got)
	}
	for _, c := range []struct{ body, detail string }{
		{`{"audit_since":"yesterday"}`, "RFC 3339"},
		{`{"audit_since":"2026-01-02T00:00:00Z","audit_until":"2026-01-01T00:00:00Z"}`, "after audit_since"},
		{`{"audit_limit":501}`, "between 1 and 500"},
		{`{"audit_limit":-1}`, "between 1 and 500"},
		{`{"audit_before":-4}`, "audit_before"},
		{`{"audit_limit":"ten"}`, "audit_limit"},
	} {
		h.call("POST", "/api/v1/admin.auditList", root, c.body).wantErr(t, 400, c.detail)
	}
}

// TestAdminUserDeleteEndsDesktops: deleting an account through admin.userDelete ends its running
// desktop (a real Xvnc, as the account's Unix identity) and retires that identity, as `deskhub user
// delete` does: the next account given the same id must not inherit the Unix user or the home.
func TestAdminUserDeleteEndsDesktops(t *testing.T) {
	h := desktopHarness(t, func(c *config.Config, _ *Options) { c.Sessions.UserPrefix = "dhadmt-" })
	ctx := context.Background()
	root := h.user("root", true)
	alice := h.client(h.user("alice", false))
	start, err := alice.StartSession(ctx, fastx.StartRequest{Command: "xterm", Geometry: "800x600"})
	must(t, err)
	list, err := alice.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	if len(list) != 1 || list[0].ID != start.ID || list[0].ServerPid <= 0 {
		t.Fatalf("alice's desktops: %+v", list)
	}
	pid := list[0].ServerPid
	u, err := h.s.store.GetUserByLogin(ctx, "alice")
	must(t, err)
	unixName := h.s.identities.Name(u.ID)
	if _, err := user.Lookup(unixName); err != nil {
		t.Fatalf("alice's desktop runs without her Unix identity %s: %v", unixName, err)
	}

	gone, err := h.client(root).AdminDeleteUser(ctx, "alice", true)
	must(t, err)
	if gone.Meta["desktops_ended"] != float64(1) || gone.Meta["identity_retired"] != true || gone.Meta["sessions"] != float64(1) {
		t.Fatalf("delete: %+v", gone.Meta)
	}
	// Xvnc is gone (Terminate waited for it; allow the kernel a moment to reap it).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alice's Xvnc (pid %d) still runs after her account was deleted", pid)
		}
	}
	if _, err := user.Lookup(unixName); err == nil {
		t.Fatalf("the Unix identity %s is still there after the delete", unixName)
	}
	if _, err := os.Stat(filepath.Join(h.s.identities.HomeRoot, "alice")); !os.IsNotExist(err) {
		t.Fatalf("alice's home is still in place: %v", err)
	}
}

// TestAuditLogout: a logout is in the audit log, done by the account to itself.
func TestAuditLogout(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	root := h.user("root", true)
	tok := h.user("dora", false)
	must(t, h.client(tok).UserLogout(ctx))
	got := auditActions(t, h.client(root), vmm.AdminAuditListRequest{UserLogin: "dora", AuditLimit: 1})
	if len(got) != 1 || got[0] != "user.logout dora" {
		t.Fatalf("newest entry of dora: %q", got)
	}
}
