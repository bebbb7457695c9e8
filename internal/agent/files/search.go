package files

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Search limits.
const (
	DefaultMaxFiles = 64
	MaxMaxFiles     = 1000
)

// Match is one filesearch result.
type Match struct {
	File string `json:"file"` // relative to home, '/'-separated
	Mime string `json:"mime"`
}

// Fold returns s case-folded with accents removed (NFKD, drop Mn), the form
// in which Search compares names and keywords.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii { // the common case: no accents to fold, and ASCII case folding is lower-casing
		return strings.ToLower(s)
	}
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return cases.Fold().String(out)
}

// Search walks home and returns the files whose name contains every
// space-separated keyword (case-insensitive, accents folded), in walk
// (lexical) order, at most max results (DefaultMaxFiles if max <= 0, capped
// at MaxMaxFiles). Hidden files and directories are skipped, symlinked
// directories are not followed, symlinked files are listed only when they
// resolve inside home. mime may be nil (Mime is then empty).
func Search(ctx context.Context, home, keywords string, max int, mime *MIME) ([]Match, error) {
	var kws []string
	for _, k := range strings.Fields(keywords) {
		if strings.IndexByte(k, 0) >= 0 {
			return nil, &InputError{"keywords", "contains NUL"}
		}
		kws = append(kws, Fold(k))
	}
	if len(kws) == 0 {
		return nil, &InputError{"keywords", "required"}
	}
	if max <= 0 {
		max = DefaultMaxFiles
	}
	if max > MaxMaxFiles {
		max = MaxMaxFiles
	}
	if !filepath.IsAbs(home) {
		return nil, &PathError{home, "home must be an absolute path"}
	}
	root, err := filepath.EvalSymlinks(home)
	if err != nil {
		return nil, err
	}
	out := []Match{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if p == root {
				return err
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if p == root {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !matchesAll(Fold(name), kws) {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		full := p
		if d.Type()&fs.ModeSymlink != 0 {
			r, err := Confine(root, rel)
			if err != nil {
				return nil // escapes home or dangling
			}
			if fi, err := os.Stat(r); err != nil || !fi.Mode().IsRegular() {
				return nil // symlinked directories are not followed
			}
			full = r
		}
		m := Match{File: filepath.ToSlash(rel)}
		if mime != nil {
			t, err := mime.TypeOf(full)
			if errors.Is(err, fs.ErrNotExist) {
				return nil // vanished
			}
			if err != nil { // unreadable: go by the name
				t = "application/octet-stream"
				if g := mime.Globs(name); len(g) > 0 {
					t = mime.Unalias(g[0])
				}
			}
			if t == "inode/directory" {
				return nil // symlink to a directory
			}
			m.Mime = t
		}
		out = append(out, m)
		if len(out) >= max {
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func matchesAll(name string, kws []string) bool {
	for _, k := range kws {
		if !strings.Contains(name, k) {
			return false
		}
	}
	return true
}
