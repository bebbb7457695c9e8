// Package postgres is the PostgreSQL backend of store.Store (pgx through
// database/sql).
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/migrate"
	"github.com/deskhub/deskhub/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// Migrations returns the embedded migrations (files at the root).
func Migrations() fs.FS {
	sub, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		panic(err)
	}
	return sub
}

const (
	defaultConnectTimeout = 5 * time.Second
	// openTimeout bounds connecting in Open, whatever the URL says.
	openTimeout = 10 * time.Second
	// migrateLockKey is the pg_advisory_lock key held while migrating
	// ("deskhub" in ASCII).
	migrateLockKey int64 = 0x6465736b687562
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the connections to PostgreSQL (0: DefaultMaxConns). They are all kept open
	// once made (idle ones for 5 minutes), so that a burst does not pay for new server processes.
	MaxConns int
}

// MaxMaxConns is the largest MaxConns taken.
const MaxMaxConns = 1000

// DefaultMaxConns is the pool size without Options.MaxConns: 4 per CPU deskhub runs on
// (GOMAXPROCS), at least 8 — enough to keep the server's own cores busy while queries wait on the
// network, few enough not to swamp a small PostgreSQL server.
func DefaultMaxConns() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// Open connects to the PostgreSQL database at url (postgres://... or a
// key=value DSN) and brings its schema up to date. Errors are one line and
// never contain the password.
func Open(ctx context.Context, url string, log *slog.Logger) (store.Store, error) {
	return OpenWith(ctx, url, log, Options{})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, url string, log *slog.Logger, o Options) (store.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store", "backend", "postgres")

	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx redacts the password in parse errors.
		return nil, fmt.Errorf("postgres: invalid database URL: %s", oneLine(err.Error(), ""))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	where := fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
	password := cfg.Password

	db := stdlib.OpenDB(*cfg)
	conns := o.MaxConns
	if conns <= 0 {
		conns = DefaultMaxConns()
	}
	conns = min(conns, MaxMaxConns)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)

	pctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: cannot connect to %s: %s", where, cause(err, password))
	}
	if err := migrate.Run(ctx, db, Migrations(), migrate.Options{Log: log, Lock: advisoryLock}); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	// The change version (store.Versioner): migration 6's counter, which every write of the tables
	// the cached reads use bumps in its own transaction. One prepared one-row read.
	version, err := db.PrepareContext(ctx, `SELECT v FROM change_version WHERE id = 1`)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %s: %s", where, cause(err, password))
	}
	st := sqlstore.New(sqlstore.Config{
		Backend:   "postgres",
		DB:        db,
		Translate: translate,
		Log:       log,
		Version: func(ctx context.Context) (uint64, error) {
			var v int64
			if err := version.QueryRowContext(ctx).Scan(&v); err != nil {
				return 0, fmt.Errorf("postgres: reading the change version: %w", err)
			}
			return uint64(v), nil
		},
		Closers: []func() error{version.Close},
	})
	// Migration 3 hashes share keys in SQL here; this only catches rows a SQLite-era tool left.
	if _, err := st.BackfillShareKeys(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	}
	if n, err := st.BackfillSessionParams(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %s: %w", where, err)
	} else if n > 0 {
		log.Info("indexed session parameters", "sessions", n)
	}
	return st, nil
}

// advisoryLock serializes migrations across processes sharing the database.
func advisoryLock(ctx context.Context, conn *sql.Conn) (func(), error) {
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		return nil, err
	}
	return func() {
		// Use a fresh context: the caller's may be done; the lock also
		// dies with the session.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = conn.ExecContext(uctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey)
	}, nil
}

// cause reduces a connect error to its distinct per-attempt causes (pgx
// tries each address and TLS mode and joins the failures).
func cause(err error, password string) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %v", openTimeout)
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) || ce.Unwrap() == nil {
		return oneLine(err.Error(), password)
	}
	inner := ce.Unwrap()
	attempts := []error{inner}
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		attempts = j.Unwrap()
	}
	var msgs []string
	for _, a := range attempts {
		// perDialConnectError: "addr (host): cause" -> cause
		if u := errors.Unwrap(a); u != nil && strings.HasSuffix(a.Error(), ": "+u.Error()) {
			a = u
		}
		m := oneLine(a.Error(), password)
		if !slices.Contains(msgs, m) {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, "; ")
}

// oneLine collapses whitespace (pgx joins multi-host errors with newlines)
// and removes password.
func oneLine(s, password string) string {
	if password != "" {
		s = strings.ReplaceAll(s, password, "xxxxx")
	}
	return strings.Join(strings.Fields(s), " ")
}

// translate maps constraint violations to store.ErrConflict / store.ErrNotFound.
func translate(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w (%s)", store.ErrConflict, pe.ConstraintName)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w (%s)", store.ErrNotFound, pe.ConstraintName)
	}
	return err
}
