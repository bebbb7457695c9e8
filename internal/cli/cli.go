// Package cli is deskhub's command line: it parses subcommands, flags and environment into
// configuration and calls into the rest of deskhub. It is the only package that reads flags or the
// environment.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Env lets tests run the CLI with a chosen environment.
type Env struct {
	Args   []string // without the program name
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Environ lists the environment (default: os.Environ when Getenv is not set, else nothing).
	Environ func() []string
	// Ctx is cancelled to stop `serve` (SIGINT/SIGTERM in the real binary).
	Ctx context.Context
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"serve", "run the broker: infrastructure, session and agent APIs, and the web UI", runServe},
		{"user", "manage accounts in the store: add, list, lock, unlock, passwd, delete", runUser},
		{"agent", "serve the desktop agent (Spawner API) inside one desktop; agent init: the desktop's init", runAgent},
		{"version", "print version, commit and build date", runVersion},
		{"login", "log in to a deskhub server (keeps its URL and a token for the commands below)", runLogin},
		{"logout", "log out of the server of deskhub login", runLogout},
		{"session", "your sessions on the server: start, list, connect, terminate, screenshot, share", runSession},
		{"server", "LXD/Incus servers of the server: add, list", runServer},
		{"instance", "instances on those servers: list, start, stop, delete", runInstance},
		{"token", "your API tokens: create, list, revoke", runToken},
		{"image", "build the desktop image for LXD/Incus (Debian, debootstrap): build", runImage},
	}
}

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

// errUsage marks bad command lines: the usage has been printed, exit 2.
var errUsage = errors.New("usage")

// Main runs the command line and returns the process exit code: 0 on success, 1 on failure, 2 on a
// bad command line.
func Main(e *Env) int {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
		if e.Environ == nil {
			e.Environ = os.Environ
		}
	}
	if e.Environ == nil {
		e.Environ = func() []string { return nil }
	}
	if e.Ctx == nil {
		e.Ctx = context.Background()
	}
	if len(e.Args) == 0 {
		usage(e.Stderr)
		return 2
	}
	name, args := e.Args[0], e.Args[1:]
	switch name {
	case "-h", "--help", "-help", "help":
		usage(e.Stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		err := c.run(e.Ctx, e, args)
		var ee *exitError
		switch {
		case err == nil || errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		case errors.As(err, &ee):
			fmt.Fprintf(e.Stderr, "deskhub %s: %v\n", name, ee.err)
			return ee.code
		default:
			fmt.Fprintf(e.Stderr, "deskhub %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(e.Stderr, "deskhub: unknown command %q\n\n", name)
	usage(e.Stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "deskhub: a self-hosted virtual desktop platform")
	fmt.Fprintln(w, "\nUsage: deskhub <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'deskhub <command> --help' for the flags of a command.")
}

// newFlagSet makes a flag set that reports errors through parse.
func newFlagSet(e *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("deskhub "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: deskhub %s\n\nFlags (environment variables in brackets):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(w, "  --%s", f.Name)
			if n, _ := flag.UnquoteUsage(f); n != "" {
				fmt.Fprintf(w, " %s", n)
			}
			fmt.Fprintf(w, "\n      %s", f.Usage)
			if f.DefValue != "" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintln(w)
		})
	}
	return fs
}

// parse parses args: --help prints usage to stdout (flag.ErrHelp), a bad flag prints the error and
// usage to stderr (errUsage), stray arguments are refused.
func parse(e *Env, fs *flag.FlagSet, args []string) error {
	if err := parseFlags(e, fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.Stderr, "deskhub: unexpected arguments: %s\n\n", strings.Join(fs.Args(), " "))
		fs.SetOutput(e.Stderr)
		fs.Usage()
		return errUsage
	}
	return nil
}

// parseFlags is parse without the check for stray arguments (init gets LXC's and ignores them).
func parseFlags(e *Env, fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(e.Stdout)
		fs.Usage()
		return flag.ErrHelp
	case err != nil:
		fmt.Fprintf(e.Stderr, "deskhub: %v\n\n", err)
		fs.SetOutput(e.Stderr)
		fs.Usage()
		return errUsage
	}
	return nil
}

// envFlags binds flags to environment variables: a variable that is set becomes the flag's default, so
// the command line still wins. Bad values in the environment are reported naming the variable.
type envFlags struct {
	e    *Env
	fs   *flag.FlagSet
	errs []string
}

func (b *envFlags) string(p *string, name, env, def, usage string) {
	if v := b.e.Getenv(env); v != "" {
		def = v
	}
	b.fs.StringVar(p, name, def, usage+" ["+env+"]")
}

func (b *envFlags) bool(p *bool, name, env string, def bool, usage string) {
	if v := b.e.Getenv(env); v != "" {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			def = true
		case "0", "false", "no", "off":
			def = false
		default:
			b.errs = append(b.errs, fmt.Sprintf("%s=%q: want true or false", env, v))
		}
	}
	b.fs.BoolVar(p, name, def, usage+" ["+env+"]")
}

func (b *envFlags) int(p *int, name, env string, def int, usage string) {
	if v := b.e.Getenv(env); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil {
			b.errs = append(b.errs, fmt.Sprintf("%s=%q: want an integer", env, v))
		} else {
			def = n
		}
	}
	b.fs.IntVar(p, name, def, usage+" ["+env+"]")
}

func (b *envFlags) err() error {
	if len(b.errs) == 0 {
		return nil
	}
	sort.Strings(b.errs)
	return fmt.Errorf("bad environment: %s", strings.Join(b.errs, "; "))
}
