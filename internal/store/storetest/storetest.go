// Package storetest is the conformance suite every store.Store backend must
// pass. Backends call Run from their own tests.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// Open returns a fresh, empty, migrated store; it registers its own cleanup.
type Open func(t *testing.T) store.Store

// Run runs the conformance suite; every subtest gets its own store from open.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Basics", testBasics},
		{"Users", testUsers},
		{"UserConflicts", testUserConflicts},
		{"Tokens", testTokens},
		{"RevokeUserTokens", testRevokeUserTokens},
		{"Codes", testCodes},
		{"ConsumeCodeConcurrent", testConsumeCodeConcurrent},
		{"LastingCodes", testLastingCodes},
		{"DeleteExpiredCodes", testDeleteExpiredCodes},
		{"SSHKeys", testSSHKeys},
		{"Credentials", testCredentials},
		{"Servers", testServers},
		{"Sessions", testSessions},
		{"SessionFilter", testSessionFilter},
		{"Bookmarks", testBookmarks},
		{"Shares", testShares},
		{"Audit", testAudit},
		{"Instances", testInstances},
		{"InstanceConflicts", testInstanceConflicts},
		{"EnsureInstanceConcurrent", testEnsureInstanceConcurrent},
		{"InstanceLists", testInstanceLists},
		{"InstanceCascade", testInstanceCascade},
		{"Operations", testOperations},
		{"OperationFilter", testOperationFilter},
		{"OperationCascade", testOperationCascade},
		{"Settings", testSettings},
		{"CreateSettingConcurrent", testCreateSettingConcurrent},
		{"InfraForeignKeys", testInfraForeignKeys},
		{"ImageProducts", testImageProducts},
		{"ImageProductConflicts", testImageProductConflicts},
		{"ImageFiles", testImageFiles},
		{"ImageFileConcurrent", testImageFileConcurrent},
		{"ImageInTxRollback", testImageInTxRollback},
		{"InfraInTxRollback", testInfraInTxRollback},
		{"CascadeUserDelete", testCascadeUserDelete},
		{"ForeignKeys", testForeignKeys},
		{"InTxCommit", testInTxCommit},
		{"InTxRollbackError", testInTxRollbackError},
		{"InTxRollbackPanic", testInTxRollbackPanic},
		{"InTxNested", testInTxNested},
		{"TimeRoundTrip", testTimeRoundTrip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// ---- helpers ----------------------------------------------------------------

func ctx(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func isErr(t *testing.T, err, want error, what string) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
	if err.Error() == want.Error() {
		t.Errorf("%s: error %q does not say what was %v", what, err, want)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

// ts returns a fixed UTC time with microsecond precision, offset by d.
func ts(d time.Duration) time.Time {
	return time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC).Add(d)
}

func mkUser(t *testing.T, s store.Store, login string) store.User {
	t.Helper()
	u := store.User{Login: login, Email: login + "@example.org", Name: "User " + login, PasswordHash: "$argon2id$x"}
	must(t, s.CreateUser(ctx(t), &u))
	if u.ID == 0 {
		t.Fatal("CreateUser did not set ID")
	}
	return u
}

func mkSession(t *testing.T, s store.Store, userID, serverID int64, state string, started time.Time) store.Session {
	t.Helper()
	v := store.Session{UserID: userID, ServerID: serverID, State: state, StartedAt: started, Login: "u", Name: "s"}
	must(t, s.CreateSession(ctx(t), &v))
	if v.ID == "" {
		t.Fatal("CreateSession did not set ID")
	}
	return v
}

func count[T any](t *testing.T, what string, list []T, err error, want int) {
	t.Helper()
	must(t, err)
	if len(list) != want {
		t.Fatalf("%s: got %d rows, want %d: %+v", what, len(list), want, list)
	}
}

// ---- tests ------------------------------------------------------------------

func testBasics(t *testing.T, s store.Store) {
	if b := s.Backend(); b != "sqlite" && b != "postgres" {
		t.Errorf("Backend() = %q", b)
	}
	must(t, s.Ping(ctx(t)))
	n, err := s.CountUsers(ctx(t))
	must(t, err)
	if n != 0 {
		t.Fatalf("fresh store has %d users", n)
	}
}

func testUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	u := store.User{Login: "alice", Email: "alice@example.org", Name: "Alice", PasswordHash: "h1",
		Admin: true, PasswordLocked: true, Disabled: true, Provider: store.ProviderSSH}
	must(t, s.CreateUser(c, &u))
	if u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() || u.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateUser did not set times in UTC: %+v", u)
	}
	got, err := s.GetUser(c, u.ID)
	must(t, err)
	equal(t, "GetUser", got, u)
	got, err = s.GetUserByLogin(c, "alice")
	must(t, err)
	equal(t, "GetUserByLogin", got, u)
	got, err = s.GetUserByEmail(c, "alice@example.org")
	must(t, err)
	equal(t, "GetUserByEmail", got, u)

	// Defaults; users without email can coexist.
	b := store.User{Login: "bob"}
	must(t, s.CreateUser(c, &b))
	if b.Provider != store.ProviderLocal {
		t.Errorf("default provider %q", b.Provider)
	}
	c2 := store.User{Login: "carol"}
	must(t, s.CreateUser(c, &c2))
	got, err = s.GetUser(c, c2.ID)
	must(t, err)
	equal(t, "user without email", got, c2)
	_, err = s.GetUserByEmail(c, "")
	isErr(t, err, store.ErrNotFound, "GetUserByEmail(\"\")")

	users, err := s.ListUsers(c)
	count(t, "ListUsers", users, err, 3)
	if users[0].Login != "alice" || users[1].Login != "bob" || users[2].Login != "carol" {
		t.Errorf("ListUsers order: %+v", users)
	}
	n, err := s.CountUsers(c)
	must(t, err)
	if n != 3 {
		t.Errorf("CountUsers = %d", n)
	}

	// Update.
	u.Name, u.Email, u.Admin, u.Disabled, u.PasswordLocked, u.PasswordHash = "Alice B", "ab@example.org", false, false, false, "h2"
	must(t, s.UpdateUser(c, &u))
	got, err = s.GetUser(c, u.ID)
	must(t, err)
	equal(t, "after UpdateUser", got, u)
	if _, err := s.GetUserByEmail(c, "alice@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old email still found: %v", err)
	}

	// Not found.
	_, err = s.GetUser(c, 9999)
	isErr(t, err, store.ErrNotFound, "GetUser(9999)")
	_, err = s.GetUserByLogin(c, "nobody")
	isErr(t, err, store.ErrNotFound, "GetUserByLogin(nobody)")
	_, err = s.GetUserByEmail(c, "nobody@example.org")
	isErr(t, err, store.ErrNotFound, "GetUserByEmail(nobody)")
	isErr(t, s.UpdateUser(c, &store.User{ID: 9999, Login: "x"}), store.ErrNotFound, "UpdateUser(9999)")
	isErr(t, s.DeleteUser(c, 9999), store.ErrNotFound, "DeleteUser(9999)")

	// Delete.
	must(t, s.DeleteUser(c, b.ID))
	_, err = s.GetUser(c, b.ID)
	isErr(t, err, store.ErrNotFound, "GetUser(deleted)")
	isErr(t, s.DeleteUser(c, b.ID), store.ErrNotFound, "DeleteUser twice")
	n, err = s.CountUsers(c)
	must(t, err)
	if n != 2 {
		t.Errorf("CountUsers after delete = %d", n)
	}
}

