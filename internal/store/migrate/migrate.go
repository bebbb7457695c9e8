// Package migrate applies numbered, embedded SQL migrations to a database.
//
// A migration is a file named NNNN_description.sql at the root of the given
// fs.FS; NNNN is its version. Versions are applied in ascending order, each in
// its own transaction, and recorded in schema_migrations(version, applied_at).
//
// Old migrations are never edited once released: the schema grows only
// through new files with higher numbers. Every backend carries the same set of
// version numbers (dialect differences only), which a test enforces.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Migration is one numbered SQL file.
type Migration struct {
	Version int
	Name    string // file name
	SQL     string
}

var fileRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+)_[A-Za-z0-9_.-]*\.sql$`) })

// Load reads the migrations at the root of fsys, sorted by version. Files that
// do not end in .sql are ignored; a .sql file without a number prefix or a
// duplicated version is an error.
func Load(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		m := fileRE().FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrate: bad migration file name %q (want NNNN_name.sql)", e.Name())
		}
		v, err := strconv.Atoi(m[1])
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migrate: bad migration version in %q", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrate: version %d used by both %q and %q", v, prev, e.Name())
		}
		seen[v] = e.Name()
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: e.Name(), SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Versions returns the sorted migration versions found in fsys.
func Versions(fsys fs.FS) ([]int, error) {
	ms, err := Load(fsys)
	if err != nil {
		return nil, err
	}
	vs := make([]int, len(ms))
	for i, m := range ms {
		vs[i] = m.Version
	}
	return vs, nil
}

// Options tune Run.
type Options struct {
	// Lock, if set, is called on the connection used for migrating before
	// anything is read, and the returned unlock after. PostgreSQL uses it to
	// take an advisory lock so concurrent starts don't race.
	Lock func(ctx context.Context, conn *sql.Conn) (unlock func(), err error)
	// Log receives one line per applied migration. Nil: discard.
	Log *slog.Logger
	// Translate, if set, is applied to database errors before they are
	// wrapped (backends use it to make driver errors readable).
	Translate func(error) error
}

// ErrTooNew is wrapped by the error Run returns when the database carries a
// schema version newer than the binary knows.
var ErrTooNew = errors.New("database schema is newer than this binary")

// Run applies the migrations in fsys that db has not seen yet. It refuses to
// run (ErrTooNew) if db has a version newer than the newest in fsys.
func Run(ctx context.Context, db *sql.DB, fsys fs.FS, opts Options) error {
	ms, err := Load(fsys)
	if err != nil {
		return err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tr := opts.Translate
	if tr == nil {
		tr = func(err error) error { return err }
	}

	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", tr(err))
	}
	defer conn.Close()

	if opts.Lock != nil {
		unlock, err := opts.Lock(ctx, conn)
		if err != nil {
			return fmt.Errorf("migrate: lock: %w", tr(err))
		}
		defer unlock()
	}

	if _, err := conn.ExecContext(ctx,
		`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", tr(err))
	}

	applied := map[int]bool{}
	newest := 0
	rows, err := conn.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return fmt.Errorf("migrate: read schema_migrations: %w", tr(err))
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: read schema_migrations: %w", tr(err))
		}
		applied[v] = true
		newest = max(newest, v)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("migrate: read schema_migrations: %w", tr(err))
	}
	rows.Close()

	known := 0
	if len(ms) > 0 {
		known = ms[len(ms)-1].Version
	}
	if newest > known {
		return fmt.Errorf("migrate: database has schema version %d but this binary knows only up to %d; upgrade deskhub (refusing to start): %w",
			newest, known, ErrTooNew)
	}

	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		start := time.Now()
		done, err := apply(ctx, conn, m)
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.Name, tr(err))
		}
		if done {
			log.Info("applied migration", "version", m.Version, "file", m.Name, "took", time.Since(start).Round(time.Millisecond).String())
		}
	}
	return nil
}

// apply runs one migration in its own transaction. It re-checks inside the
// transaction that the version is still missing, so that backends without a
// Lock (SQLite, whose transactions are BEGIN IMMEDIATE) stay race-free.
func apply(ctx context.Context, conn *sql.Conn, m Migration) (done bool, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, m.Version).Scan(&n); err != nil {
		return false, err
	}
	if n > 0 {
		return false, tx.Rollback()
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
		m.Version, time.Now().UnixMicro()); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}
