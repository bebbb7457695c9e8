package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// OpenAt opens a fresh store and answers its --db value (another store can be opened on it: OpenDB).
type OpenAt func(t testing.TB) (store.Store, string)

// RunChangeVersion checks store.Versioner: the version moves when a write of the tables the cached
// reads use is committed — through the store itself, or through another store on the same database
// (another *sql.DB: what another process or broker replica is to the database) — and only then: not
// on reads, not on an uncommitted or rolled-back transaction.
func RunChangeVersion(t *testing.T, openAt OpenAt) {
	st, db := openAt(t)
	other := OpenDB(t, db)
	v, ok := st.(store.Versioner)
	if !ok {
		t.Fatalf("%T is no store.Versioner", st)
	}
	c := ctx(t)
	version := func() uint64 {
		t.Helper()
		n, err := v.ChangeVersion(c)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	u := store.User{Login: "alice", Provider: store.ProviderLocal}
	if err := st.CreateUser(c, &u); err != nil {
		t.Fatal(err)
	}
	tok := store.Token{UserID: u.ID, Name: "t1", Type: store.TokenUserLogin, Hash: []byte("h1"), ExpiresAt: time.Now().Add(time.Hour)}
	if err := st.CreateToken(c, &tok); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{UserID: u.ID, Login: u.Login, Name: "s", State: store.SessionRunning, StartedAt: time.Now(),
		Params: map[string]string{"project": "p1"}}
	if err := st.CreateSession(c, &sess); err != nil {
		t.Fatal(err)
	}

	// Reads, by either store, leave it alone.
	before := version()
	for range 3 {
		if _, err := st.QuerySessions(c, store.SessionQuery{SessionFilter: store.SessionFilter{UserID: u.ID}, Limit: -1}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := other.GetTokenUser(c, tok.Hash); err != nil {
			t.Fatal(err)
		}
		if _, err := other.ListBookmarks(c, u.ID, ""); err != nil {
			t.Fatal(err)
		}
	}
	if after := version(); after != before {
		t.Fatalf("reads moved the version from %d to %d", before, after)
	}

	writes := []struct {
		name string
		fn   func(s store.Store) error
	}{
		{"update user", func(s store.Store) error { u.Disabled = !u.Disabled; return s.UpdateUser(c, &u) }},
		{"create token", func(s store.Store) error {
			t2 := store.Token{UserID: u.ID, Name: fmt.Sprint("t", time.Now().UnixNano()), Type: store.TokenUserLogin,
				Hash: []byte(fmt.Sprint(time.Now().UnixNano())), ExpiresAt: time.Now().Add(time.Hour)}
			return s.CreateToken(c, &t2)
		}},
		{"revoke tokens", func(s store.Store) error { // the one just created, at least
			_, err := s.RevokeUserTokens(c, u.ID, "", 0, time.Now())
			return err
		}},
		{"touch token", func(s store.Store) error { return s.TouchToken(c, tok.ID, time.Now()) }},
		{"create session", func(s store.Store) error {
			n := store.Session{UserID: u.ID, Login: u.Login, State: store.SessionStarting, Params: map[string]string{"a": "b"}}
			return s.CreateSession(c, &n)
		}},
		{"update session", func(s store.Store) error {
			sess.Params = map[string]string{"project": fmt.Sprint("p", time.Now().UnixNano())}
			return s.UpdateSession(c, &sess)
		}},
		{"put bookmark", func(s store.Store) error {
			b := store.Bookmark{ID: "b1", UserID: u.ID, Kind: store.BookmarkKindBookmark, Name: fmt.Sprint(time.Now().UnixNano())}
			return s.PutBookmark(c, &b)
		}},
		{"delete bookmark", func(s store.Store) error { return s.DeleteBookmark(c, u.ID, store.BookmarkKindBookmark, "b1") }},
	}
	for _, by := range []struct {
		name string
		s    store.Store
	}{{"the store", st}, {"another store on the database", other}} {
		for _, w := range writes {
			before := version()
			if err := w.fn(by.s); err != nil {
				t.Fatalf("%s by %s: %v", w.name, by.name, err)
			}
			if after := version(); after <= before {
				t.Errorf("%s by %s: the version stayed %d (want it to grow)", w.name, by.name, after)
			}
		}
	}

	// A transaction counts when it commits, not before; a rolled-back one does not.
	for _, by := range []store.Store{st, other} {
		before := version()
		errRollback := errors.New("rollback")
		err := by.InTx(c, func(tx store.Store) error {
			n := store.Session{UserID: u.ID, Login: u.Login, State: store.SessionStarting}
			if err := tx.CreateSession(c, &n); err != nil {
				return err
			}
			if mid := version(); mid != before {
				t.Errorf("an uncommitted write moved the version from %d to %d", before, mid)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
		if after := version(); after != before {
			t.Errorf("a rolled-back transaction moved the version from %d to %d", before, after)
		}
		if err := by.InTx(c, func(tx store.Store) error {
			n := store.Session{UserID: u.ID, Login: u.Login, State: store.SessionStarting}
			return tx.CreateSession(c, &n)
		}); err != nil {
			t.Fatal(err)
		}
		if after := version(); after <= before {
			t.Errorf("a committed transaction left the version at %d", after)
		}
	}
}