func testUserConflicts(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	isErr(t, s.CreateUser(c, &store.User{Login: "alice"}), store.ErrConflict, "duplicate login")
	isErr(t, s.CreateUser(c, &store.User{Login: "alice2", Email: a.Email}), store.ErrConflict, "duplicate email")
	b.Login = "alice"
	isErr(t, s.UpdateUser(c, &b), store.ErrConflict, "update to duplicate login")
	b.Login, b.Email = "bob", a.Email
	isErr(t, s.UpdateUser(c, &b), store.ErrConflict, "update to duplicate email")
	n, err := s.CountUsers(c)
	must(t, err)
	if n != 2 {
		t.Errorf("CountUsers = %d after failed creates", n)
	}
}

func testTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	tok := store.Token{UserID: u.ID, Name: "tok-1", Type: store.TokenUserLogin, Hash: []byte{1, 2, 3, 0, 255},
		ExpiresAt: ts(time.Hour)}
	must(t, s.CreateToken(c, &tok))
	if tok.ID == 0 || tok.CreatedAt.IsZero() {
		t.Fatalf("CreateToken did not set ID/CreatedAt: %+v", tok)
	}
	got, err := s.GetTokenByHash(c, []byte{1, 2, 3, 0, 255})
	must(t, err)
	equal(t, "GetTokenByHash", got, tok)
	got, gotUser, err := s.GetTokenUser(c, []byte{1, 2, 3, 0, 255})
	must(t, err)
	equal(t, "GetTokenUser token", got, tok)
	equal(t, "GetTokenUser account", gotUser, u)
	_, _, err = s.GetTokenUser(c, []byte("nope"))
	isErr(t, err, store.ErrNotFound, "GetTokenUser(nope)")
	got, err = s.GetTokenByName(c, u.ID, "tok-1")
	must(t, err)
	equal(t, "GetTokenByName", got, tok)
	got, err = s.GetToken(c, tok.ID)
	must(t, err)
	equal(t, "GetToken", got, tok)

	tok2 := store.Token{UserID: u.ID, Name: "tok-2", Type: store.TokenSystemAPI, Hash: []byte("h2")}
	must(t, s.CreateToken(c, &tok2))
	toks, err := s.ListTokens(c, u.ID)
	count(t, "ListTokens", toks, err, 2)
	equal(t, "ListTokens[1]", toks[1], tok2)
	other := mkUser(t, s, "bob")
	toks, err = s.ListTokens(c, other.ID)
	count(t, "ListTokens(other)", toks, err, 0)

	// Conflicts.
	isErr(t, s.CreateToken(c, &store.Token{UserID: u.ID, Name: "tok-3", Type: "x", Hash: tok.Hash}), store.ErrConflict, "duplicate hash")
	isErr(t, s.CreateToken(c, &store.Token{UserID: other.ID, Name: "tok-1", Type: "x", Hash: []byte("h3")}), store.ErrConflict, "duplicate name")

	// Not found.
	_, err = s.GetTokenByHash(c, []byte("nope"))
	isErr(t, err, store.ErrNotFound, "GetTokenByHash(nope)")
	_, err = s.GetTokenByName(c, other.ID, "tok-1")
	isErr(t, err, store.ErrNotFound, "GetTokenByName(other user)")
	_, err = s.GetToken(c, 9999)
	isErr(t, err, store.ErrNotFound, "GetToken(9999)")
	isErr(t, s.RevokeToken(c, 9999, ts(0)), store.ErrNotFound, "RevokeToken(9999)")
	isErr(t, s.TouchToken(c, 9999, ts(0)), store.ErrNotFound, "TouchToken(9999)")
	isErr(t, s.ExtendToken(c, 9999, ts(0)), store.ErrNotFound, "ExtendToken(9999)")

	// Extend moves the expiry.
	must(t, s.ExtendToken(c, tok.ID, ts(48*time.Hour)))
	got, err = s.GetTokenByHash(c, tok.Hash)
	must(t, err)
	equal(t, "ExpiresAt", got.ExpiresAt, ts(48*time.Hour))

	// Touch, revoke (the first revocation time sticks).
	must(t, s.TouchToken(c, tok.ID, ts(time.Minute)))
	must(t, s.RevokeToken(c, tok.ID, ts(2*time.Minute)))
	must(t, s.RevokeToken(c, tok.ID, ts(3*time.Minute)))
	got, err = s.GetTokenByHash(c, tok.Hash)
	must(t, err)
	equal(t, "LastUsedAt", got.LastUsedAt, ts(time.Minute))
	equal(t, "RevokedAt", got.RevokedAt, ts(2*time.Minute))
	got, err = s.GetTokenByHash(c, tok2.Hash)
	must(t, err)
	if !got.RevokedAt.IsZero() || !got.LastUsedAt.IsZero() {
		t.Errorf("other token changed: %+v", got)
	}
}

