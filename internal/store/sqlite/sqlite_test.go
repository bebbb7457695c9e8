package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/migrate"
	"github.com/deskhub/deskhub/internal/store/sqlite"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "deskhub.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, open)
}

func TestShareKeyMigration(t *testing.T) {
	storetest.RunShareKeyMigration(t, func(t *testing.T) (*sql.DB, func() store.Store) {
		path := filepath.Join(t.TempDir(), "deskhub.db")
		db := rawDB(t, path)
		if err := migrate.Run(t.Context(), db, storetest.MigrationsUpTo(t, sqlite.Migrations(), 2), migrate.Options{}); err != nil {
			t.Fatal(err)
		}
		return db, func() store.Store {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			// No page of the file or its WAL keeps the plaintext key.
			for _, f := range []string{path, path + "-wal"} {
				b, _ := os.ReadFile(f)
				if strings.Contains(string(b), "legacy-share-key-0123456789abcdef") {
					t.Errorf("%s still holds the plaintext share key", f)
				}
			}
			return s
		}
	})
}

func TestSessionParamsMigration(t *testing.T) {
	storetest.RunSessionParamsMigration(t, func(t *testing.T) (*sql.DB, func() store.Store) {
		path := filepath.Join(t.TempDir(), "deskhub.db")
		db := rawDB(t, path)
		if err := migrate.Run(t.Context(), db, storetest.MigrationsUpTo(t, sqlite.Migrations(), 4), migrate.Options{}); err != nil {
			t.Fatal(err)
		}
		return db, func() store.Store {
			s, err := sqlite.Open(t.Context(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestCorruptFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskhub.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("this is not a database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a non-database file succeeded")
	}
	want := "sqlite: " + path + " is not a SQLite database (file is not a database)"
	if err.Error() != want {
		t.Fatalf("error:\n got %q\nwant %q", err, want)
	}
}

func TestUnwritableDirectory(t *testing.T) {
	// Tests run as root, so permissions don't stop anything: use a path
	// whose parent is a regular file.
	dir := t.TempDir()
	afile := filepath.Join(dir, "afile")
	if err := os.WriteFile(afile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(afile, "deskhub.db")
	s, err := sqlite.Open(t.Context(), path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error does not name %s on one line: %q", path, err)
	}
	t.Log(err)

	_, err = sqlite.Open(t.Context(), filepath.Join(dir, "missing", "deskhub.db"), nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "deskhub.db")) {
		t.Fatalf("missing directory: %v", err)
	}
	t.Log(err)
}

func TestMigrateTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskhub.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{Login: "alice"}
	if err := s.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = sqlite.Open(ctx, path, nil) // migrations already applied: no-op
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetUserByLogin(ctx, "alice"); err != nil {
		t.Fatalf("data lost on reopen: %v", err)
	}

	db := rawDB(t, path)
	if err := migrate.Run(ctx, db, sqlite.Migrations(), migrate.Options{}); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	var n, v int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	want, _ := migrate.Versions(sqlite.Migrations())
	if n != len(want) || v != want[len(want)-1] {
		t.Fatalf("schema_migrations has %d rows up to %d, want %d up to %d", n, v, len(want), want[len(want)-1])
	}
}

func TestSchemaTooNew(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deskhub.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err = sqlite.Open(ctx, path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open accepted a database from the future")
	}
	if !errors.Is(err, migrate.ErrTooNew) || !strings.Contains(err.Error(), "9999") {
		t.Fatalf("error: %v", err)
	}
	t.Log(err)
}

func TestConcurrentOpen(t *testing.T) {
	// Several processes (here: goroutines) opening a new database at once
	// must not race on the migrations, nor on switching the file to WAL
	// (SQLite refuses that at once, without its busy timeout, while another
	// connection is opening the file).
	const n = 8
	path := filepath.Join(t.TempDir(), "deskhub.db")
	errs := make(chan error, n)
	for range n {
		go func() {
			s, err := sqlite.Open(context.Background(), path, nil)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	var mode string
	if err := rawDB(t, path).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal mode %q, want wal", mode)
	}
}

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestChangeVersion(t *testing.T) {
	storetest.RunChangeVersion(t, storetest.OpenSQLiteAt)
}
