package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/migrate"
	"github.com/deskhub/deskhub/internal/store/postgres"
	"github.com/deskhub/deskhub/internal/store/storetest"
)

const envURL = "DESKHUB_TEST_POSTGRES"

// adminURL returns the server URL from the environment. Without it the test
// is skipped on a developer machine but fails loudly in CI (CI set) or when
// DESKHUB_REQUIRE_POSTGRES=1.
func adminURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv(envURL)
	if u != "" {
		return u
	}
	if os.Getenv("CI") != "" || os.Getenv("DESKHUB_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("%s is not set but PostgreSQL tests are required here (CI or DESKHUB_REQUIRE_POSTGRES=1); "+
			`start one with: eval "$(scripts/pgtest.sh)"`, envURL)
	}
	t.Skipf(`%s not set; run: eval "$(scripts/pgtest.sh)"`, envURL)
	return ""
}

var (
	adminOnce sync.Once
	adminDB   *sql.DB
	adminErr  error
)

func admin(t *testing.T, u string) *sql.DB {
	t.Helper()
	adminOnce.Do(func() {
		adminDB, adminErr = sql.Open("pgx", u)
		if adminErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			adminErr = adminDB.PingContext(ctx)
		}
	})
	if adminErr != nil {
		t.Fatalf("postgres admin connection (%s): %v", envURL, adminErr)
	}
	return adminDB
}

// freshDB creates an empty database dropped at cleanup and returns its URL.
func freshDB(t *testing.T) string {
	t.Helper()
	base := adminURL(t)
	db := admin(t, base)
	b := make([]byte, 8)
	rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	if _, err := db.ExecContext(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", envURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t *testing.T) store.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), freshDB(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() }) // runs before the DROP (LIFO)
	return s
}

func TestConformance(t *testing.T) {
	adminURL(t) // skip or fail once, not per subtest
	t.Parallel()
	storetest.Run(t, open)
}

func TestShareKeyMigration(t *testing.T) {
	storetest.RunShareKeyMigration(t, func(t *testing.T) (*sql.DB, func() store.Store) {
		u := freshDB(t)
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := migrate.Run(t.Context(), db, storetest.MigrationsUpTo(t, postgres.Migrations(), 2), migrate.Options{}); err != nil {
			t.Fatal(err)
		}
		return db, func() store.Store {
			s, err := postgres.Open(t.Context(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestSessionParamsMigration(t *testing.T) {
	storetest.RunSessionParamsMigration(t, func(t *testing.T) (*sql.DB, func() store.Store) {
		u := freshDB(t)
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := migrate.Run(t.Context(), db, storetest.MigrationsUpTo(t, postgres.Migrations(), 4), migrate.Options{}); err != nil {
			t.Fatal(err)
		}
		return db, func() store.Store {
			s, err := postgres.Open(t.Context(), u, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	})
}

func TestUnreachable(t *testing.T) {
	start := time.Now()
	s, err := postgres.Open(t.Context(), "postgres://u:secret@127.0.0.1:1/db", nil)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	msg := err.Error()
	t.Log(msg)
	if took > 10*time.Second {
		t.Errorf("took %v, want < 10s", took)
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
	if strings.Contains(msg, "secret") {
		t.Errorf("error leaks the password: %q", msg)
	}
	if !strings.HasPrefix(msg, "postgres: cannot connect to 127.0.0.1:1: ") {
		t.Errorf("error %q does not say where it tried to connect", msg)
	}
}

func TestUnresponsiveServer(t *testing.T) {
	// A server that accepts connections but never answers: Open must give
	// up within 10s even when the URL asks for a longer connect timeout.
	if testing.Short() {
		t.Skip("takes 10s")
	}
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	defer func() { ln.Close(); <-done }()
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	start := time.Now()
	s, err := postgres.Open(t.Context(), "postgres://u:secret@"+ln.Addr().String()+"/db?connect_timeout=60", nil)
	took := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	t.Log(err, took)
	if took > 11*time.Second {
		t.Errorf("took %v, want <= 10s", took)
	}
	if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\n") {
		t.Errorf("bad error: %q", err)
	}
}

func TestMigrateTwiceAndConcurrent(t *testing.T) {
	u := freshDB(t)
	ctx := t.Context()
	// Several deskhub processes starting together on an empty database.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := postgres.Open(ctx, u, nil)
			if err == nil {
				err = s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// And once more, sequentially.
	s, err := postgres.Open(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	want, _ := migrate.Versions(postgres.Migrations())
	if n != len(want) {
		t.Fatalf("schema_migrations has %d rows, want %d", n, len(want))
	}

	// A database from a newer binary is refused.
	if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatal(err)
	}
	s2, err := postgres.Open(ctx, u, nil)
	if err == nil {
		s2.Close()
		t.Fatal("Open accepted a database from the future")
	}
	if !errors.Is(err, migrate.ErrTooNew) {
		t.Errorf("error does not wrap migrate.ErrTooNew: %v", err)
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Fatalf("error does not name the version: %v", err)
	}
	t.Log(err)
}

func TestPoolSize(t *testing.T) {
	u := freshDB(t)
	for _, c := range []struct{ asked, want int }{{0, postgres.DefaultMaxConns()}, {3, 3}, {5000, postgres.MaxMaxConns}} {
		s, err := postgres.OpenWith(t.Context(), u, nil, postgres.Options{MaxConns: c.asked})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.(interface{ DB() *sql.DB }).DB().Stats().MaxOpenConnections; got != c.want {
			t.Errorf("MaxConns %d: pool of %d, want %d", c.asked, got, c.want)
		}
		s.Close()
	}
	if postgres.DefaultMaxConns() < 8 {
		t.Errorf("default pool %d, want at least 8", postgres.DefaultMaxConns())
	}
}

func TestChangeVersion(t *testing.T) {
	storetest.RunChangeVersion(t, storetest.OpenPostgresAt)
}