func testRevokeUserTokens(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	o := mkUser(t, s, "bob")
	var ids []int64
	for i, typ := range []string{store.TokenUserLogin, store.TokenUserLogin, store.TokenUserLogin, store.TokenSystemAPI} {
		tk := store.Token{UserID: u.ID, Name: fmt.Sprintf("a%d", i), Type: typ, Hash: []byte(fmt.Sprintf("a%d", i))}
		must(t, s.CreateToken(c, &tk))
		ids = append(ids, tk.ID)
	}
	must(t, s.CreateToken(c, &store.Token{UserID: o.ID, Name: "b", Type: store.TokenUserLogin, Hash: []byte("b")}))
	must(t, s.RevokeToken(c, ids[1], ts(0)))

	n, err := s.RevokeUserTokens(c, u.ID, store.TokenUserLogin, ids[0], ts(time.Hour))
	must(t, err)
	if n != 1 { // ids[0] excepted, ids[1] already revoked, ids[3] other type
		t.Fatalf("RevokeUserTokens revoked %d, want 1", n)
	}
	toks, err := s.ListTokens(c, u.ID)
	count(t, "ListTokens", toks, err, 4)
	want := []time.Time{{}, ts(0), ts(time.Hour), {}}
	for i, tk := range toks {
		equal(t, "RevokedAt of "+tk.Name, tk.RevokedAt, want[i])
	}
	n, err = s.RevokeUserTokens(c, u.ID, "", 0, ts(2*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("RevokeUserTokens(all types) revoked %d, want 2", n)
	}
	tk, err := s.GetTokenByName(c, o.ID, "b")
	must(t, err)
	if !tk.RevokedAt.IsZero() {
		t.Error("other user's token revoked")
	}
	n, err = s.RevokeUserTokens(c, 9999, "", 0, ts(0))
	must(t, err)
	if n != 0 {
		t.Errorf("RevokeUserTokens(missing user) = %d", n)
	}
}

func testCodes(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	now := ts(0)
	code := store.Code{UserID: u.ID, Purpose: "recovery", Hash: []byte("c1"), Email: "a@example.org",
		Data: `{"k":"v"}`, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	must(t, s.CreateCode(c, &code))
	if code.ID == 0 {
		t.Fatal("CreateCode did not set ID")
	}
	isErr(t, s.CreateCode(c, &store.Code{Purpose: "register", Hash: []byte("c1")}), store.ErrConflict, "duplicate code hash")

	// Wrong purpose, unknown hash.
	_, err := s.ConsumeCode(c, "register", []byte("c1"), now)
	isErr(t, err, store.ErrNotFound, "ConsumeCode(wrong purpose)")
	_, err = s.ConsumeCode(c, "recovery", []byte("nope"), now)
	isErr(t, err, store.ErrNotFound, "ConsumeCode(unknown)")

	got, err := s.ConsumeCode(c, "recovery", []byte("c1"), now.Add(time.Minute))
	must(t, err)
	want := code
	want.UsedAt = now.Add(time.Minute)
	equal(t, "ConsumeCode", got, want)
	_, err = s.ConsumeCode(c, "recovery", []byte("c1"), now.Add(2*time.Minute))
	isErr(t, err, store.ErrNotFound, "second ConsumeCode")

	// Expired: refused at and after expiry.
	exp := store.Code{Purpose: "register", Hash: []byte("c2"), ExpiresAt: now.Add(time.Minute)}
	must(t, s.CreateCode(c, &exp))
	_, err = s.ConsumeCode(c, "register", []byte("c2"), now.Add(time.Minute))
	isErr(t, err, store.ErrNotFound, "ConsumeCode(expired)")
	got, err = s.ConsumeCode(c, "register", []byte("c2"), now.Add(time.Minute-time.Microsecond))
	must(t, err)
	if got.UserID != 0 {
		t.Errorf("code without user came back with UserID %d", got.UserID)
	}

	// No expiry.
	forever := store.Code{Purpose: "email", Hash: []byte("c3")}
	must(t, s.CreateCode(c, &forever))
	_, err = s.ConsumeCode(c, "email", []byte("c3"), now.Add(100*365*24*time.Hour))
	must(t, err)
}

// testLastingCodes: codes found without being used (desktop-scoped tokens), listed, got by id, used
// once (revoked).
func testLastingCodes(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "dora")
	now := ts(0)
	a := store.Code{UserID: u.ID, Purpose: "desktop", Hash: []byte("d1"), Data: `{"session":"s1"}`, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	b := store.Code{Purpose: "desktop", Hash: []byte("d2"), CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	must(t, s.CreateCode(c, &a))
	must(t, s.CreateCode(c, &b))
	must(t, s.CreateCode(c, &store.Code{Purpose: "recovery", Hash: []byte("d3"), CreatedAt: now}))
	for i := 0; i < 2; i++ { // found, and found again: not used
		got, err := s.FindCode(c, "desktop", []byte("d1"), now.Add(time.Minute))
		must(t, err)
		equal(t, "FindCode", got, a)
	}
	_, err := s.FindCode(c, "recovery", []byte("d1"), now)
	isErr(t, err, store.ErrNotFound, "FindCode(wrong purpose)")
	_, err = s.FindCode(c, "desktop", []byte("d2"), now.Add(time.Minute))
	isErr(t, err, store.ErrNotFound, "FindCode(expired)")
	l, err := s.ListCodes(c, "desktop", now.Add(30*time.Second))
	must(t, err)
	if len(l) != 2 || l[0].ID != a.ID || l[1].ID != b.ID {
		t.Fatalf("ListCodes: %+v", l)
	}
	if l, _ = s.ListCodes(c, "desktop", now.Add(2*time.Minute)); len(l) != 1 {
		t.Fatalf("ListCodes after b expired: %+v", l)
	}
	got, err := s.GetCode(c, b.ID)
	must(t, err)
	equal(t, "GetCode", got, b)
	must(t, s.UseCode(c, a.ID, now.Add(2*time.Minute)))
	isErr(t, s.UseCode(c, a.ID, now.Add(3*time.Minute)), store.ErrNotFound, "UseCode twice")
	_, err = s.FindCode(c, "desktop", []byte("d1"), now.Add(2*time.Minute))
	isErr(t, err, store.ErrNotFound, "FindCode(used)")
	got, err = s.GetCode(c, a.ID)
	must(t, err)
	if got.UsedAt.IsZero() {
		t.Fatal("GetCode: a used code shows unused")
	}
	_, err = s.GetCode(c, 99999)
	isErr(t, err, store.ErrNotFound, "GetCode(missing)")
}

func testConsumeCodeConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	now := ts(0)
	must(t, s.CreateCode(c, &store.Code{Purpose: "register", Hash: []byte("race"), ExpiresAt: now.Add(time.Hour)}))
	const n = 20
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		wins     int
		failures []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := s.ConsumeCode(c, "register", []byte("race"), now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, store.ErrNotFound):
				failures = append(failures, err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins != 1 || len(failures) > 0 {
		t.Fatalf("%d of %d concurrent ConsumeCode calls won (want 1); unexpected errors: %v", wins, n, failures)
	}
}

func testDeleteExpiredCodes(t *testing.T, s store.Store) {
	c := ctx(t)
	now := ts(0)
	for i, exp := range []time.Time{now.Add(-time.Hour), now, now.Add(time.Hour), {}} {
		must(t, s.CreateCode(c, &store.Code{Purpose: "p", Hash: fmt.Appendf(nil, "e%d", i), ExpiresAt: exp}))
	}
	must(t, s.CreateCode(c, &store.Code{Purpose: "p", Hash: []byte("used"), ExpiresAt: now.Add(time.Hour)}))
	_, err := s.ConsumeCode(c, "p", []byte("used"), now)
	must(t, err)

	n, err := s.DeleteExpiredCodes(c, now)
	must(t, err)
	if n != 3 { // two expired (at or before now) + one used
		t.Fatalf("DeleteExpiredCodes = %d, want 3", n)
	}
	for _, h := range []string{"e2", "e3"} {
		if _, err := s.ConsumeCode(c, "p", []byte(h), now); err != nil {
			t.Errorf("code %s should survive: %v", h, err)
		}
	}
}

func testSSHKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	o := mkUser(t, s, "bob")
	k := store.SSHKey{UserID: u.ID, Name: "laptop", PublicKey: "ssh-ed25519 AAAA alice@laptop", Fingerprint: "SHA256:abc"}
	must(t, s.CreateSSHKey(c, &k))
	got, err := s.GetSSHKey(c, u.ID, k.ID)
	must(t, err)
	equal(t, "GetSSHKey", got, k)
	// Same fingerprint: conflict for the same user, fine for another.
	isErr(t, s.CreateSSHKey(c, &store.SSHKey{UserID: u.ID, PublicKey: "x", Fingerprint: "SHA256:abc"}), store.ErrConflict, "duplicate fingerprint")
	k2 := store.SSHKey{UserID: o.ID, PublicKey: "x", Fingerprint: "SHA256:abc"}
	must(t, s.CreateSSHKey(c, &k2))
	k3 := store.SSHKey{UserID: u.ID, Name: "desk", PublicKey: "y", Fingerprint: "SHA256:def"}
	must(t, s.CreateSSHKey(c, &k3))
	keys, err := s.ListSSHKeys(c, u.ID)
	count(t, "ListSSHKeys", keys, err, 2)
	equal(t, "ListSSHKeys", keys, []store.SSHKey{k, k3})

	// Other user's key is invisible.
	_, err = s.GetSSHKey(c, u.ID, k2.ID)
	isErr(t, err, store.ErrNotFound, "GetSSHKey(other user's)")
	isErr(t, s.DeleteSSHKey(c, u.ID, k2.ID), store.ErrNotFound, "DeleteSSHKey(other user's)")
	must(t, s.DeleteSSHKey(c, u.ID, k.ID))
	_, err = s.GetSSHKey(c, u.ID, k.ID)
	isErr(t, err, store.ErrNotFound, "GetSSHKey(deleted)")
	keys, err = s.ListSSHKeys(c, u.ID)
	count(t, "ListSSHKeys after delete", keys, err, 1)
}

func testCredentials(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	cr := store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte{0, 1, 2, 250}, PublicKey: []byte("pk"),
		AttestationType: "none", AAGUID: make([]byte, 16), SignCount: 4294967295, Transports: "usb,nfc",
		Name: "yubikey", Data: `{"id":"AAEC+g"}`}
	must(t, s.CreateCredential(c, &cr))
	got, err := s.GetCredentialByCredentialID(c, []byte{0, 1, 2, 250})
	must(t, err)
	equal(t, "GetCredentialByCredentialID", got, cr)
	isErr(t, s.CreateCredential(c, &store.WebAuthnCredential{UserID: u.ID, CredentialID: cr.CredentialID, PublicKey: []byte("x")}),
		store.ErrConflict, "duplicate credential id")
	cr2 := store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("c2"), PublicKey: []byte("pk2")}
	must(t, s.CreateCredential(c, &cr2))
	list, err := s.ListCredentials(c, u.ID)
	count(t, "ListCredentials", list, err, 2)
	equal(t, "ListCredentials[1]", list[1], cr2)

	cr.SignCount, cr.LastUsedAt, cr.Name = 17, ts(time.Second), "renamed"
	must(t, s.UpdateCredential(c, &cr))
	got, err = s.GetCredentialByCredentialID(c, cr.CredentialID)
	must(t, err)
	equal(t, "after UpdateCredential", got, cr)
	isErr(t, s.UpdateCredential(c, &store.WebAuthnCredential{ID: 9999}), store.ErrNotFound, "UpdateCredential(9999)")

	_, err = s.GetCredentialByCredentialID(c, []byte("nope"))
	isErr(t, err, store.ErrNotFound, "GetCredentialByCredentialID(nope)")
	o := mkUser(t, s, "bob")
	isErr(t, s.DeleteCredential(c, o.ID, cr.ID), store.ErrNotFound, "DeleteCredential(other user)")
	must(t, s.DeleteCredential(c, u.ID, cr.ID))
	isErr(t, s.DeleteCredential(c, u.ID, cr.ID), store.ErrNotFound, "DeleteCredential twice")
	list, err = s.ListCredentials(c, u.ID)
	count(t, "ListCredentials after delete", list, err, 1)
}

