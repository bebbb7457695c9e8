package files

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MaxValueSize is the largest value Store.Set accepts.
const MaxValueSize = 1 << 20

// Store keeps desktop values (setDesktop/getDesktop) as JSON files
// <Dir>/<key>.json. Dir is normally <home>/.store.
type Store struct{ Dir string }

// HomeStore returns the Store of a desktop user's home: <home>/.store,
// resolved with Confine so that a .store symlink cannot point outside home.
func HomeStore(home string) (Store, error) {
	dir, err := Confine(home, ".store")
	if err != nil {
		return Store{}, err
	}
	return Store{Dir: dir}, nil
}

// ValidKey reports why key is not acceptable, or nil.
func ValidKey(key string) error {
	if key == "" {
		return &KeyError{key, "empty"}
	}
	if len(key) > 128 {
		return &KeyError{key, "longer than 128 bytes"}
	}
	if key == "." || strings.Contains(key, "..") {
		return &KeyError{key, `"." and ".." are not allowed`}
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return &KeyError{key, "only letters, digits, '.', '_' and '-' are allowed"}
		}
	}
	return nil
}

func (s Store) file(key string) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if s.Dir == "" {
		return "", errors.New("files: store directory not set")
	}
	return filepath.Join(s.Dir, key+".json"), nil
}

// Set stores value (valid JSON, at most 1 MiB) under key, atomically, mode 0600.
func (s Store) Set(key string, value json.RawMessage) error {
	name, err := s.file(key)
	if err != nil {
		return err
	}
	if len(value) > MaxValueSize {
		return &KeyError{key, fmt.Sprintf("value larger than %d bytes", MaxValueSize)}
	}
	if !json.Valid(value) {
		return &KeyError{key, "value is not valid JSON"}
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	return writeAtomic(name, value, 0o600)
}

// Get returns the value stored under key, or ErrNotFound.
func (s Store) Get(key string) (json.RawMessage, error) {
	name, err := s.file(key)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, ErrNotFound
	}
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, ErrNotFound
		}
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxValueSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxValueSize || !json.Valid(b) {
		return nil, fmt.Errorf("files: stored value for %q is corrupt", key)
	}
	return json.RawMessage(b), nil
}

// writeAtomic writes data to a temp file in the same directory, syncs it
// and renames it over name.
func writeAtomic(name string, data []byte, perm fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, name); err != nil {
		return err
	}
	ok = true
	return nil
}
