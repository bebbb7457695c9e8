package xdesk

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Path is PATH inside desktops.
const Path = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"

// ErrNotExecutable is wrapped by LookPath's errors: the program is missing or the account may not run it.
var ErrNotExecutable = errors.New("not executable")

// Account is a resolved Unix user (the JSON names are part of the local provider's runtime data).
type Account struct {
	Name   string   `json:"name"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	Home   string   `json:"home"`
	Shell  string   `json:"shell,omitempty"`
}

// LookupAccount resolves a Unix user: ids, supplementary groups, login shell; home is the passwd home
// unless given.
func LookupAccount(name, home string) (*Account, error) {
	if name == "" {
		return nil, errors.New("empty user name")
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("unix user %q: %w", name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("unix user %q: uid %q", name, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("unix user %q: gid %q", name, u.Gid)
	}
	a := &Account{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: home}
	if gids, err := u.GroupIds(); err == nil {
		for _, g := range gids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				a.Groups = append(a.Groups, uint32(n))
			}
		}
	}
	if a.Home == "" {
		a.Home = u.HomeDir
	}
	if !filepath.IsAbs(a.Home) {
		return nil, fmt.Errorf("home %q of %q is not an absolute path", a.Home, name)
	}
	a.Home = filepath.Clean(a.Home)
	a.Shell = LoginShell(u.Username)
	return a, nil
}

// LoginShell reads the user's shell from /etc/passwd; accounts without a login shell get /bin/sh (programs
// such as xterm run $SHELL).
func LoginShell(name string) string {
	sh := ""
	if f, err := os.Open("/etc/passwd"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			p := strings.Split(sc.Text(), ":")
			if len(p) == 7 && p[0] == name {
				sh = p[6]
				break
			}
		}
		f.Close()
	}
	switch filepath.Base(sh) {
	case "", "nologin", "false":
		return "/bin/sh"
	}
	return sh
}

// Credential is how child processes drop to the account (nil when this process is not root and so
// already runs as it).
func (a *Account) Credential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
}

// EnsureHome creates the home directory (0700, owned by the account) when it is missing.
func (a *Account) EnsureHome() error {
	fi, err := os.Lstat(a.Home)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("home %s is not a directory", a.Home)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("home: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(a.Home), 0o755); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	if err := os.Mkdir(a.Home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("home: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(a.Home, int(a.UID), int(a.GID)); err != nil {
			return fmt.Errorf("home: %w", err)
		}
	}
	return nil
}

// CanExec tells whether the account may execute a file with this mode and owner.
func (a *Account) CanExec(fi os.FileInfo) bool {
	if !fi.Mode().IsRegular() {
		return false
	}
	perm := fi.Mode().Perm()
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return perm&0o111 != 0
	}
	switch {
	case st.Uid == a.UID:
		return perm&0o100 != 0
	case st.Gid == a.GID || a.inGroup(st.Gid):
		return perm&0o010 != 0
	default:
		return perm&0o001 != 0
	}
}

func (a *Account) inGroup(g uint32) bool {
	for _, x := range a.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// LookPath resolves argv[0] like a shell would with the desktop PATH (relative paths from the home);
// failures wrap ErrNotExecutable.
func (a *Account) LookPath(name string) (string, error) {
	if name == "" {
		return "", &lookError{"empty command"}
	}
	try := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && a.CanExec(fi)
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(a.Home, name)
		}
		if try(name) {
			return name, nil
		}
		return "", &lookError{fmt.Sprintf("%q is not an executable file", name)}
	}
	for _, dir := range filepath.SplitList(Path) {
		p := filepath.Join(dir, name)
		if try(p) {
			return p, nil
		}
	}
	return "", &lookError{fmt.Sprintf("%q not found in PATH (%s)", name, Path)}
}

// lookError is a LookPath failure: its message alone (callers add their own prefix), ErrNotExecutable.
type lookError struct{ msg string }

func (e *lookError) Error() string { return e.msg }
func (e *lookError) Unwrap() error { return ErrNotExecutable }

// Env is the environment of the desktop's processes: the account's identity, the desktop PATH, LANG, the
// display and its cookie, then extra entries (which callers use to mark or configure their processes).
func (a *Account) Env(display int, xauth, lang string, extra ...string) []string {
	return append([]string{
		"HOME=" + a.Home,
		"USER=" + a.Name,
		"LOGNAME=" + a.Name,
		"SHELL=" + a.Shell,
		"PATH=" + Path,
		"LANG=" + lang,
		"DISPLAY=:" + strconv.Itoa(display),
		"XAUTHORITY=" + xauth,
	}, extra...)
}
