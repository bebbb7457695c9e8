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
	// FreezeChanges is a number that moves whenever FreezeState may answer differently for any
	// desktop: two equal readings mean that no desktop was frozen, thawed, added or dropped between
	// them.
	FreezeChanges() uint64
}

// Trimmer is the optional capability of providers that can give an idle desktop's page cache back to
// the host (docs/LXD-DESKTOPS.md "Idle desktops give back their page cache"): the files the desktop read
// are dropped from its memory and read again when needed; its processes and windows are untouched. The
// LXD provider reclaims the instance's cgroup (cgroup v2 memory.reclaim, internal/cgmem); the local
// provider cannot (errors.ErrUnsupported). Trim answers the desktop's memory before and after, in bytes.
type Trimmer interface {
	Trim(ctx context.Context, id string) (before, after int64, err error)
}
