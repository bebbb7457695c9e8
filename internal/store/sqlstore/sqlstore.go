// Package sqlstore is the one implementation of store.Store over
// database/sql, shared by the SQLite and PostgreSQL backends.
//
// All SQL uses $1, $2, ... placeholders and only constructs both engines
// accept; timestamps are BIGINT unix microseconds (NULL = zero time), so the
// statements are identical on both backends. A backend supplies the *sql.DB,
// its name and an error translator that turns driver errors for unique and
// foreign-key violations into store.ErrConflict / store.ErrNotFound.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/deskhub/deskhub/internal/store"
)

// Config describes a backend.
type Config struct {
	Backend string  // "sqlite" | "postgres"
	DB      *sql.DB // owned by the Store: Close closes it
	// Translate maps a driver error to one wrapping store.ErrConflict
	// (unique violation) or store.ErrNotFound (foreign-key violation), and
	// returns any other error unchanged.
	Translate func(error) error
	Log       *slog.Logger
	// Version answers store.Versioner's ChangeVersion (nil: ChangeVersion fails, nothing is cached).
	Version func(ctx context.Context) (uint64, error)
	// Closers run before the DB is closed (the backend's own handles, e.g. the version connection).
	Closers []func() error
}

// querier is satisfied by *sql.DB and *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

var (
	_ querier         = (*sql.DB)(nil)
	_ querier         = (*sql.Tx)(nil)
	_ store.Store     = (*Store)(nil)
	_ store.Versioner = (*Store)(nil)
)

// Store implements store.Store.
type Store struct {
	cfg   *Config
	q     querier
	tx    *sql.Tx // non-nil inside InTx
	stmts *stmtCache
	ver   *versionGate // nil without Config.Version
}

// New returns a Store over cfg.DB.
func New(cfg Config) *Store {
	if cfg.Translate == nil {
		cfg.Translate = func(err error) error { return err }
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: &cfg, q: cfg.DB, stmts: &stmtCache{m: map[string]*sql.Stmt{}}}
	if cfg.Version != nil {
		s.ver = &versionGate{read: cfg.Version}
	}
	return s
}

// DB returns the underlying database handle.
func (s *Store) DB() *sql.DB { return s.cfg.DB }

func (s *Store) Backend() string { return s.cfg.Backend }

func (s *Store) Ping(ctx context.Context) error {
	if err := s.cfg.DB.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", s.cfg.Backend, s.cfg.Translate(err))
	}
	return nil
}

func (s *Store) Close() error {
	if s.tx != nil {
		return errors.New("store: Close called inside InTx")
	}
	s.stmts.close()
	var err error
	for _, c := range s.cfg.Closers {
		err = errors.Join(err, c())
	}
	return errors.Join(err, s.cfg.DB.Close())
}

// errNoVersion is ChangeVersion's error on a backend without one.
var errNoVersion = errors.New("store: this backend has no change version")

// ChangeVersion implements store.Versioner.
func (s *Store) ChangeVersion(ctx context.Context) (uint64, error) {
	if s.ver == nil || s.tx != nil {
		return 0, errNoVersion
	}
	return s.ver.version(ctx)
}

// InTx runs fn in a transaction. See store.Store.
func (s *Store) InTx(ctx context.Context, fn func(tx store.Store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	tx, err := s.cfg.DB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", s.cfg.Translate(err))
	}
	done := false
	defer func() {
		// Runs on error return and while panicking (the panic continues
		// after the rollback).
		if !done {
			_ = tx.Rollback()
		}
	}()
	if err := fn(&Store{cfg: s.cfg, q: tx, tx: tx, stmts: s.stmts}); err != nil {
		return err
	}
	done = true
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", s.cfg.Translate(err))
	}
	return nil
}

// ---- helpers ----------------------------------------------------------------

// now returns the current time as stored: UTC, microsecond precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// norm makes t what a read back returns: UTC, microsecond precision.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return time.UnixMicro(t.UnixMicro()).UTC()
}

// tv converts a time to its column value: unix microseconds, NULL if zero.
func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// iv converts an id to its column value, NULL if 0.
func iv(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// sv converts a string to its column value, NULL if empty.
func sv(s string) any {
	if s == "" {
		return nil
	}
	return s
}

type timeCol struct{ p *time.Time }

func (c timeCol) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*c.p = time.Time{}
	case int64:
		*c.p = time.UnixMicro(v).UTC()
	case []byte: // some drivers hand numbers over as text
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("time column: %w", err)
		}
		*c.p = time.UnixMicro(n).UTC()
	default:
		return fmt.Errorf("time column: unexpected %T", v)
	}
	return nil
}

type intCol struct{ p *int64 }

func (c intCol) Scan(v any) error {
	var n sql.NullInt64
	if err := n.Scan(v); err != nil {
		return err
	}
	*c.p = n.Int64
	return nil
}

type strCol struct{ p *string }

func (c strCol) Scan(v any) error {
	var n sql.NullString
	if err := n.Scan(v); err != nil {
		return err
	}
	*c.p = n.String
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// fail wraps a database error for what ("create token \"x\""). A foreign-key
// violation is reported as parent ("user 3") not found.
func (s *Store) fail(err error, what, parent string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	err = s.cfg.Translate(err)
	if errors.Is(err, store.ErrNotFound) && parent != "" {
		return fmt.Errorf("%s: %s: %w", what, parent, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// exec runs a statement that must affect a row; none affected is ErrNotFound
// for what.
func (s *Store) execOne(ctx context.Context, what, parent, query string, args ...any) error {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return s.fail(err, what, parent)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.fail(err, what, parent)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	return nil
}

func (s *Store) execN(ctx context.Context, what, query string, args ...any) (int, error) {
	res, err := s.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, s.fail(err, what, "")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.fail(err, what, "")
	}
	return int(n), nil
}

func list[T any](ctx context.Context, s *Store, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, query, args...) // prepared: every list statement has a fixed text
	if err != nil {
		return nil, s.fail(err, what, "")
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(err, what, "")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, what, "")
	}
	return out, nil
}

func one[T any](ctx context.Context, s *Store, what string, scan func(scanner) (T, error), query string, args ...any) (T, error) {
	v, err := scan(s.queryRow(ctx, query, args...))
	if err != nil {
		var zero T
		return zero, s.fail(err, what, "")
	}
	return v, nil
}

// placeholders returns "$from, $from+1, ..." for n values.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(from+i))
	}
	return b.String()
}

func newID() string { return uuid.New().String() }

// stmtCache keeps prepared statements of the queries built per request (QuerySessions) and of the
// one-row reads (one, queryRow: the token check of every request among them), so that SQLite does
// not parse and plan the same statement on every call. Bounded: past maxStmts distinct
// statements the others run unprepared.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const maxStmts = 256

// prepared returns the prepared form of query, or nil (inside a transaction, or the cache is full).
func (s *Store) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s.tx != nil {
		return nil, nil
	}
	c := s.stmts
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[query]; st != nil {
		return st, nil
	}
	if len(c.m) >= maxStmts {
		return nil, nil
	}
	st, err := s.cfg.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// query runs a (cached, prepared) query.
func (s *Store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return s.q.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// queryRow runs a (cached, prepared) query that reads one row. A statement that cannot be prepared
// runs unprepared, so that its error comes back from Scan like any other.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st, err := s.prepared(ctx, query); err == nil && st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.q.QueryRowContext(ctx, query, args...)
}

// listPrepared is list through the statement cache.
func listPrepared[T any](ctx context.Context, s *Store, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, s.fail(err, what, "")
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.fail(err, what, "")
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(err, what, "")
	}
	return out, nil
}