func testServers(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	a := store.Server{OwnerID: u.ID, Name: "lxd1", Provider: "lxd", Protocol: "https", Host: "127.0.0.1", Port: 8443,
		CertFingerprint: "ab:cd", State: "online", Config: `{"project":"default"}`}
	must(t, s.CreateServer(c, &a))
	b := store.Server{Name: "local", Provider: "local", Path: "/run/deskhub/agent.sock"}
	must(t, s.CreateServer(c, &b))
	got, err := s.GetServer(c, a.ID)
	must(t, err)
	equal(t, "GetServer", got, a)
	got, err = s.GetServerByName(c, "local")
	must(t, err)
	equal(t, "GetServerByName", got, b)
	isErr(t, s.CreateServer(c, &store.Server{Name: "lxd1", Provider: "lxd"}), store.ErrConflict, "duplicate server name")

	all, err := s.ListServers(c, 0)
	count(t, "ListServers(0)", all, err, 2)
	mine, err := s.ListServers(c, u.ID)
	count(t, "ListServers(owner)", mine, err, 1)
	equal(t, "ListServers(owner)", mine[0], a)

	a.State, a.Port, a.Config = "offline", 9443, `{}`
	must(t, s.UpdateServer(c, &a))
	got, err = s.GetServer(c, a.ID)
	must(t, err)
	equal(t, "after UpdateServer", got, a)
	b.Name = "lxd1"
	isErr(t, s.UpdateServer(c, &b), store.ErrConflict, "rename to existing name")

	_, err = s.GetServer(c, 9999)
	isErr(t, err, store.ErrNotFound, "GetServer(9999)")
	_, err = s.GetServerByName(c, "nope")
	isErr(t, err, store.ErrNotFound, "GetServerByName(nope)")
	isErr(t, s.UpdateServer(c, &store.Server{ID: 9999, Name: "x"}), store.ErrNotFound, "UpdateServer(9999)")
	must(t, s.DeleteServer(c, a.ID))
	isErr(t, s.DeleteServer(c, a.ID), store.ErrNotFound, "DeleteServer twice")

	// Deleting the owner keeps the server, unowned.
	must(t, s.DeleteUser(c, u.ID))
	c2 := store.Server{OwnerID: 0, Name: "x", Provider: "local"}
	must(t, s.CreateServer(c, &c2))
	all, err = s.ListServers(c, 0)
	count(t, "ListServers after owner delete", all, err, 2)
}

