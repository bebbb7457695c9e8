package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/deskhub/deskhub/internal/auth"
	"github.com/deskhub/deskhub/internal/store"
)

func userUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: deskhub user add --login L --email E --password-stdin [--admin] [--data DIR] [--db URL]")
	fmt.Fprintln(w, "\nSubcommands:\n  add   create an account (the password is read from the first line of standard input)")
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
	u, err := auth.NewLocalUser(*login, *email, password, *admin)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, sf, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("an account with login %q or email %q exists already", u.Login, u.Email)
		}
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
		return "", errors.New("--password-stdin: standard input is empty; pipe the password in, e.g. echo \"$PW\" | deskhub user add …")
	}
	return line, nil
}
