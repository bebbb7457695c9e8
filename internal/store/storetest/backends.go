package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for creating databases

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/postgres"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// Backends for tests and benchmarks of the packages above the store, which run the same code on both.

// OpenSQLite opens a fresh SQLite store in a temporary directory, closed at cleanup.
func OpenSQLite(t testing.TB) store.Store {
	t.Helper()
	st, _ := OpenSQLiteAt(t)
	return st
}

// OpenSQLiteAt is OpenSQLite that also answers the --db value of the file (sqlite:PATH), for another
// store or process to open.
func OpenSQLiteAt(t testing.TB) (store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deskhub.db")
	return OpenDB(t, "sqlite:"+path), "sqlite:" + path
}

// OpenDB opens one more store on a database named as --db names it (sqlite:PATH or a postgres://
// URL), closed at cleanup: what another broker or the CLI is to the database.
func OpenDB(t testing.TB, db string) store.Store {
	t.Helper()
	var (
		st  store.Store
		err error
	)
	if path, ok := strings.CutPrefix(db, "sqlite:"); ok {
		st, err = sqlite.Open(context.Background(), path, nil)
	} else {
		st, err = postgres.Open(context.Background(), db, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// PostgresEnv is the variable naming the PostgreSQL server for tests (scripts/pgtest.sh sets it).
const PostgresEnv = "DESKHUB_TEST_POSTGRES"

// OpenPostgres opens a store on a fresh database of the server named by DESKHUB_TEST_POSTGRES,
// dropped at cleanup. Without the variable it skips — or fails when DESKHUB_REQUIRE_POSTGRES=1 or CI
// is set.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	st, _ := OpenPostgresAt(t)
	return st
}

// OpenPostgresAt is OpenPostgres that also answers the database's URL.
func OpenPostgresAt(t testing.TB) (store.Store, string) {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") != "" || os.Getenv("DESKHUB_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("%s is not set but PostgreSQL tests are required here; start one with: eval \"$(scripts/pgtest.sh)\"", PostgresEnv)
		}
		t.Skipf(`%s not set; run: eval "$(scripts/pgtest.sh)"`, PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(context.Background(), `CREATE DATABASE `+name); err != nil {
		admin.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}
	u.Path = "/" + name
	return OpenDB(t, u.String()), u.String() // closed before the DROP (cleanups run last first)
}
