package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Confine resolves rel inside home and returns the resolved absolute path
// (symlinks evaluated). It rejects absolute paths, NUL bytes, ".." components
// and paths that resolve (through symlinks) outside home, including dangling
// symlinks. rel need not exist; its existing prefix is resolved.
func Confine(home, rel string) (string, error) {
	if strings.IndexByte(rel, 0) >= 0 {
		return "", &PathError{rel, "contains NUL"}
	}
	if filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") {
		return "", &PathError{rel, "absolute paths are not allowed"}
	}
	for _, c := range strings.Split(filepath.ToSlash(rel), "/") {
		if c == ".." {
			return "", &PathError{rel, `".." is not allowed`}
		}
	}
	if home == "" || !filepath.IsAbs(home) || strings.IndexByte(home, 0) >= 0 {
		return "", &PathError{home, "home must be an absolute path"}
	}
	root, err := filepath.EvalSymlinks(home)
	if err != nil {
		return "", err
	}
	joined := filepath.Join(root, rel) // Clean; cannot climb: no ".."
	resolved, err := resolveExisting(joined)
	if err != nil {
		return "", &PathError{rel, "cannot be resolved: " + err.Error()}
	}
	if !within(root, resolved) {
		return "", &PathError{rel, "escapes the home directory"}
	}
	return resolved, nil
}

// within reports whether p is root or below it (both clean, absolute).
func within(root, p string) bool {
	if p == root {
		return true
	}
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	return strings.HasPrefix(p, root+string(filepath.Separator))
}

// resolveExisting evaluates symlinks in the longest existing prefix of p and
// appends the non-existing rest. A component that exists (Lstat) but cannot be
// evaluated (dangling or looping symlink) is an error.
func resolveExisting(p string) (string, error) {
	var rest []string
	cur := p
	for {
		if _, err := os.Lstat(cur); err == nil {
			r, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return "", err
			}
			for i := len(rest) - 1; i >= 0; i-- {
				r = filepath.Join(r, rest[i])
			}
			return r, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return "", errors.New("no existing ancestor")
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}