func testSessions(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	srv := store.Server{Name: "local", Provider: "local"}
	must(t, s.CreateServer(c, &srv))
	v := store.Session{ID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", UserID: u.ID, ServerID: srv.ID, Login: "alice",
		Name: "Desktop", Command: "startxfce4", Display: ":10", Geometry: "1920x1080", WindowMode: "desktop",
		Params: map[string]string{"dpi": "96", "keyboard": "de", "quote\"": "ü€"}, State: store.SessionRunning,
		AppPID: 1234, ServerPID: 1200, Hostname: "host1", Runtime: `{"socket":"/run/x.sock"}`,
		StartedAt: ts(0), LastConnect: ts(time.Second), ScheduledAt: ts(-time.Second)}
	must(t, s.CreateSession(c, &v))
	got, err := s.GetSession(c, v.ID)
	must(t, err)
	equal(t, "GetSession", got, v)
	isErr(t, s.CreateSession(c, &store.Session{ID: v.ID, UserID: u.ID, State: "starting"}), store.ErrConflict, "duplicate session id")

	// Generated id and default state; nil params round-trip as nil.
	w := store.Session{UserID: u.ID}
	must(t, s.CreateSession(c, &w))
	if len(w.ID) != 36 || w.State != store.SessionStarting {
		t.Errorf("CreateSession defaults: id %q state %q", w.ID, w.State)
	}
	got, err = s.GetSession(c, w.ID)
	must(t, err)
	equal(t, "session with defaults", got, w)

	v.State, v.EndedAt, v.LastDisconnect, v.Params, v.AppPID = store.SessionEnded, ts(time.Hour), ts(time.Minute), map[string]string{"a": "b"}, 0
	must(t, s.UpdateSession(c, &v))
	got, err = s.GetSession(c, v.ID)
	must(t, err)
	equal(t, "after UpdateSession", got, v)

	_, err = s.GetSession(c, "nope")
	isErr(t, err, store.ErrNotFound, "GetSession(nope)")
	isErr(t, s.UpdateSession(c, &store.Session{ID: "nope", UserID: u.ID, State: "x"}), store.ErrNotFound, "UpdateSession(nope)")
	must(t, s.DeleteSession(c, v.ID))
	isErr(t, s.DeleteSession(c, v.ID), store.ErrNotFound, "DeleteSession twice")

	// Deleting the server keeps the session, without server.
	x := mkSession(t, s, u.ID, srv.ID, store.SessionRunning, ts(0))
	must(t, s.DeleteServer(c, srv.ID))
	got, err = s.GetSession(c, x.ID)
	must(t, err)
	if got.ServerID != 0 {
		t.Errorf("session still points at deleted server %d", got.ServerID)
	}
}

func testSessionFilter(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	s1 := store.Server{Name: "s1", Provider: "local"}
	s2 := store.Server{Name: "s2", Provider: "lxd"}
	must(t, s.CreateServer(c, &s1))
	must(t, s.CreateServer(c, &s2))
	a1 := mkSession(t, s, a.ID, s1.ID, store.SessionRunning, ts(1*time.Second))
	a2 := mkSession(t, s, a.ID, s2.ID, store.SessionEnded, ts(2*time.Second))
	a3 := mkSession(t, s, a.ID, s1.ID, store.SessionStarting, time.Time{})
	b1 := mkSession(t, s, b.ID, s1.ID, store.SessionRunning, ts(0))

	ids := func(f store.SessionFilter) []string {
		t.Helper()
		list, err := s.ListSessions(c, f)
		must(t, err)
		var out []string
		for _, v := range list {
			out = append(out, v.ID)
		}
		return out
	}
	equal(t, "all", ids(store.SessionFilter{}), []string{b1.ID, a1.ID, a2.ID, a3.ID})
	equal(t, "user a", ids(store.SessionFilter{UserID: a.ID}), []string{a1.ID, a2.ID, a3.ID})
	equal(t, "server s1", ids(store.SessionFilter{ServerID: s1.ID}), []string{b1.ID, a1.ID, a3.ID})
	equal(t, "user a, server s1", ids(store.SessionFilter{UserID: a.ID, ServerID: s1.ID}), []string{a1.ID, a3.ID})
	equal(t, "running", ids(store.SessionFilter{States: []string{store.SessionRunning}}), []string{b1.ID, a1.ID})
	equal(t, "starting|running of a", ids(store.SessionFilter{UserID: a.ID, States: []string{store.SessionStarting, store.SessionRunning}}),
		[]string{a1.ID, a3.ID})
	equal(t, "none", ids(store.SessionFilter{UserID: b.ID, States: []string{store.SessionEnded}}), []string(nil))
}

