package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/deskhub/deskhub/internal/xdesk"
)

// The keymap cache. At every start an X server compiles its keyboard map: it runs xkbcomp on the
// components its rules name for the default keyboard (evdev rules, pc105, us: "evdev+aliases(qwerty)",
// "pc+us+inet(evdev)", …), and xkbcomp parses some 40 files of the system's XKB data to do so, ~9 ms of
// CPU while the server waits (TigerVNC takes no compiled keymap, and the xkbcomp it runs is fixed at
// build time). The cache is a directory given to Xvnc as -xkbdir:
//
//	<StateDir>/.xkb/<key>/rules/evdev     names the files below for every model and layout
//	<StateDir>/.xkb/<key>/<component>/deskhub   (keycodes/evdev_deskhub) the default keymap's component,
//	                                      flattened (xkbcomp -xkb of the names the server compiled)
//	<StateDir>/.xkb/<key>/<component>/*   symbolic links to every file of the system's directory
//
// so that the server's xkbcomp reads one flat file per component (~4–5 ms less CPU before the server
// serves), while a client that asks for another keymap (setxkbmap de) gets it compiled from the system's
// files through the links. The keymap is the same (TestKeymapCache compares them); what differs is
// the component names the server reports (XkbGetNames: "evdev_deskhub", "deskhub" instead of the
// include strings; the keycodes name still starts with "evdev", which some clients look for), and
// _XKB_RULES_NAMES, which tools such as setxkbmap -query read, is unchanged.
//
// The names are learnt once from a desktop started without the cache (the first one after the system's
// XKB data, xkbcomp or Xvnc changed: <key> hashes their times and sizes), in the background, by xkbcomp
// runs as that desktop's account (whose X server it reads); they must name files of the system's
// directory (componentRE). The directory is made aside and renamed into place, and kept for later runs
// of deskhub. It and its files are deskhub's and world-readable (the servers run as the desktops'
// accounts); they hold a copy of public system data only.

// xkbBase is the system's XKB data, the X server's default -xkbdir.
const xkbBase = "/usr/share/X11/xkb"

// xkbComponents are the keymap components in the order of a keymap file, with the name of their
// section there and the file name of their flattened copy.
var xkbComponents = []struct{ dir, section, file string }{
	{"keycodes", "xkb_keycodes", "evdev_deskhub"},
	{"types", "xkb_types", "deskhub"},
	{"compat", "xkb_compatibility", "deskhub"},
	{"symbols", "xkb_symbols", "deskhub"},
	{"geometry", "xkb_geometry", "deskhub"},
}

// keymapCache is the provider's state of the cache.
type keymapCache struct {
	mu       sync.Mutex
	failed   map[string]bool // keys whose directory made a server fail: not used again by this process
	learning bool
}

