package local

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

	"github.com/deskhub/deskhub/internal/provider"
)

// sessionPath is PATH inside desktops.
const sessionPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"

// account is a resolved Unix user.
type account struct {
	Name   string   `json:"name"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`
	Home   string   `json:"home"`
	Shell  string   `json:"shell,omitempty"`
}

// lookupAccount resolves r.User; Home defaults to the passwd home.
func lookupAccount(r provider.RunAs) (*account, error) {
	if r.User == "" {
		return nil, errors.New("local: RunAs.User is empty")
	}
	u, err := user.Lookup(r.User)
	if err != nil {
		return nil, fmt.Errorf("local: unix user %q: %w", r.User, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("local: unix user %q: uid %q", r.User, u.Uid)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("local: unix user %q: gid %q", r.User, u.Gid)
	}
	a := &account{Name: u.Username, UID: uint32(uid), GID: uint32(gid), Home: r.Home}
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
		return nil, fmt.Errorf("local: home %q of %q is not an absolute path", a.Home, r.User)
	}
	a.Home = filepath.Clean(a.Home)
	a.Shell = loginShell(u.Username)
	if os.Geteuid() != 0 && a.UID != uint32(os.Geteuid()) {
		return nil, fmt.Errorf("local: deskhub runs as uid %d and cannot start desktops as %q (uid %d): run it as root",
			os.Geteuid(), r.User, a.UID)
	}
	return a, nil
}

// loginShell reads the user's shell from /etc/passwd; accounts without a login shell get /bin/sh (programs
// such as xterm run $SHELL).
func loginShell(name string) string {
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

// credential is how child processes drop to the account (nil when deskhub already runs as it).
func (a *account) credential() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.Credential{Uid: a.UID, Gid: a.GID, Groups: a.Groups}
}

// ensureHome creates the home directory (0700, owned by the account) when it is missing.
func (a *account) ensureHome() error {
	fi, err := os.Lstat(a.Home)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("local: home %s is not a directory", a.Home)
		}
		return nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("local: home: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(a.Home), 0o755); err != nil {
		return fmt.Errorf("local: home: %w", err)
	}
	if err := os.Mkdir(a.Home, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("local: home: %w", err)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(a.Home, int(a.UID), int(a.GID)); err != nil {
			return fmt.Errorf("local: home: %w", err)
		}
	}
	return nil
}

// canExec tells whether the account may execute a file with this mode and owner.
func (a *account) canExec(fi os.FileInfo) bool {
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

func (a *account) inGroup(g uint32) bool {
	for _, x := range a.Groups {
		if x == g {
			return true
		}
	}
	return false
}

// lookPath resolves argv[0] like a shell would with the session PATH; failure wraps ErrBadCommand.
func (a *account) lookPath(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty command", provider.ErrBadCommand)
	}
	try := func(p string) bool {
		fi, err := os.Stat(p)
		return err == nil && a.canExec(fi)
	}
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			name = filepath.Join(a.Home, name)
		}
		if try(name) {
			return name, nil
		}
		return "", fmt.Errorf("%w: %q is not an executable file", provider.ErrBadCommand, name)
	}
	for _, dir := range filepath.SplitList(sessionPath) {
		p := filepath.Join(dir, name)
		if try(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %q not found in PATH (%s)", provider.ErrBadCommand, name, sessionPath)
}

// env is the environment of the session's processes.
func (a *account) env(display int, xauth, lang string, markers ...string) []string {
	return append([]string{
		"HOME=" + a.Home,
		"USER=" + a.Name,
		"LOGNAME=" + a.Name,
		"SHELL=" + a.Shell,
		"PATH=" + sessionPath,
		"LANG=" + lang,
		"DISPLAY=:" + strconv.Itoa(display),
		"XAUTHORITY=" + xauth,
	}, markers...)
}