func testBookmarks(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	bm := store.Bookmark{ID: "b1", UserID: u.ID, Kind: store.BookmarkKindBookmark, Name: "Firefox", Command: "firefox",
		Geometry: "1280x800", Tags: []string{"web", "ü"}}
	must(t, s.PutBookmark(c, &bm))
	h := store.Bookmark{ID: "b1", UserID: u.ID, Kind: store.BookmarkKindHistory, Name: "Firefox", Command: "firefox"}
	must(t, s.PutBookmark(c, &h)) // same id, other kind: separate row
	list, err := s.ListBookmarks(c, u.ID, store.BookmarkKindBookmark)
	count(t, "ListBookmarks(bookmark)", list, err, 1)
	equal(t, "bookmark", list[0], bm)
	list, err = s.ListBookmarks(c, u.ID, store.BookmarkKindHistory)
	count(t, "ListBookmarks(history)", list, err, 1)
	equal(t, "history", list[0], h)
	if list[0].Tags != nil {
		t.Errorf("empty tags came back as %#v", list[0].Tags)
	}

	// Upsert keeps CreatedAt, replaces the rest.
	created := bm.CreatedAt
	time.Sleep(2 * time.Millisecond)
	upd := store.Bookmark{ID: "b1", UserID: u.ID, Kind: store.BookmarkKindBookmark, Name: "FF", Tags: []string{"x"}}
	must(t, s.PutBookmark(c, &upd))
	equal(t, "CreatedAt after upsert", upd.CreatedAt, created)
	if !upd.UpdatedAt.After(created) {
		t.Errorf("UpdatedAt %v not after %v", upd.UpdatedAt, created)
	}
	list, err = s.ListBookmarks(c, u.ID, store.BookmarkKindBookmark)
	count(t, "ListBookmarks after upsert", list, err, 1)
	equal(t, "upserted", list[0], upd)

	// Generated id; most recently updated first.
	time.Sleep(2 * time.Millisecond)
	n := store.Bookmark{UserID: u.ID, Kind: store.BookmarkKindBookmark, Name: "new"}
	must(t, s.PutBookmark(c, &n))
	if n.ID == "" {
		t.Fatal("PutBookmark did not set ID")
	}
	list, err = s.ListBookmarks(c, u.ID, store.BookmarkKindBookmark)
	count(t, "ListBookmarks", list, err, 2)
	if list[0].ID != n.ID {
		t.Errorf("ListBookmarks not newest first: %+v", list)
	}
	all, err := s.ListBookmarks(c, u.ID, "")
	count(t, "ListBookmarks(all kinds)", all, err, 3)

	isErr(t, s.PutBookmark(c, &store.Bookmark{ID: "x", UserID: 9999, Kind: "bookmark"}), store.ErrNotFound, "PutBookmark(missing user)")
	isErr(t, s.DeleteBookmark(c, u.ID, store.BookmarkKindBookmark, "nope"), store.ErrNotFound, "DeleteBookmark(nope)")
	must(t, s.DeleteBookmark(c, u.ID, store.BookmarkKindHistory, "b1"))
	list, err = s.ListBookmarks(c, u.ID, store.BookmarkKindHistory)
	count(t, "history after delete", list, err, 0)
	list, err = s.ListBookmarks(c, u.ID, store.BookmarkKindBookmark)
	count(t, "bookmarks after deleting history", list, err, 2)
}

