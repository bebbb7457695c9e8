package storetest

import (
	"bytes"
	"database/sql"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/migrate"
)

// MigrationsUpTo is the part of a backend's migrations up to version v (to build an old database).
func MigrationsUpTo(t *testing.T, fsys fs.FS, v int) fs.FS {
	ms, err := migrate.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	out := fstest.MapFS{}
	for _, m := range ms {
		if m.Version <= v {
			out[m.Name] = &fstest.MapFile{Data: []byte(m.SQL)}
		}
	}
	return out
}

// Legacy returns a fresh database migrated only up to version 2 (share keys in plaintext), as a raw
// handle, and a function that opens it as a store, which completes the migrations.
type Legacy func(t *testing.T) (db *sql.DB, open func() store.Store)

// RunShareKeyMigration checks that share keys stored in plaintext before version 3 are hashed by the
// migration (and the backend's Open) and work, by their hash only, afterwards.
func RunShareKeyMigration(t *testing.T, legacy Legacy) {
	c := ctx(t)
	db, open := legacy(t)
	const key = "legacy-share-key-0123456789abcdef"
	stmts := []struct {
		q    string
		args []any
	}{
		{`INSERT INTO users (id, login, email, name, password_hash, provider, created_at, updated_at) VALUES (1, 'ada', NULL, '', '', 'local', 0, 0)`, nil},
		{`INSERT INTO sessions (id, user_id, login, state) VALUES ('s1', 1, 'ada', 'running')`, nil},
		{`INSERT INTO shares (session_id, key, perms, timeout, created_by, created_at) VALUES ('s1', $1, '["viewer"]', 60, 1, 5)`, []any{key}},
		{`INSERT INTO shares (session_id, key, perms, timeout, created_by, created_at) VALUES ('s1', 'other-key', '[]', 0, NULL, 6)`, nil},
	}
	for _, st := range stmts {
		if _, err := db.ExecContext(c, st.q, st.args...); err != nil {
			t.Fatalf("legacy row: %s: %v", st.q, err)
		}
	}
	s := open()
	sh, err := s.GetShare(c, "s1", kh(key))
	must(t, err)
	if sh.ID == "" || sh.SessionID != "s1" || len(sh.Perms) != 1 || sh.Perms[0] != "viewer" || sh.Timeout != 60 || sh.CreatedBy != 1 {
		t.Errorf("migrated share: %+v", sh)
	}
	_, err = s.GetShare(c, "s1", []byte(key))
	isErr(t, err, store.ErrNotFound, "GetShare by the plaintext")
	list, err := s.ListShares(c, "s1")
	count(t, "migrated shares", list, err, 2)
	if list[0].ID == list[1].ID || !bytes.Equal(list[1].KeyHash, kh("other-key")) {
		t.Errorf("migrated shares: %+v", list)
	}
	var plain int
	if err := db.QueryRowContext(c, `SELECT count(*) FROM shares WHERE legacy_key IS NOT NULL OR key_hash IS NULL`).Scan(&plain); err != nil || plain != 0 {
		t.Errorf("rows with a plaintext key or no hash after Open: %d (%v)", plain, err)
	}
	must(t, s.DeleteShare(c, "s1", sh.ID))
	_, err = s.GetShare(c, "s1", kh(key))
	isErr(t, err, store.ErrNotFound, "migrated share after DeleteShare")
}

// RunSessionParamsMigration checks that the parameters of sessions stored before version 5 (a
// database migrated up to 4 by legacy) are indexed when the backend opens it: QuerySessions matches
// and sorts on them.
func RunSessionParamsMigration(t *testing.T, legacy Legacy) {
	c := ctx(t)
	db, open := legacy(t)
	for _, q := range []string{
		`INSERT INTO users (id, login, email, name, password_hash, provider, created_at, updated_at) VALUES (1, 'ada', NULL, '', '', 'local', 0, 0)`,
		`INSERT INTO sessions (id, user_id, login, state, params, started_at) VALUES ('s1', 1, 'ada', 'running', '{"project":"p1","rank":"10"}', 1)`,
		`INSERT INTO sessions (id, user_id, login, state, params, started_at) VALUES ('s2', 1, 'ada', 'running', '{"project":"p2","rank":"9"}', 2)`,
		`INSERT INTO sessions (id, user_id, login, state, params, started_at) VALUES ('s3', 1, 'ada', 'running', '{}', 3)`,
	} {
		if _, err := db.ExecContext(c, q); err != nil {
			t.Fatalf("legacy row: %s: %v", q, err)
		}
	}
	s := open()
	got, err := s.QuerySessions(c, store.SessionQuery{Limit: -1,
		Match:  []store.SessionMatch{{Field: store.SessionField{Param: "project"}, Values: []string{"p1", "p2"}}},
		SortBy: &store.SessionField{Param: "rank"}})
	must(t, err)
	if len(got) != 2 || got[0].ID != "s2" || got[1].ID != "s1" {
		t.Fatalf("sessions of project p1 or p2 by rank after Open: %+v", got)
	}
	// A second Open finds nothing to do: the rows are not doubled.
	open()
	var n int
	if err := db.QueryRowContext(c, `SELECT count(*) FROM session_params`).Scan(&n); err != nil || n != 4 {
		t.Fatalf("session_params rows: %d (%v), want 4", n, err)
	}
}
