package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/buildinfo"
)

// The command-line client: `deskhub login URL` keeps the server's URL and a login token in the user's
// config file; the other client commands (session, server, instance, token) talk to that server
// through the Go client. --url/--token (DESKHUB_URL/DESKHUB_TOKEN) override the file.

// remoteConfig is the client's config file.
type remoteConfig struct {
	URL   string `json:"url"`
	Login string `json:"login"`
	Token string `json:"token"`
}

// configPath is $DESKHUB_CONFIG, or <user config dir>/deskhub/config.json.
func configPath(e *Env) (string, error) {
	if p := e.Getenv("DESKHUB_CONFIG"); p != "" {
		return p, nil
	}
	dir := e.Getenv("XDG_CONFIG_HOME")
	if dir == "" && e.Getenv("HOME") != "" {
		dir = filepath.Join(e.Getenv("HOME"), ".config")
	}
	if dir == "" {
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no config directory: %v (set DESKHUB_CONFIG)", err)
		}
		dir = d
	}
	return filepath.Join(dir, "deskhub", "config.json"), nil
}

func loadConfig(e *Env) (remoteConfig, string, error) {
	var cfg remoteConfig
	path, err := configPath(e)
	if err != nil {
		return cfg, "", err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, path, nil
	}
	if err != nil {
		return cfg, path, err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return cfg, path, fmt.Errorf("%s: %v", path, err)
	}
	return cfg, path, nil
}

// saveConfig writes the config file, mode 0600 in a 0700 directory, atomically.
func saveConfig(path string, cfg remoteConfig) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(cfg, "", "  ")
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// remoteFlags are the flags every client command takes.
type remoteFlags struct {
	url, token string
	json       bool
}

func (rf *remoteFlags) bind(b *envFlags, withJSON bool) {
	b.string(&rf.url, "url", "DESKHUB_URL", "", "server URL (default: the one of deskhub login)")
	b.string(&rf.token, "token", "DESKHUB_TOKEN", "", "token to send (default: the one of deskhub login)")
	if withJSON {
		b.fs.BoolVar(&rf.json, "json", false, "print JSON instead of a table")
	}
}

// client makes the Go client from the flags and the config file.
func (rf *remoteFlags) client(e *Env) (*client.Client, error) {
	cfg, _, err := loadConfig(e)
	if err != nil {
		return nil, err
	}
	url, token := cfg.URL, cfg.Token
	if rf.url != "" {
		url = rf.url
		if rf.url != cfg.URL {
			token = "" // the saved token is for the saved server only
		}
	}
	if rf.token != "" {
		token = rf.token
	}
	if url == "" {
		return nil, errors.New("no server: run 'deskhub login URL' first (or pass --url)")
	}
	if token == "" {
		return nil, fmt.Errorf("not logged in to %s: run 'deskhub login %s' first (or pass --token)", url, url)
	}
	return client.New(url, &client.Options{Token: token, UserAgent: userAgent()})
}

// parseArgs parses flags and positional arguments in any order (everything after "--" is
// positional) and checks their number: at least min, at most max (-1: any).
func parseArgs(e *Env, fs *flag.FlagSet, name string, args []string, min, max int, what string) ([]string, error) {
	var pos []string
	for {
		err := fs.Parse(args)
		switch {
		case errors.Is(err, flag.ErrHelp):
			fs.SetOutput(e.Stdout)
			fs.Usage()
			return nil, flag.ErrHelp
		case err != nil:
			return nil, usageError(e, fs, "deskhub: %v", err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usageError(e, fs, "deskhub %s: missing %s", name, what)
	case max >= 0 && len(pos) > max:
		return nil, usageError(e, fs, "deskhub %s: unexpected arguments: %s", name, strings.Join(pos[max:], " "))
	}
	return pos, nil
}

func userAgent() string { return "deskhub-cli/" + buildinfo.Get().Version }

// printJSON prints v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints rows under a header, aligned.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// dash shows an empty value as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// prompt reads one line from the terminal (or from in, standard input buffered once for all prompts),
// without echo when secret and stdin is a terminal.
func prompt(e *Env, in *bufio.Reader, label string, secret bool) (string, error) {
	if f, ok := e.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(e.Stderr, label)
		if secret {
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(e.Stderr)
			return string(b), err
		}
	}
	if e.Stdin == nil {
		return "", errors.New("no standard input to read " + strings.TrimSuffix(label, ": ") + " from")
	}
	line, err := in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// runLogin asks for the login and password (or takes --user, and the first line of standard input
// with --password-stdin), logs in on the session surface of the server at URL, and keeps the URL and
// the token in the config file.
func runLogin(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "login", "login URL [--user LOGIN] [--password-stdin]")
	user := fs.String("user", "", "login name (default: asked)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	pos, err := parseArgs(e, fs, "login", args, 1, 1, "URL")
	if err != nil {
		return err
	}
	c, err := client.New(pos[0], &client.Options{UserAgent: userAgent()})
	if err != nil {
		return err
	}
	var in *bufio.Reader
	if e.Stdin != nil {
		in = bufio.NewReader(e.Stdin)
	}
	if *user == "" {
		if *pwStdin {
			return usageError(e, fs, "deskhub login: --password-stdin needs --user")
		}
		if *user, err = prompt(e, in, "Login: ", false); err != nil {
			return err
		}
	}
	var password string
	if *pwStdin {
		password, err = readPassword(e.Stdin)
	} else {
		password, err = prompt(e, in, "Password: ", true)
	}
	if err != nil {
		return err
	}
	st, err := c.Login(ctx, fastx.LoginRequest{Username: *user, Password: password})
	// A host account may ask for its password again as a stage of its own.
	for i := 0; err == nil && st.Stage != fastx.StageSuccess && i < 3; i++ {
		switch {
		case st.Stage == fastx.StagePassword:
			st, err = c.LoginPassword(ctx, st.Token, password)
		case st.Stage == fastx.StageKeyboardInteractive && len(st.Prompts) <= 1:
			st, err = c.LoginKeyboardInteractive(ctx, st.Token, password)
		default:
			return fmt.Errorf("the server asks for the %s login stage, which this command does not do; use the web UI", st.Stage)
		}
	}
	if err != nil {
		return err
	}
	_, path, err := loadConfig(e)
	if err != nil {
		return err
	}
	cfg := remoteConfig{URL: c.URL().String(), Login: *user, Token: c.Token()}
	if err := saveConfig(path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "logged in to %s as %s\n", cfg.URL, cfg.Login)
	return nil
}

func runLogout(ctx context.Context, e *Env, args []string) error {
	fs := newFlagSet(e, "logout", "logout")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	cfg, path, err := loadConfig(e)
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		return errors.New("not logged in")
	}
	c, err := client.New(cfg.URL, &client.Options{Token: cfg.Token, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	// A token the server no longer knows is as good as revoked.
	if err := c.Logout(ctx); err != nil && client.StatusCode(err) != 401 {
		return err
	}
	cfg.Token = ""
	if err := saveConfig(path, cfg); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "logged out of %s\n", cfg.URL)
	return nil
}