func kh(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

func testShares(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	v := mkSession(t, s, u.ID, 0, store.SessionRunning, ts(0))
	w := mkSession(t, s, u.ID, 0, store.SessionRunning, ts(0))
	sh := store.Share{SessionID: v.ID, KeyHash: kh("k1"), Perms: []string{"view", "input"}, Timeout: 3600, CreatedBy: u.ID, CreatedAt: ts(0)}
	must(t, s.CreateShare(c, &sh))
	if len(sh.ID) < 8 {
		t.Fatalf("CreateShare made id %q", sh.ID)
	}
	got, err := s.GetShare(c, v.ID, kh("k1"))
	must(t, err)
	equal(t, "GetShare", got, sh)
	got, err = s.GetShareByID(c, sh.ID)
	must(t, err)
	equal(t, "GetShareByID", got, sh)
	sh2 := store.Share{ID: "given-id", SessionID: v.ID, KeyHash: kh("k2"), CreatedAt: ts(time.Second)}
	must(t, s.CreateShare(c, &sh2))
	isErr(t, s.CreateShare(c, &store.Share{SessionID: w.ID, KeyHash: kh("k1")}), store.ErrConflict, "duplicate share key")
	isErr(t, s.CreateShare(c, &store.Share{ID: "given-id", SessionID: w.ID, KeyHash: kh("k5")}), store.ErrConflict, "duplicate share id")
	isErr(t, s.CreateShare(c, &store.Share{SessionID: "nope", KeyHash: kh("k9")}), store.ErrNotFound, "CreateShare(missing session)")
	if err := s.CreateShare(c, &store.Share{SessionID: v.ID}); err == nil {
		t.Error("CreateShare without a key hash succeeded")
	}
	list, err := s.ListShares(c, v.ID)
	count(t, "ListShares", list, err, 2)
	equal(t, "ListShares", list, []store.Share{sh, sh2})

	sh.Perms, sh.Timeout = []string{"view"}, 60
	must(t, s.UpdateShare(c, &sh))
	got, err = s.GetShare(c, v.ID, kh("k1"))
	must(t, err)
	equal(t, "after UpdateShare", got, sh)

	for name, err := range map[string]error{
		"GetShare(wrong session)": second(s.GetShare(c, w.ID, kh("k1"))),
		"GetShare(plaintext key)": second(s.GetShare(c, v.ID, []byte("k1"))),
		"GetShare(no hash)":       second(s.GetShare(c, v.ID, nil)),
		"GetShareByID(nope)":      second(s.GetShareByID(c, "nope")),
	} {
		isErr(t, err, store.ErrNotFound, name)
	}
	isErr(t, s.UpdateShare(c, &store.Share{SessionID: v.ID, ID: "nope"}), store.ErrNotFound, "UpdateShare(nope)")
	isErr(t, s.DeleteShare(c, w.ID, sh.ID), store.ErrNotFound, "DeleteShare(wrong session)")
	must(t, s.DeleteShare(c, v.ID, sh.ID))
	isErr(t, s.DeleteShare(c, v.ID, sh.ID), store.ErrNotFound, "DeleteShare twice")
	_, err = s.GetShareByID(c, sh.ID)
	isErr(t, err, store.ErrNotFound, "GetShareByID after DeleteShare")

	must(t, s.CreateShare(c, &store.Share{SessionID: v.ID, KeyHash: kh("k3")}))
	must(t, s.CreateShare(c, &store.Share{SessionID: w.ID, KeyHash: kh("k4")}))
	n, err := s.DeleteShares(c, v.ID)
	must(t, err)
	if n != 2 {
		t.Errorf("DeleteShares = %d, want 2", n)
	}
	list, err = s.ListShares(c, w.ID)
	count(t, "other session's shares", list, err, 1)

	// Shares go with their session.
	must(t, s.DeleteSession(c, w.ID))
	list, err = s.ListShares(c, w.ID)
	count(t, "shares of deleted session", list, err, 0)
}

func second[T any](_ T, err error) error { return err }

func testAudit(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	var want []store.AuditEntry
	for i := range 5 {
		e := store.AuditEntry{At: ts(time.Duration(i) * time.Second), Actor: "alice", Action: fmt.Sprintf("a%d", i),
			Target: "user:1", Detail: `{"i":1}`, RemoteAddr: "127.0.0.1:1234"}
		if i%2 == 0 {
			e.UserID = u.ID
		}
		must(t, s.AppendAudit(c, &e))
		if e.ID == 0 {
			t.Fatal("AppendAudit did not set ID")
		}
		want = append(want, e)
	}
	noTime := store.AuditEntry{Action: "now"}
	must(t, s.AppendAudit(c, &noTime))
	if noTime.At.IsZero() {
		t.Fatal("AppendAudit did not set At")
	}

	all, err := s.ListAudit(c, store.AuditFilter{})
	count(t, "ListAudit", all, err, 6)
	equal(t, "newest first", all[0], noTime)
	equal(t, "then", all[1], want[4])
	equal(t, "oldest last", all[5], want[0])

	lim, err := s.ListAudit(c, store.AuditFilter{Limit: 2})
	count(t, "ListAudit(limit 2)", lim, err, 2)
	equal(t, "limited", lim, all[:2])

	mine, err := s.ListAudit(c, store.AuditFilter{UserID: u.ID, Limit: 2})
	count(t, "ListAudit(user, limit 2)", mine, err, 2)
	equal(t, "user's newest", mine, []store.AuditEntry{want[4], want[2]})

	// By login (actor or target), by time, and in pages after an entry.
	must(t, s.AppendAudit(c, &store.AuditEntry{At: ts(10 * time.Second), Actor: "root", Action: "admin.userLock", Target: "carol"}))
	must(t, s.AppendAudit(c, &store.AuditEntry{At: ts(11 * time.Second), Actor: "carol", Action: "user.login", Target: "tok"}))
	carol, err := s.ListAudit(c, store.AuditFilter{Login: "carol"})
	count(t, "ListAudit(login carol)", carol, err, 2)
	if carol[0].Actor != "carol" || carol[1].Target != "carol" {
		t.Fatalf("ListAudit(login carol): %+v", carol)
	}
	window, err := s.ListAudit(c, store.AuditFilter{Since: ts(time.Second), Until: ts(3 * time.Second)})
	count(t, "ListAudit(since 1s, until 3s)", window, err, 2)
	equal(t, "time window", window, []store.AuditEntry{want[2], want[1]})
	var paged []store.AuditEntry
	for before := int64(0); ; {
		page, err := s.ListAudit(c, store.AuditFilter{Before: before, Limit: 3})
		must(t, err)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
		before = page[len(page)-1].ID
	}
	all, err = s.ListAudit(c, store.AuditFilter{})
	count(t, "ListAudit after more", all, err, 8)
	equal(t, "pages of 3 = the whole list", paged, all)

	// Entries outlive their user.
	must(t, s.DeleteUser(c, u.ID))
	mine, err = s.ListAudit(c, store.AuditFilter{UserID: u.ID})
	count(t, "ListAudit after user delete", mine, err, 3)
}

func testCascadeUserDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	o := mkUser(t, s, "bob")
	for _, uid := range []int64{u.ID, o.ID} {
		must(t, s.CreateToken(c, &store.Token{UserID: uid, Name: fmt.Sprint("t", uid), Type: "user.login", Hash: fmt.Appendf(nil, "t%d", uid)}))
		must(t, s.CreateCode(c, &store.Code{UserID: uid, Purpose: "p", Hash: fmt.Appendf(nil, "c%d", uid)}))
		must(t, s.CreateSSHKey(c, &store.SSHKey{UserID: uid, PublicKey: "k", Fingerprint: "f"}))
		must(t, s.CreateCredential(c, &store.WebAuthnCredential{UserID: uid, CredentialID: fmt.Appendf(nil, "w%d", uid), PublicKey: []byte("pk")}))
		must(t, s.PutBookmark(c, &store.Bookmark{UserID: uid, Kind: "bookmark", Name: "b"}))
	}
	v := mkSession(t, s, u.ID, 0, store.SessionEnded, ts(0))
	must(t, s.CreateShare(c, &store.Share{SessionID: v.ID, KeyHash: kh("k")}))
	srv := store.Server{OwnerID: u.ID, Name: "srv", Provider: "lxd"}
	must(t, s.CreateServer(c, &srv))

	must(t, s.DeleteUser(c, u.ID))

	toks, err := s.ListTokens(c, u.ID)
	count(t, "tokens", toks, err, 0)
	_, err = s.ConsumeCode(c, "p", fmt.Appendf(nil, "c%d", u.ID), ts(0))
	isErr(t, err, store.ErrNotFound, "code of deleted user")
	keys, err := s.ListSSHKeys(c, u.ID)
	count(t, "ssh keys", keys, err, 0)
	creds, err := s.ListCredentials(c, u.ID)
	count(t, "credentials", creds, err, 0)
	bms, err := s.ListBookmarks(c, u.ID, "")
	count(t, "bookmarks", bms, err, 0)
	sess, err := s.ListSessions(c, store.SessionFilter{UserID: u.ID})
	count(t, "sessions", sess, err, 0)
	shares, err := s.ListShares(c, v.ID)
	count(t, "shares", shares, err, 0)
	got, err := s.GetServer(c, srv.ID)
	must(t, err)
	if got.OwnerID != 0 {
		t.Errorf("server owner not cleared: %d", got.OwnerID)
	}

	// The other user's rows are untouched.
	toks, err = s.ListTokens(c, o.ID)
	count(t, "other's tokens", toks, err, 1)
	keys, err = s.ListSSHKeys(c, o.ID)
	count(t, "other's ssh keys", keys, err, 1)
	creds, err = s.ListCredentials(c, o.ID)
	count(t, "other's credentials", creds, err, 1)
	bms, err = s.ListBookmarks(c, o.ID, "")
	count(t, "other's bookmarks", bms, err, 1)
	_, err = s.ConsumeCode(c, "p", fmt.Appendf(nil, "c%d", o.ID), ts(0))
	must(t, err)
}

func testForeignKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	const missing = 9999
	checks := []struct {
		what string
		err  error
	}{
		{"token", s.CreateToken(c, &store.Token{UserID: missing, Name: "t", Type: "x", Hash: []byte("t")})},
		{"code", s.CreateCode(c, &store.Code{UserID: missing, Purpose: "p", Hash: []byte("c")})},
		{"ssh key", s.CreateSSHKey(c, &store.SSHKey{UserID: missing, PublicKey: "k", Fingerprint: "f"})},
		{"credential", s.CreateCredential(c, &store.WebAuthnCredential{UserID: missing, CredentialID: []byte("w")})},
		{"server", s.CreateServer(c, &store.Server{OwnerID: missing, Name: "s", Provider: "lxd"})},
		{"session", s.CreateSession(c, &store.Session{UserID: missing})},
		{"bookmark", s.PutBookmark(c, &store.Bookmark{UserID: missing, Kind: "bookmark"})},
		{"share", s.CreateShare(c, &store.Share{SessionID: "nope", KeyHash: kh("k")})},
	}
	for _, ch := range checks {
		isErr(t, ch.err, store.ErrNotFound, ch.what+" for missing parent")
	}
	// The message names the parent.
	err := s.CreateToken(c, &store.Token{UserID: missing, Name: "t", Type: "x", Hash: []byte("t")})
	if want := fmt.Sprintf("user %d", missing); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	u := mkUser(t, s, "alice")
	srv := store.Server{Name: "s", Provider: "lxd"}
	must(t, s.CreateServer(c, &srv))
	srv.OwnerID = missing
	isErr(t, s.UpdateServer(c, &srv), store.ErrNotFound, "UpdateServer to missing owner")
	v := mkSession(t, s, u.ID, 0, store.SessionRunning, ts(0))
	v.ServerID = missing
	isErr(t, s.UpdateSession(c, &v), store.ErrNotFound, "UpdateSession to missing server")
}

