// Package files implements the file-related parts of the desktop agent
// (Spawner API): desktop key/value store, path confinement to the desktop
// user's home, MIME detection from the freedesktop shared-mime-info database,
// desktop entries (.desktop files) and file search.
package files

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned by Store.Get for a missing key.
var ErrNotFound = errors.New("files: not found")

// KeyError reports an invalid store key or value (a client error, 4xx).
type KeyError struct {
	Key    string
	Reason string
}

func (e *KeyError) Error() string { return fmt.Sprintf("invalid key %q: %s", e.Key, e.Reason) }

// PathError reports a path that is not acceptable inside the home (4xx).
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string { return fmt.Sprintf("invalid path %q: %s", e.Path, e.Reason) }

// InputError reports any other invalid client input (4xx).
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return fmt.Sprintf("invalid %s: %s", e.Field, e.Reason) }
