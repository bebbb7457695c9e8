package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/deskhub/deskhub/internal/account"
	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/store"
	"github.com/deskhub/deskhub/internal/unixid"
)

func userUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: deskhub user <subcommand> [flags] (every subcommand takes --data DIR and --db URL)")
	fmt.Fprintln(w, `
Subcommands:
  add     --login L --email E --password-stdin [--admin]
          create an account (the password is read from the first line of standard input)
  list    [--json]
          list the accounts: a table, or one JSON object per line
  lock    LOGIN
          disable an account: it can no longer log in, and all its tokens are revoked
  unlock  LOGIN
          enable a locked account again (revoked tokens stay revoked)
  passwd  LOGIN --password-stdin
          set a new password (first line of standard input); revokes the account's login tokens
  delete  LOGIN --yes
          delete an account with its tokens, keys, credentials and sessions; refuses the last administrator

Run 'deskhub user <subcommand> --help' for the flags of a subcommand.`)
}

func runUser(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 {
		userUsage(e.Stderr)
		return errUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		userUsage(e.Stdout)
		return nil
	case "add":
		return runUserAdd(ctx, e, args[1:])
	case "list":
		return runUserList(ctx, e, args[1:])
	case "lock":
		return runUserLock(ctx, e, args[1:], true)
	case "unlock":
		return runUserLock(ctx, e, args[1:], false)
	case "passwd":
		return runUserPasswd(ctx, e, args[1:])
	case "delete":
		return runUserDelete(ctx, e, args[1:])
	}
	fmt.Fprintf(e.Stderr, "deskhub user: unknown subcommand %q\n\n", args[0])
	userUsage(e.Stderr)
	return errUsage
}

func runUserAdd(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "user add", "user add --login L --email E --password-stdin [--admin] [--data DIR] [--db URL]")
	b := &envFlags{e: e, fs: fs}
	var sf storeFlags
	sf.bind(b)
	login := fs.String("login", "", "login name (lower case, up to 32 characters)")
	email := fs.String("email", "", "e-mail address")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	admin := fs.Bool("admin", false, "make the account an administrator")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	var missing []string
	if *login == "" {
		missing = append(missing, "--login")
	}
	if *email == "" {
		missing = append(missing, "--email")
	}
	if !*pwStdin {
		missing = append(missing, "--password-stdin")
	}
	if len(missing) > 0 {
		fmt.Fprintf(e.Stderr, "deskhub user add: missing %s\n\n", strings.Join(missing, ", "))
		fs.SetOutput(e.Stderr)
		fs.Usage()
		return errUsage
	}
	password, err := readPassword(e.Stdin)
	if err != nil {
		return err
	}
	st, err := openQuiet(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := accounts(st).AddUser(ctx, account.Operator, account.NewUser{Login: *login, Email: *email, Password: password, Admin: *admin})
	if err != nil {
		return err
	}
	role := "user"
	if u.Admin {
		role = "administrator"
	}
	fmt.Fprintf(e.Stdout, "created %s %q (id %d) in the %s store\n", role, u.Login, u.ID, st.Backend())
	return nil
}

// readPassword reads the first line of r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("--password-stdin: no standard input")
	}
	line, err := bufio.NewReader(io.LimitReader(r, auth.MaxPasswordLen+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: standard input is empty; pipe the password in, e.g. printf '%s\\n' \"$PW\" | deskhub user …")
	}
	return line, nil
}

// usageError prints msg and the usage of fs on stderr: a bad command line (exit 2).
func usageError(e *Env, fs *flag.FlagSet, format string, a ...any) error {
	fmt.Fprintf(e.Stderr, format+"\n\n", a...)
	fs.SetOutput(e.Stderr)
	fs.Usage()
	return errUsage
}

// parseLogin parses the flags and the one LOGIN argument of a subcommand. The flag package stops at
// the first non-flag argument, so parsing resumes after it: `lock alice`, `lock --data X alice` and
// `lock alice --data X` all work. Everything after "--" is positional.
func parseLogin(e *Env, fs *flag.FlagSet, name string, args []string) (string, error) {
	pos, err := parseArgs(e, fs, name, args, 1, 1, "LOGIN")
	if err != nil {
		return "", err
	}
	return pos[0], nil
}

