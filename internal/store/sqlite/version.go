package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// versioner answers store.Versioner's ChangeVersion from a connection of its own that never writes
// (query_only), asking PRAGMA data_version: SQLite changes that value on a connection whenever any
// other connection — of this process's pool, of another process, of another *sql.DB — has committed
// to the file since the connection last asked, and the pool's connections are all "other" ones. The
// value is per connection, so it is only compared on that one connection, which is pinned (*sql.Conn):
// when it fails it is replaced, and the number handed out moves on, since the new connection's values
// have nothing to do with the old one's. ChangeVersion itself is a counter that moves whenever
// data_version moved.
type versioner struct {
	db *sql.DB // one connection at most

	mu      sync.Mutex
	conn    *sql.Conn
	stmt    *sql.Stmt
	last    int64 // data_version last read on conn
	version uint64
}

func newVersioner(ctx context.Context, dsn string) (*versioner, error) {
	db, err := sql.Open("sqlite", dsn+"&_pragma=query_only(1)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	v := &versioner{db: db, version: 1}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.connect(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return v, nil
}

// connect pins a fresh connection and reads its first data_version; the caller holds mu.
func (v *versioner) connect(ctx context.Context) error {
	conn, err := v.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: change-version connection: %w", err)
	}
	stmt, err := conn.PrepareContext(ctx, "PRAGMA data_version")
	if err == nil {
		err = stmt.QueryRowContext(ctx).Scan(&v.last)
	}
	if err != nil {
		if stmt != nil {
			stmt.Close()
		}
		conn.Close()
		return fmt.Errorf("sqlite: change-version connection: %w", err)
	}
	v.conn, v.stmt = conn, stmt
	return nil
}

// ChangeVersion implements store.Versioner (see versioner).
func (v *versioner) ChangeVersion(ctx context.Context) (uint64, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.conn == nil {
		if err := v.connect(ctx); err != nil {
			return 0, err
		}
		v.version++ // whatever happened while there was no connection
	}
	var dv int64
	if err := v.stmt.QueryRowContext(ctx).Scan(&dv); err != nil {
		v.stmt.Close()
		v.conn.Close()
		v.conn, v.stmt = nil, nil
		v.version++
		return 0, fmt.Errorf("sqlite: reading the change version: %w", err)
	}
	if dv != v.last {
		v.last = dv
		v.version++
	}
	return v.version, nil
}

func (v *versioner) close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	var err error
	if v.conn != nil {
		err = errors.Join(v.stmt.Close(), v.conn.Close())
		v.conn, v.stmt = nil, nil
	}
	return errors.Join(err, v.db.Close())
}