func testInTxCommit(t *testing.T, s store.Store) {
	c := ctx(t)
	var uid int64
	err := s.InTx(c, func(tx store.Store) error {
		u := store.User{Login: "alice"}
		if err := tx.CreateUser(c, &u); err != nil {
			return err
		}
		uid = u.ID
		// Reads inside the transaction see its writes.
		if _, err := tx.GetUser(c, u.ID); err != nil {
			return err
		}
		return tx.CreateToken(c, &store.Token{UserID: u.ID, Name: "t", Type: "x", Hash: []byte("t")})
	})
	must(t, err)
	_, err = s.GetUser(c, uid)
	must(t, err)
	toks, err := s.ListTokens(c, uid)
	count(t, "tokens after commit", toks, err, 1)
	if s.Backend() == "" {
		t.Fatal("unreachable")
	}
}

func assertEmpty(t *testing.T, s store.Store) {
	t.Helper()
	n, err := s.CountUsers(ctx(t))
	must(t, err)
	if n != 0 {
		t.Fatalf("rollback left %d users", n)
	}
	_, err = s.GetTokenByHash(ctx(t), []byte("t"))
	isErr(t, err, store.ErrNotFound, "token after rollback")
}

func testInTxRollbackError(t *testing.T, s store.Store) {
	c := ctx(t)
	boom := errors.New("boom")
	err := s.InTx(c, func(tx store.Store) error {
		u := store.User{Login: "alice"}
		must(t, tx.CreateUser(c, &u))
		must(t, tx.CreateToken(c, &store.Token{UserID: u.ID, Name: "t", Type: "x", Hash: []byte("t")}))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx returned %v, want the fn's error", err)
	}
	assertEmpty(t, s)
	// The store is still usable.
	mkUser(t, s, "bob")
}

func testInTxRollbackPanic(t *testing.T, s store.Store) {
	c := ctx(t)
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the fn's panic", r)
			}
		}()
		_ = s.InTx(c, func(tx store.Store) error {
			u := store.User{Login: "alice"}
			must(t, tx.CreateUser(c, &u))
			must(t, tx.CreateToken(c, &store.Token{UserID: u.ID, Name: "t", Type: "x", Hash: []byte("t")}))
			panic("kaboom")
		})
		t.Fatal("InTx did not re-panic")
	}()
	assertEmpty(t, s)
	mkUser(t, s, "bob")
}

func testInTxNested(t *testing.T, s store.Store) {
	c := ctx(t)
	// Inner InTx shares the outer transaction: an outer error rolls back
	// what the inner one wrote.
	err := s.InTx(c, func(tx store.Store) error {
		must(t, tx.InTx(c, func(tx2 store.Store) error {
			u := store.User{Login: "alice"}
			if err := tx2.CreateUser(c, &u); err != nil {
				return err
			}
			return tx2.CreateToken(c, &store.Token{UserID: u.ID, Name: "t", Type: "x", Hash: []byte("t")})
		}))
		n, err := tx.CountUsers(c)
		must(t, err)
		if n != 1 {
			t.Errorf("outer tx sees %d users after inner InTx", n)
		}
		return errors.New("outer fails")
	})
	if err == nil {
		t.Fatal("InTx returned nil")
	}
	assertEmpty(t, s)

	// Both levels succeed: committed once.
	err = s.InTx(c, func(tx store.Store) error {
		return tx.InTx(c, func(tx2 store.Store) error {
			return tx2.CreateUser(c, &store.User{Login: "bob"})
		})
	})
	must(t, err)
	_, err = s.GetUserByLogin(c, "bob")
	must(t, err)

	// A conflict inside a transaction is reported as ErrConflict.
	err = s.InTx(c, func(tx store.Store) error {
		return tx.CreateUser(c, &store.User{Login: "bob"})
	})
	isErr(t, err, store.ErrConflict, "conflict inside InTx")
}

func testTimeRoundTrip(t *testing.T, s store.Store) {
	c := ctx(t)
	// A non-UTC time with nanoseconds comes back as the same instant, in
	// UTC, truncated to microseconds.
	loc := time.FixedZone("X", 5*3600+30*60)
	in := time.Date(2031, 12, 31, 23, 59, 59, 123456789, loc)
	want := time.Date(2031, 12, 31, 18, 29, 59, 123456000, time.UTC)
	old := time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC) // before the epoch

	u := store.User{Login: "alice", CreatedAt: in, UpdatedAt: old}
	must(t, s.CreateUser(c, &u))
	got, err := s.GetUser(c, u.ID)
	must(t, err)
	if !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC || got.CreatedAt.Nanosecond() != 123456000 {
		t.Errorf("CreatedAt round trip: got %v (%v), want %v", got.CreatedAt, got.CreatedAt.Location(), want)
	}
	equal(t, "pre-epoch time", got.UpdatedAt, old)
	equal(t, "struct updated to stored form", u, got)

	// Zero times stay zero.
	v := store.Session{UserID: u.ID}
	must(t, s.CreateSession(c, &v))
	gs, err := s.GetSession(c, v.ID)
	must(t, err)
	for name, tm := range map[string]time.Time{"StartedAt": gs.StartedAt, "EndedAt": gs.EndedAt,
		"LastConnect": gs.LastConnect, "LastDisconnect": gs.LastDisconnect, "ScheduledAt": gs.ScheduledAt} {
		if !tm.IsZero() {
			t.Errorf("%s = %v, want zero", name, tm)
		}
	}
	// Microsecond steps are kept apart.
	a := store.AuditEntry{Action: "a", At: want}
	b := store.AuditEntry{Action: "b", At: want.Add(time.Microsecond)}
	must(t, s.AppendAudit(c, &b))
	must(t, s.AppendAudit(c, &a)) // inserted later but older
	list, err := s.ListAudit(c, store.AuditFilter{})
	count(t, "audit", list, err, 2)
	if list[0].Action != "b" || !list[0].At.Equal(want.Add(time.Microsecond)) {
		t.Errorf("newest first by time at µs precision: %+v", list)
	}
}
