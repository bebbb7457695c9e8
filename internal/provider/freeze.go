package provider

import (
	"context"
	"time"
)

// Freezer is the optional capability of providers that can freeze a desktop: its processes stop
// running (no CPU, memory kept) until Thaw, and it comes back as it was. The LXD provider freezes the
// instance's cgroup (LXD's freeze action); the local provider cannot (errors.ErrUnsupported).
type Freezer interface {
	// Freeze freezes the desktop (a frozen one stays frozen); errors.ErrUnsupported when its provider
	// cannot.
	Freeze(ctx context.Context, id string) error
	// Thaw lets a frozen desktop run again (one that is not frozen is no error). Every call that needs
	// the desktop — DialRFB, DialAgent, Screenshot, Exec — thaws it first.
	Thaw(ctx context.Context, id string) error
	// FreezeState tells whether the desktop is frozen, and when it was last frozen or thawed (zero:
	// never).
	FreezeState(id string) (frozen bool, changed time.Time)
}