// userJSON is one line of `user list --json`.
type userJSON struct {
	ID             int64     `json:"id"`
	Login          string    `json:"login"`
	Email          string    `json:"email"`
	Name           string    `json:"name"`
	Provider       string    `json:"provider"`
	Admin          bool      `json:"admin"`
	PasswordLocked bool      `json:"password_locked"`
	Disabled       bool      `json:"disabled"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

func runUserList(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "user list", "user list [--json] [--data DIR] [--db URL]")
	b := &envFlags{e: e, fs: fs}
	var sf storeFlags
	sf.bind(b)
	asJSON := fs.Bool("json", false, "print one JSON object per account and line instead of a table")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	st, err := openQuiet(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := accounts(st).Users(ctx, account.Operator)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.Stdout)
		for _, u := range users {
			if err := enc.Encode(userJSON{u.ID, u.Login, u.Email, u.Name, u.Provider, u.Admin, u.PasswordLocked,
				u.Disabled, u.CreatedAt, u.UpdatedAt}); err != nil {
				return err
			}
		}
		return nil
	}
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tLOGIN\tEMAIL\tPROVIDER\tADMIN\tPW-LOCKED\tDISABLED\tCREATED")
	for _, u := range users {
		email := u.Email
		if email == "" {
			email = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Login, email, u.Provider, yn(u.Admin),
			yn(u.PasswordLocked), yn(u.Disabled), u.CreatedAt.UTC().Format(time.RFC3339))
	}
	return tw.Flush()
}

// runUserLock locks (disables) or unlocks an account. Locking also revokes every token of the account,
// so that sessions already logged in end at their next request.
func runUserLock(ctx context.Context, e *Env, args []string, lock bool) error {
	name := "user unlock"
	if lock {
		name = "user lock"
	}
	fs := newFlagSet(e, name, name+" [--data DIR] [--db URL] LOGIN")
	b := &envFlags{e: e, fs: fs}
	var sf storeFlags
	sf.bind(b)
	login, err := parseLogin(e, fs, name, args)
	if err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	st, err := openQuiet(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := accounts(st).SetDisabled(ctx, account.Operator, login, lock)
	if err != nil {
		return err
	}
	u, was, revoked := l.User, l.Was, l.Revoked
	switch {
	case lock && was:
		fmt.Fprintf(e.Stdout, "%q (id %d) was already locked; revoked %s\n", u.Login, u.ID, plural(revoked, "token"))
	case lock:
		fmt.Fprintf(e.Stdout, "locked %q (id %d): it can no longer log in or use its tokens; revoked %s\n",
			u.Login, u.ID, plural(revoked, "token"))
	case !was:
		fmt.Fprintf(e.Stdout, "%q (id %d) was not locked\n", u.Login, u.ID)
	default:
		fmt.Fprintf(e.Stdout, "unlocked %q (id %d): it can log in again (its old tokens stay revoked)\n", u.Login, u.ID)
	}
	return nil
}

func runUserPasswd(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "user passwd", "user passwd --password-stdin [--data DIR] [--db URL] LOGIN")
	b := &envFlags{e: e, fs: fs}
	var sf storeFlags
	sf.bind(b)
	pwStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input")
	login, err := parseLogin(e, fs, "user passwd", args)
	if err != nil {
		return err
	}
	if !*pwStdin {
		return usageError(e, fs, "deskhub user passwd: missing --password-stdin")
	}
	if err := b.err(); err != nil {
		return err
	}
	password, err := readPassword(e.Stdin)
	if err != nil {
		return err
	}
	st, err := openQuiet(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	u, revoked, err := accounts(st).SetPassword(ctx, account.Operator, login, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "changed the password of %q (id %d); revoked %s\n", u.Login, u.ID, plural(revoked, "login token"))
	if u.Disabled {
		fmt.Fprintf(e.Stdout, "note: %q is locked; 'deskhub user unlock %s' lets it log in\n", u.Login, u.Login)
	}
	return nil
}

func runUserDelete(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "user delete", "user delete --yes [--data DIR] [--db URL] [--home-root DIR] [--session-user-prefix P] LOGIN")
	b := &envFlags{e: e, fs: fs}
	var sf storeFlags
	sf.bind(b)
	yes := fs.Bool("yes", false, "really delete the account (it cannot be undone)")
	var homeRoot, prefix string
	b.string(&homeRoot, "home-root", "DESKHUB_HOME_ROOT", "", "directory holding a home per deskhub account; default <data>/homes")
	b.string(&prefix, "session-user-prefix", "DESKHUB_SESSION_USER_PREFIX", unixid.DefaultPrefix, "prefix of the accounts' Unix identities")
	login, err := parseLogin(e, fs, "user delete", args)
	if err != nil {
		return err
	}
	if err := b.err(); err != nil {
		return err
	}
	st, err := openQuiet(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := accounts(st).DeleteUser(ctx, account.Operator, login, *yes)
	if err != nil {
		return err
	}
	u, tokens, keys, creds, sessions := d.User, d.Tokens, d.SSHKeys, d.Credentials, d.Sessions
	fmt.Fprintf(e.Stdout, "deleted %q (id %d) with %s, %s, %s and %s\n", u.Login, u.ID, plural(tokens, "token"),
		plural(keys, "SSH key"), plural(creds, "WebAuthn credential"), plural(sessions, "session record"))
	if u.Provider != store.ProviderLocal {
		return nil // host accounts keep their own Unix user
	}
	return retireIdentity(e, sf, homeRoot, prefix, u)
}

// retireIdentity stops the desktops of a deleted deskhub account and retires its Unix identity.
func retireIdentity(e *Env, sf storeFlags, homeRoot, prefix string, u store.User) error {
	if homeRoot == "" {
		if err := sf.absData(); err != nil {
			return err
		}
		homeRoot = filepath.Join(sf.data, "homes")
	}
	reg, err := unixid.New(prefix, homeRoot)
	if err == nil {
		if os.Geteuid() != 0 {
			err = errors.New("only root can stop its desktops and lock its Unix user")
		} else {
			err = reg.Retire(u.ID, u.Login)
		}
	}
	if err != nil {
		return fmt.Errorf("%q is deleted, but its Unix identity %s was not retired: %v (stop its processes and lock it by hand: pkill -KILL -u %[2]s; usermod --lock %[2]s)",
			u.Login, prefix+strconv.FormatInt(u.ID, 10), err)
	}
	fmt.Fprintf(e.Stdout, "stopped the desktops of %q, locked its Unix identity %s and moved its home under %s\n",
		u.Login, reg.Name(u.ID), filepath.Join(homeRoot, ".retired"))
	return nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// accounts is the account service over st: the subcommands are adapters over the same methods the
// HTTP handlers call.
func accounts(st store.Store) *account.Service {
	return account.New(account.Options{Store: st, Auth: auth.New(auth.Options{Store: st})})
}

// openQuiet opens the configured store for a user subcommand (store logs are not shown on a terminal).
func openQuiet(ctx context.Context, sf storeFlags) (store.Store, error) {
	return openStore(ctx, sf, slog.New(slog.DiscardHandler))
}
