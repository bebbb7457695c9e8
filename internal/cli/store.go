package cli

import (
	"context"
	"errors"
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
	data       string
	db         string
	pgMaxConns int
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
	b.int(&sf.pgMaxConns, "pg-max-conns", "DESKHUB_PG_MAX_CONNS", 0,
		fmt.Sprintf("PostgreSQL connections at most (0: %d, 4 per CPU deskhub uses, at least 8)", postgres.DefaultMaxConns()))
}

// prepareDataDir creates the data directory if needed and proves it is writable.
func prepareDataDir(dir string) error {
	// 0711: desktops run as other Unix users and must traverse to their session and home directories;
	// nothing here can be listed or read by them.
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
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

// Modes `deskhub serve` gives its data directory and what is in it. The directory is 0711, not 0700:
// each deskhub account's desktops run as a Unix user of their own, which must traverse it to reach
// <data>/sessions/<id> and <data>/homes/<login>; the missing read bit keeps them from listing it, so
// they find nothing they are not told the name of. Everything else in it is the broker's alone:
// the database and its WAL files, keys, the known sshd host keys, the server id, the mail outbox.
const (
	dataDirMode   = 0o711
	privateMode   = 0o600
	privateDirMod = 0o700
)

// privateFiles are the data directory's files only the broker may read (absent ones are skipped).
var privateFiles = []string{"deskhub.db", "deskhub.db-wal", "deskhub.db-shm", "secret.key", "server-id", "ssh_known_hosts"}

// secureDataDir forces the modes above onto an existing data directory too (one made by hand, or by an
// older deskhub, may be 0755 with readable files). It does not touch the sessions and homes trees:
// their owners are the desktops' users, and the provider sets their modes.
func secureDataDir(dir string) error {
	if err := os.Chmod(dir, dataDirMode); err != nil {
		return fmt.Errorf("data directory %s: %w", dir, unwrapPathErr(err))
	}
	for _, name := range privateFiles {
		if err := chmodIfExists(filepath.Join(dir, name), privateMode); err != nil {
			return err
		}
	}
	for _, name := range []string{"sessions", "homes"} {
		if err := chmodIfExists(filepath.Join(dir, name), dataDirMode); err != nil {
			return err
		}
	}
	outbox := filepath.Join(dir, "outbox")
	if err := chmodIfExists(outbox, privateDirMod); err != nil {
		return err
	}
	mails, _ := filepath.Glob(filepath.Join(outbox, "*.eml"))
	for _, m := range mails {
		if err := chmodIfExists(m, privateMode); err != nil {
			return err
		}
	}
	return nil
}

// chmodIfExists sets the mode of path unless it does not exist; it never follows a symbolic link.
func chmodIfExists(path string, mode os.FileMode) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if fi.Mode()&os.ModeSymlink != 0 || fi.Mode().Perm() == mode {
		return nil
	}
	if err := os.Chmod(path, mode); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	return nil
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
		if sf.pgMaxConns < 0 || sf.pgMaxConns > postgres.MaxMaxConns {
			return nil, fmt.Errorf("--pg-max-conns: want 0 (default) to %d, not %d", postgres.MaxMaxConns, sf.pgMaxConns)
		}
		return postgres.OpenWith(ctx, sf.db, log, postgres.Options{MaxConns: sf.pgMaxConns})
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
