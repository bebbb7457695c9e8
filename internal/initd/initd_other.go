//go:build !linux

package initd

import (
	"context"
	"errors"
	"io"
	"time"
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

// HelloOptions are the options of Hello.
type HelloOptions struct {
	RunDir  string
	Wait    time.Duration
	Program string
	Keys    int
	Bridge  bool
	PATH    string
}

// Hello runs inside a desktop container, on Linux only.
func Hello(ctx context.Context, o HelloOptions, stdin io.Reader, stdout io.Writer) error {
	return errors.New("deskhub agent ready runs in a desktop container (Linux) only")
}