// keymapKey answers the cache key of the system's current XKB data, xkbcomp and the X server at xvnc
// ("" when one of them cannot be read: no cache then).
func keymapKey(xvnc string) string {
	h := sha256.New()
	for _, p := range []string{xvnc, "/usr/bin/xkbcomp", filepath.Join(xkbBase, "rules", "evdev"),
		filepath.Join(xkbBase, "keycodes"), filepath.Join(xkbBase, "types"), filepath.Join(xkbBase, "compat"),
		filepath.Join(xkbBase, "symbols"), filepath.Join(xkbBase, "geometry")} {
		fi, err := os.Stat(p)
		if err != nil {
			return ""
		}
		fmt.Fprintf(h, "%s %d %d\n", p, fi.ModTime().UnixNano(), fi.Size())
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// keymapDir answers the cache directory for the X server at xvnc, "" when there is none (yet) or the
// cache is off.
func (p *Provider) keymapDir(xvnc string) (dir, key string) {
	if p.o.NoKeymapCache {
		return "", ""
	}
	key = keymapKey(xvnc)
	if key == "" {
		return "", ""
	}
	p.km.mu.Lock()
	failed := p.km.failed[key]
	p.km.mu.Unlock()
	dir = filepath.Join(p.o.StateDir, ".xkb", key)
	if fi, err := os.Lstat(dir); failed || err != nil || !fi.IsDir() {
		return "", key
	}
	return dir, key
}

// keymapFailed stops using the cache of key in this process (a server given it did not come up).
func (p *Provider) keymapFailed(key string) {
	p.km.mu.Lock()
	defer p.km.mu.Unlock()
	if p.km.failed == nil {
		p.km.failed = map[string]bool{}
	}
	p.km.failed[key] = true
}

// learnKeymap builds the cache of key from the keymap of display n (cookie in xauth), whose server runs
// as cred, in the background; one build at a time.
func (p *Provider) learnKeymap(key string, n int, xauth string, cred *syscall.Credential) {
	p.km.mu.Lock()
	if p.km.learning || p.km.failed[key] {
		p.km.mu.Unlock()
		return
	}
	p.km.learning = true
	p.km.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		t0 := time.Now()
		err := buildKeymap(ctx, filepath.Join(p.o.StateDir, ".xkb"), key, n, xauth, cred)
		p.km.mu.Lock()
		p.km.learning = false
		p.km.mu.Unlock()
		if err != nil {
			p.log.Warn("keymap cache not built; desktops compile the keymap from the system's files", "error", err)
			return
		}
		p.log.Info("keymap cache built", "key", key, "ms", ms(time.Since(t0)))
	}()
}

var (
	sectionRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?m)^(xkb_keycodes|xkb_types|xkb_compatibility|xkb_symbols|xkb_geometry) "([^"]*)" \{`)
	})
	// componentRE is what a component name learnt from a server may be: files and maps of the system's
	// directory ("pc+us+inet(evdev)", "pc+us+de:2"), no path.
	componentRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_+():-]{1,200}$`) })
)

// buildKeymap makes parent/key: the names of display n's keymap (as the server compiled them), that
// keymap compiled flat from the system's files, split into one file per component, the links to the
// system's files and the rules naming the flat files. The xkbcomp runs are the account's (cred: the
// server is the account's, and so is what it answers).
func buildKeymap(ctx context.Context, parent, key string, n int, xauth string, cred *syscall.Credential) error {
	dump := exec.CommandContext(ctx, "xkbcomp", "-w", "0", "-xkb", xdesk.DisplayName(n), "-")
	dump.Env = []string{"PATH=" + xdesk.Path, "XAUTHORITY=" + xauth}
	dump.Dir = "/"
	dump.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := dump.Output()
	if err != nil {
		return fmt.Errorf("xkbcomp (keymap of %s): %w", xdesk.DisplayName(n), err)
	}
	names := map[string]string{}
	for _, m := range sectionRE().FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = m[2]
	}
	var src strings.Builder
	src.WriteString("xkb_keymap {\n")
	for _, c := range xkbComponents {
		name := names[c.section]
		if !componentRE().MatchString(name) {
			return fmt.Errorf("the keymap of %s has no usable %s name", xdesk.DisplayName(n), c.section)
		}
		fmt.Fprintf(&src, "\t%s { include \"%s\" };\n", c.section, name)
	}
	src.WriteString("};\n")
	comp := exec.CommandContext(ctx, "xkbcomp", "-w", "0", "-R"+xkbBase, "-xkb", "-", "-")
	comp.Stdin = strings.NewReader(src.String())
	comp.Env, comp.Dir, comp.SysProcAttr = dump.Env[:1], "/", &syscall.SysProcAttr{Credential: cred}
	flat, err := comp.Output()
	if err != nil {
		return fmt.Errorf("xkbcomp (flat keymap): %w", err)
	}
	sections, err := splitKeymap(flat)
	if err != nil {
		return err
	}

	if err := ownedDir(parent, 0o755, -1, -1); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // left only when the rename failed
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	var rules strings.Builder
	for i, c := range xkbComponents {
		dir := filepath.Join(tmp, c.dir)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		ents, err := os.ReadDir(filepath.Join(xkbBase, c.dir))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := os.Symlink(filepath.Join(xkbBase, c.dir, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
		body := sectionRE().ReplaceAllString(sections[i], c.section+` "`+c.file+`" {`)
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(body), 0o644); err != nil {
			return err
		}
		// Every model and layout (variants and options do not take part in these rules) gets the
		// flat file: the server asks its rules only for its own default keyboard.
		if c.dir == "keycodes" || c.dir == "geometry" {
			fmt.Fprintf(&rules, "! model = %s\n  * = %s\n\n", c.dir, c.file)
		} else {
			fmt.Fprintf(&rules, "! model layout = %s\n  * * = %s\n\n", c.dir, c.file)
		}
	}
	if err := os.Mkdir(filepath.Join(tmp, "rules"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "rules", "evdev"), []byte(rules.String()), 0o644); err != nil {
		return err
	}
	err = os.Rename(tmp, filepath.Join(parent, key))
	if errors.Is(err, os.ErrExist) || errors.Is(err, syscall.ENOTEMPTY) {
		return nil // made meanwhile by another deskhub
	}
	return err
}

// splitKeymap cuts an xkbcomp -xkb keymap into its five sections, in the order of xkbComponents (each
// from its "xkb_… "name" {" line to its closing "};" line).
func splitKeymap(km []byte) ([]string, error) {
	var out []string
	for _, c := range xkbComponents {
		start := bytes.Index(km, []byte("\n"+c.section+` "`))
		if start < 0 {
			return nil, fmt.Errorf("flat keymap: no %s section", c.section)
		}
		start++
		end := bytes.Index(km[start:], []byte("\n};\n"))
		if end < 0 {
			return nil, fmt.Errorf("flat keymap: %s section not closed", c.section)
		}
		out = append(out, string(km[start:start+end+4]))
	}
	return out, nil
}
