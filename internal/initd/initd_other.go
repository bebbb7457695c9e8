//go:build !linux

package initd

import (
	"context"
	"errors"
	"io"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitGaveUp  = 3
)

// Run is the desktop's init, which runs on Linux only.
func Run(ctx context.Context, c Config, stdout io.Writer) (int, error) {
	return ExitFailure, errors.New("the desktop's init runs on Linux only")
}
