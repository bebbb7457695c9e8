package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/store/postgres"
	"github.com/deskhub/deskhub/internal/store/sqlite"
)

// storeFlags are the flags every subcommand that touches the store takes.
type storeFlags struct {
	data string
	db   string
}

// absData makes the data directory absolute: desktops run elsewhere and get paths inside it.
func (sf *storeFlags) absData() error {
	abs, err := filepath.Abs(sf.data)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", sf.data, err)
	}
	sf.data = abs
	return nil
}

func (sf *storeFlags) bind(b *envFlags) {
	b.string(&sf.data, "data", "DESKHUB_DATA", "./var", "data directory (SQLite database, outbox, keys)")
	b.string(&sf.db, "db", "DESKHUB_DB", "", "database: empty for SQLite in the data directory, or a postgres:// URL")
}

// prepareDataDir creates the data directory if needed and proves it is writable.
func prepareDataDir(dir string) error {
	// 0711: desktops run as other Unix users and must traverse to their session and home directories;
	// nothing here can be listed or read by them.
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("data directory %s cannot be created: %w", dir, unwrapPathErr(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, unwrapPathErr(err))
	}
	name := probe.Name()
	probe.Close()
	return os.Remove(name)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// openStore opens the configured store: SQLite in the data dir, or PostgreSQL.
func openStore(ctx context.Context, sf storeFlags, log *slog.Logger) (store.Store, error) {
	if err := sf.absData(); err != nil {
		return nil, err
	}
	if err := prepareDataDir(sf.data); err != nil {
		return nil, err
	}
	switch {
	case sf.db == "" || strings.HasPrefix(sf.db, "sqlite:"):
		path := strings.TrimPrefix(sf.db, "sqlite:")
		if path == "" {
			path = filepath.Join(sf.data, "deskhub.db")
		}
		return sqlite.Open(ctx, path, log)
	case strings.HasPrefix(sf.db, "postgres://"), strings.HasPrefix(sf.db, "postgresql://"):
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return postgres.Open(ctx, sf.db, log)
	}
	return nil, fmt.Errorf("--db: want empty (SQLite), sqlite:PATH or a postgres:// URL, not %q", redactURL(sf.db))
}

// redactURL hides a password in a URL-ish string for messages.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return s
	}
	if user, _, hasPw := strings.Cut(userinfo, ":"); hasPw {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return s
}
