package cli

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// userEnv makes a data dir with an administrator "alice" and a user "bob" (password "pw-long-enough").
func userEnv(t *testing.T) (dir string, env map[string]string) {
	t.Helper()
	dir = t.TempDir()
	env = map[string]string{"DESKHUB_DATA": dir}
	for _, a := range [][]string{
		{"--login", "alice", "--email", "alice@example.org", "--admin"},
		{"--login", "bob", "--email", "bob@example.org"},
	} {
		r := run(t, env, "pw-long-enough\n", append([]string{"user", "add", "--password-stdin"}, a...)...)
		if r.code != 0 {
			t.Fatalf("user add %v: %+v", a, r)
		}
	}
	return dir, env
}

// openDir opens the SQLite store of a data dir; it is closed at the end of the test.
func openDir(t *testing.T, dir string) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func getUser(t *testing.T, st store.Store, login string) store.User {
	t.Helper()
	u, err := st.GetUserByLogin(context.Background(), login)
	if err != nil {
		t.Fatalf("%s: %v", login, err)
	}
	return u
}

func TestUserHelpAndUsage(t *testing.T) {
	r := run(t, nil, "", "user", "--help")
	for _, sub := range []string{"add", "list", "lock", "unlock", "passwd", "delete"} {
		if !strings.Contains(r.stdout, "\n  "+sub+" ") {
			t.Errorf("user --help does not list %s:\n%s", sub, r.stdout)
		}
		h := run(t, nil, "", "user", sub, "--help")
		if h.code != 0 || !strings.Contains(h.stdout, "Usage: deskhub user "+sub) || !strings.Contains(h.stdout, "--data") || h.stderr != "" {
			t.Errorf("user %s --help: %+v", sub, h)
		}
	}
	dir := t.TempDir()
	for _, args := range [][]string{
		{"list", "stray"}, {"list", "--nope"},
		{"lock"}, {"lock", "alice", "bob"}, {"lock", "--nope", "alice"}, {"lock", "alice", "--nope"},
		{"unlock"}, {"passwd", "alice"}, {"passwd", "--password-stdin"}, {"delete"}, {"delete", "--yes"},
		{"delete", "alice", "--yes", "bob"},
	} {
		r := run(t, map[string]string{"DESKHUB_DATA": dir}, "", append([]string{"user"}, args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, "Usage: deskhub user") || r.stdout != "" {
			t.Errorf("%v: exit %d (want 2), stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestUserList(t *testing.T) {
	dir, env := userEnv(t)
	r := run(t, env, "", "user", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 3 {
		t.Fatalf("user list: %+v", r)
	}
	for _, col := range []string{"ID", "LOGIN", "EMAIL", "PROVIDER", "ADMIN", "PW-LOCKED", "DISABLED", "CREATED"} {
		if !strings.Contains(lines[0], col) {
			t.Errorf("header %q lacks %s", lines[0], col)
		}
	}
	if f := strings.Fields(lines[1]); len(f) != 8 || f[0] != "1" || f[1] != "alice" || f[2] != "alice@example.org" ||
		f[3] != "local" || f[4] != "yes" || f[5] != "no" || f[6] != "no" {
		t.Errorf("alice row: %q", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) != 8 || f[1] != "bob" || f[4] != "no" {
		t.Errorf("bob row: %q", lines[2])
	}

	// JSON lines, read from another data dir through --data (beating the environment) after a lock.
	if r := run(t, env, "", "user", "lock", "bob"); r.code != 0 {
		t.Fatalf("lock: %+v", r)
	}
	r = run(t, map[string]string{"DESKHUB_DATA": t.TempDir()}, "", "user", "list", "--json", "--data", dir)
	if r.code != 0 {
		t.Fatalf("user list --json: %+v", r)
	}
	var got []userJSON
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var u userJSON
		if err := json.Unmarshal([]byte(line), &u); err != nil {
			t.Fatalf("not a JSON line: %q: %v", line, err)
		}
		got = append(got, u)
	}
	if len(got) != 2 || got[0].Login != "alice" || !got[0].Admin || got[0].Disabled || got[0].Email != "alice@example.org" ||
		got[1].Login != "bob" || got[1].Admin || !got[1].Disabled || got[1].Provider != "local" ||
		got[0].CreatedAt.IsZero() || time.Since(got[0].CreatedAt) > time.Hour {
		t.Fatalf("user list --json: %+v", got)
	}
	if strings.Contains(r.stdout, "argon2") {
		t.Fatal("user list --json shows password hashes")
	}

	// An empty store: the header only, or nothing.
	empty := map[string]string{"DESKHUB_DATA": t.TempDir()}
	if r := run(t, empty, "", "user", "list"); r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("empty list: %+v", r)
	}
	if r := run(t, empty, "", "user", "list", "--json"); r.code != 0 || r.stdout != "" {
		t.Errorf("empty list --json: %+v", r)
	}
}

func TestUserLockUnlock(t *testing.T) {
	dir, env := userEnv(t)
	st := openDir(t, dir)
	ctx := context.Background()
	svc := auth.New(auth.Options{Store: st})
	bob := getUser(t, st, "bob")
	login, api := issueTokens(t, svc, bob.ID)
	for _, tok := range []string{login, api} {
		if _, _, err := svc.Verify(ctx, tok); err != nil {
			t.Fatalf("fresh token refused: %v", err)
		}
	}
	if _, err := svc.CheckLoginPassword(ctx, "bob", "pw-long-enough", "192.0.2.1"); err != nil {
		t.Fatalf("login before lock: %v", err)
	}

	// LOGIN after the flags (the flag package stops at the first non-flag).
	r := run(t, nil, "", "user", "lock", "--data", dir, "bob")
	if r.code != 0 || !strings.Contains(r.stdout, `locked "bob"`) || !strings.Contains(r.stdout, "revoked 2 tokens") {
		t.Fatalf("user lock: %+v", r)
	}
	if u := getUser(t, st, "bob"); !u.Disabled {
		t.Fatal("lock did not disable the account")
	}
	for _, tok := range []string{login, api} {
		if _, _, err := svc.Verify(ctx, tok); err == nil {
			t.Fatal("a token of a locked account still verifies")
		}
	}
	if _, err := svc.CheckLoginPassword(ctx, "bob", "pw-long-enough", "192.0.2.1"); err == nil {
		t.Fatal("a locked account can log in")
	}
	// A token issued while locked (say, by a door that forgot to check) is refused too.
	late, _, err := svc.IssueToken(ctx, nil, bob.ID, store.TokenUserLogin, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.Verify(ctx, late); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("token of a disabled account: %v", err)
	}
	// Locking again says so (and revokes the straggler); LOGIN before the flags.
	r = run(t, nil, "", "user", "lock", "bob", "--data", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "already locked") || !strings.Contains(r.stdout, "revoked 1 token\n") {
		t.Fatalf("second lock: %+v", r)
	}
	if u := getUser(t, st, "alice"); u.Disabled {
		t.Fatal("lock touched another account")
	}

	r = run(t, env, "", "user", "unlock", "bob")
	if r.code != 0 || !strings.Contains(r.stdout, `unlocked "bob"`) {
		t.Fatalf("user unlock: %+v", r)
	}
	if u := getUser(t, st, "bob"); u.Disabled {
		t.Fatal("unlock did not enable the account")
	}
	if _, err := svc.CheckLoginPassword(ctx, "bob", "pw-long-enough", "192.0.2.2"); err != nil {
		t.Fatalf("login after unlock: %v", err)
	}
	if _, _, err := svc.Verify(ctx, login); err == nil {
		t.Fatal("a token revoked by lock came back with unlock")
	}
	r = run(t, env, "", "user", "unlock", "bob")
	if r.code != 0 || !strings.Contains(r.stdout, "was not locked") {
		t.Fatalf("second unlock: %+v", r)
	}

	for _, sub := range []string{"lock", "unlock"} {
		r := run(t, env, "", "user", sub, "nobody")
		if r.code != 1 || strings.TrimSpace(r.stderr) != `deskhub user: no account with login "nobody"` {
			t.Errorf("%s nobody: %+v", sub, r)
		}
	}
	// After "--" everything is LOGIN.
	if r := run(t, env, "", "user", "lock", "--", "--data"); r.code != 1 || !strings.Contains(r.stderr, `no account with login "--data"`) {
		t.Errorf("lock -- --data: %+v", r)
	}
}

func TestUserPasswd(t *testing.T) {
	dir, env := userEnv(t)
	st := openDir(t, dir)
	ctx := context.Background()
	svc := auth.New(auth.Options{Store: st})
	bob := getUser(t, st, "bob")
	login, api := issueTokens(t, svc, bob.ID)

	r := run(t, env, "a-brand-new-password\r\n", "user", "passwd", "--password-stdin", "bob")
	if r.code != 0 || !strings.Contains(r.stdout, `changed the password of "bob"`) || !strings.Contains(r.stdout, "revoked 1 login token\n") {
		t.Fatalf("user passwd: %+v", r)
	}
	after := getUser(t, st, "bob")
	if after.PasswordHash == bob.PasswordHash {
		t.Fatal("the hash did not change")
	}
	if err := auth.VerifyPassword(after.PasswordHash, "a-brand-new-password"); err != nil {
		t.Fatalf("new password does not verify: %v", err)
	}
	if err := auth.VerifyPassword(after.PasswordHash, "pw-long-enough"); !errors.Is(err, auth.ErrMismatch) {
		t.Fatalf("old password: %v", err)
	}
	if _, _, err := svc.Verify(ctx, login); err == nil {
		t.Fatal("login token survived a password change")
	}
	if _, _, err := svc.Verify(ctx, api); err != nil {
		t.Fatalf("API token revoked by a password change: %v", err)
	}
	if _, err := svc.CheckLoginPassword(ctx, "bob", "a-brand-new-password", ""); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	if getUser(t, st, "alice").PasswordHash == after.PasswordHash {
		t.Fatal("impossible: equal hashes")
	}

	// A locked account gets its password but stays locked, and is told so.
	if r := run(t, env, "", "user", "lock", "bob"); r.code != 0 {
		t.Fatal(r)
	}
	r = run(t, env, "yet-another-password\n", "user", "passwd", "bob", "--password-stdin")
	if r.code != 0 || !strings.Contains(r.stdout, "is locked") {
		t.Fatalf("passwd of a locked account: %+v", r)
	}
	if u := getUser(t, st, "bob"); !u.Disabled || auth.VerifyPassword(u.PasswordHash, "yet-another-password") != nil {
		t.Fatalf("passwd of a locked account: %+v", u)
	}

	// SSH accounts have no deskhub password.
	ssh := store.User{Login: "carol", Provider: store.ProviderSSH}
	if err := st.CreateUser(ctx, &ssh); err != nil {
		t.Fatal(err)
	}

	before := getUser(t, st, "bob").PasswordHash
	for _, f := range []struct {
		stdin, login, want string
	}{
		{"short\n", "bob", "at least 8 characters"},
		{"", "bob", "standard input is empty"},
		{"long-enough-pw\n", "nobody", `no account with login "nobody"`},
		{"long-enough-pw\n", "carol", "logs in through ssh"},
	} {
		r := run(t, env, f.stdin, "user", "passwd", "--password-stdin", f.login)
		if r.code != 1 || !strings.Contains(r.stderr, f.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("passwd %s with %q: exit %d, stderr %q (want %q)", f.login, f.stdin, r.code, r.stderr, f.want)
		}
	}
	if getUser(t, st, "bob").PasswordHash != before {
		t.Fatal("a failed passwd changed the hash")
	}
}

func TestUserDelete(t *testing.T) {
	dir, env := userEnv(t)
	st := openDir(t, dir)
	ctx := context.Background()
	svc := auth.New(auth.Options{Store: st})
	bob := getUser(t, st, "bob")
	tok, _, err := svc.IssueToken(ctx, nil, bob.ID, store.TokenSystemAPI, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateSSHKey(ctx, &store.SSHKey{UserID: bob.ID, Name: "laptop", PublicKey: "ssh-ed25519 AAAA", Fingerprint: "SHA256:x"}); err != nil {
		t.Fatal(err)
	}

	// Without --yes nothing happens.
	r := run(t, env, "", "user", "delete", "bob")
	if r.code != 1 || !strings.Contains(r.stderr, "add --yes") {
		t.Fatalf("delete without --yes: %+v", r)
	}
	getUser(t, st, "bob")

	r = run(t, env, "", "user", "delete", "bob", "--yes")
	if r.code != 0 || !strings.Contains(r.stdout, `deleted "bob"`) || !strings.Contains(r.stdout, "1 token") || !strings.Contains(r.stdout, "1 SSH key") {
		t.Fatalf("delete: %+v", r)
	}
	if _, err := st.GetUserByLogin(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob still there: %v", err)
	}
	if _, _, err := svc.Verify(ctx, tok); err == nil {
		t.Fatal("a deleted account's token verifies")
	}
	if keys, err := st.ListSSHKeys(ctx, bob.ID); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a deleted account: %v %v", keys, err)
	}
	if r := run(t, env, "", "user", "delete", "--yes", "bob"); r.code != 1 || !strings.Contains(r.stderr, `no account with login "bob"`) {
		t.Fatalf("delete a deleted account: %+v", r)
	}

	// The last administrator stays, --yes or not; a locked other administrator does not count.
	for _, args := range [][]string{{"alice"}, {"alice", "--yes"}} {
		r := run(t, env, "", append([]string{"user", "delete"}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, "last active administrator") {
			t.Fatalf("delete %v: %+v", args, r)
		}
	}
	if r := run(t, env, "pw-long-enough\n", "user", "add", "--login", "root2", "--email", "r@example.org", "--admin", "--password-stdin"); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, env, "", "user", "lock", "root2"); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, env, "", "user", "delete", "--yes", "alice"); r.code != 1 || !strings.Contains(r.stderr, "last active administrator") {
		t.Fatalf("delete alice with only a locked other admin: %+v", r)
	}
	if r := run(t, env, "", "user", "unlock", "root2"); r.code != 0 {
		t.Fatal(r)
	}
	if r := run(t, env, "", "user", "delete", "--yes", "alice"); r.code != 0 {
		t.Fatalf("delete alice with another admin: %+v", r)
	}
	if r := run(t, env, "", "user", "delete", "--yes", "root2"); r.code != 1 || !strings.Contains(r.stderr, "last active administrator") {
		t.Fatalf("delete the now last admin: %+v", r)
	}
	if n, err := st.CountUsers(ctx); err != nil || n != 1 {
		t.Fatalf("users left: %d %v", n, err)
	}
}

// issueTokens gives the account a login token and an API token.
func issueTokens(t *testing.T, svc *auth.Service, userID int64) (login, api string) {
	t.Helper()
	var err error
	if login, _, err = svc.IssueToken(context.Background(), nil, userID, store.TokenUserLogin, time.Hour); err != nil {
		t.Fatal(err)
	}
	if api, _, err = svc.IssueToken(context.Background(), nil, userID, store.TokenSystemAPI, time.Hour); err != nil {
		t.Fatal(err)
	}
	return login, api
}
