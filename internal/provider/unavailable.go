package provider

import (
	"context"
	"fmt"
	"net"
)

// Unavailable is the provider of a host that cannot run desktops (its real provider failed to set up):
// deskhub still serves everything else, and every desktop call says why.
type Unavailable struct {
	Err error
	// Host, when set, reports the host's load (the host is there, even if its desktops cannot run).
	Host  LoadReporter
	ended chan Ended
}

var _ Provider = (*Unavailable)(nil)

// NewUnavailable wraps the reason desktops cannot run here.
func NewUnavailable(err error) *Unavailable { return &Unavailable{Err: err, ended: make(chan Ended)} }

func (u *Unavailable) err() error { return Unavailablef(u.Err, "desktops cannot run on this host") }

// unavailableError is an ErrUnavailable with its reason.
type unavailableError struct {
	msg string
	err error
}

func (e *unavailableError) Error() string   { return e.msg + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// Unavailablef is an error that is ErrUnavailable and err, saying what cannot be done.
func Unavailablef(err error, format string, args ...any) error {
	return &unavailableError{msg: fmt.Sprintf(format, args...), err: err}
}

func (u *Unavailable) Name() string { return "unavailable" }
func (u *Unavailable) Start(context.Context, Spec) (*Desktop, error) {
	return nil, u.err()
}
func (u *Unavailable) Stop(context.Context, string) error            { return nil }
func (u *Unavailable) Running(context.Context, string) (bool, error) { return false, nil }
func (u *Unavailable) Adopt(context.Context, Desktop) (*Desktop, error) {
	return nil, fmt.Errorf("%w: %v", ErrGone, u.err())
}
func (u *Unavailable) DialRFB(context.Context, string) (net.Conn, error) { return nil, u.err() }
func (u *Unavailable) Screenshot(context.Context, string, ScreenshotOptions) ([]byte, error) {
	return nil, u.err()
}
func (u *Unavailable) Exec(context.Context, string, []string) (int, error) { return 0, u.err() }
func (u *Unavailable) Log(context.Context, string, int) ([]byte, error)    { return nil, ErrNotFound }
func (u *Unavailable) Ended() <-chan Ended                                 { return u.ended }
func (u *Unavailable) Close() error                                        { return nil }

// Load implements LoadReporter through Host.
func (u *Unavailable) Load(ctx context.Context) (Load, error) {
	if u.Host == nil {
		return Load{}, u.err()
	}
	return u.Host.Load(ctx)
}
