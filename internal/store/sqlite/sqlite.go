// Package sqlite is the SQLite backend of store.Store (pure Go, modernc.org/sqlite).
//
// The database runs in WAL mode with a busy timeout, foreign keys on and
// immediate transactions (BEGIN IMMEDIATE), so writers queue on the busy
// timeout instead of failing with SQLITE_BUSY halfway through a transaction.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

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

// dsnParams are applied by the driver to every new connection. The journal
// mode is not among them: switching to WAL needs an exclusive lock and SQLite
// answers SQLITE_BUSY at once, without waiting on the busy timeout, when
// another process is opening the same new database. WAL is a property of
// the file, so Open sets it once (see setWAL) and every connection gets it.
var dsnParams = url.Values{
	"_pragma": {
		"busy_timeout(10000)",
		"foreign_keys(1)",
		"synchronous(NORMAL)",
	},
	"_txlock": {"immediate"},
}

// Open opens (creating if needed) the SQLite database at path and brings its
// schema up to date. Errors name the path and say what is wrong.
func Open(ctx context.Context, path string, log *slog.Logger) (store.Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "store", "backend", "sqlite")
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: unsupported database path %q (must be a plain file path without '?' or '#')", path)
	}
	// Create the file ourselves first: it gets private permissions and OS
	// errors (missing directory, permission denied, parent is a file) are
	// reported clearly rather than as SQLITE_CANTOPEN.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot open %s: %w", path, unwrapPathError(err))
	}
	f.Close()
	makePrivate(path, log)

	dsn := path + "?" + dsnParams.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Readers run concurrently under WAL; writers serialize on the
	// database lock (busy_timeout), so a modest pool is enough.
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)

	var ver *versioner
	fail := func(err error) (store.Store, error) {
		db.Close()
		if ver != nil {
			ver.close()
		}
		return nil, describe(path, err)
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	if err := setWAL(ctx, db); err != nil {
		return fail(err)
	}
	if err := migrate.Run(ctx, db, Migrations(), migrate.Options{Log: log}); err != nil {
		return fail(err)
	}
	if ver, err = newVersioner(ctx, dsn); err != nil {
		return fail(err)
	}
	st := sqlstore.New(sqlstore.Config{
		Backend:   "sqlite",
		DB:        db,
		Translate: translate,
		Log:       log,
		Version:   ver.ChangeVersion,
		Closers:   []func() error{ver.close},
	})
	if err := scrubShareKeys(ctx, st, log); err != nil {
		return fail(err)
	}
	if n, err := st.BackfillSessionParams(ctx); err != nil {
		return fail(err)
	} else if n > 0 {
		log.Info("indexed session parameters", "sessions", n)
	}
	return st, nil
}

// scrubShareKeys hashes the plaintext share keys migration 3 left (SQLite has no SHA-256) and, when
// it converted any, rewrites the file and empties the WAL so that no freed page keeps a key.
func scrubShareKeys(ctx context.Context, st *sqlstore.Store, log *slog.Logger) error {
	n, err := st.BackfillShareKeys(ctx)
	if err != nil || n == 0 {
		return err
	}
	log.Info("hashed plaintext share keys", "shares", n)
	for _, q := range []string{"VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"} {
		if _, err := st.DB().ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s after hashing share keys: %w", q, err)
		}
	}
	return nil
}

// makePrivate gives the database file mode 0600: an existing file keeps its mode on open. SQLite gives
// the -wal and -shm files the database file's mode, so that covers those it creates from now on; present
// ones are fixed here. Failing (a file of another owner) is logged, not fatal.
func makePrivate(path string, log *slog.Logger) {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() == 0o600 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			log.Warn("the database file is readable by others and cannot be made private", "file", p, "error", err)
		}
	}
}

// walWait bounds how long Open retries switching the file to WAL while
// another process holds it; it matches the busy timeout.
const walWait = 10 * time.Second

// setWAL puts the database file in WAL mode, retrying while another
// connection holds a lock SQLite will not wait for itself.
func setWAL(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(walWait)
	delay := 2 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil {
			if !strings.EqualFold(mode, "wal") {
				return fmt.Errorf("journal mode stayed %q (WAL not supported on this file system?)", mode)
			}
			return nil
		}
		var se *sqlite.Error
		if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 100*time.Millisecond)
	}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// describe turns an error from opening or migrating into one that names path.
func describe(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlite: %s is not a SQLite database (file is not a database)", path)
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: %s is corrupt (database disk image is malformed)", path)
		case sqlite3.SQLITE_CANTOPEN:
			return fmt.Errorf("sqlite: cannot open %s (or its -wal/-shm files): check the directory exists and is writable: %v", path, err)
		case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM:
			return fmt.Errorf("sqlite: %s is not writable: %v", path, err)
		case sqlite3.SQLITE_BUSY:
			return fmt.Errorf("sqlite: %s is locked by another process: %v", path, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", path, err)
}

// translate maps constraint violations to store.ErrConflict / store.ErrNotFound.
func translate(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return err
	}
	msg := se.Error()
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return fmt.Errorf("%w (%s)", store.ErrConflict, detail(msg, "constraint failed: "))
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("%w (foreign key)", store.ErrNotFound)
	}
	return err
}

// detail returns what follows marker in msg ("users.login" from "UNIQUE
// constraint failed: users.login (2067)"), or msg.
func detail(msg, marker string) string {
	if i := strings.Index(msg, marker); i >= 0 {
		msg = msg[i+len(marker):]
	}
	if i := strings.LastIndex(msg, " ("); i > 0 {
		msg = msg[:i]
	}
	return msg
}
