package multi

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

var _ provider.Freezer = (*Router)(nil)

// freezer is the provider that runs desktop id, when it can freeze desktops.
func (r *Router) freezer(id string) (provider.Freezer, error) {
	p, err := r.of(id)
	if err != nil {
		return nil, err
	}
	f, ok := p.(provider.Freezer)
	if !ok {
		return nil, fmt.Errorf("the desktops of provider %s cannot be frozen: %w", p.Name(), errors.ErrUnsupported)
	}
	return f, nil
}

// Freeze implements provider.Freezer.
func (r *Router) Freeze(ctx context.Context, id string) error {
	f, err := r.freezer(id)
	if err != nil {
		return err
	}
	return f.Freeze(ctx, id)
}

// Thaw implements provider.Freezer; a desktop whose provider cannot freeze is never frozen.
func (r *Router) Thaw(ctx context.Context, id string) error {
	f, err := r.freezer(id)
	if errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Thaw(ctx, id)
}

// FreezeState implements provider.Freezer.
func (r *Router) FreezeState(id string) (bool, time.Time) {
	f, err := r.freezer(id)
	if err != nil {
		return false, time.Time{}
	}
	return f.FreezeState(id)
}

var _ provider.Trimmer = (*Router)(nil)

// Trim implements provider.Trimmer.
func (r *Router) Trim(ctx context.Context, id string) (int64, int64, error) {
	p, err := r.of(id)
	if err != nil {
		return 0, 0, err
	}
	t, ok := p.(provider.Trimmer)
	if !ok {
		return 0, 0, fmt.Errorf("the desktops of provider %s cannot be trimmed: %w", p.Name(), errors.ErrUnsupported)
	}
	return t.Trim(ctx, id)
}

// FreezeChanges implements provider.Freezer: the sum of its backends' (each only grows).
func (r *Router) FreezeChanges() uint64 {
	var n uint64
	if f, ok := r.host.(provider.Freezer); ok {
		n += f.FreezeChanges()
	}
	for _, b := range r.others {
		if f, ok := b.Provider.(provider.Freezer); ok {
			n += f.FreezeChanges()
		}
	}
	return n
}
