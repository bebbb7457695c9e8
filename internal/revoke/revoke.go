// Package revoke ends what was granted through a credential as soon as the credential goes: outstanding
// display secrets are refused and live connections (display relay, agent proxy, event streams) are
// cancelled when the token, share key or account they came through is revoked, deleted or locked.
//
// The database is the one source of truth, because revocations come from other processes too
// (`deskhub user lock` runs beside the server on the same database). So a Registry does not trust
// notifications alone: while anything is live, it re-checks every credential something depends on
// against the store every Interval (default 250 ms; one indexed primary-key read per distinct
// credential, only while connections are open), and at once when Kick is called after an in-process
// revocation. A connection thus ends at most Interval plus one query after any revocation, wherever it
// was made. A failed check (database busy or down) keeps the connection and is logged: a store outage
// must not drop every desktop, and the next successful check ends what was revoked meanwhile.
package revoke

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// Deps are the credentials something was granted through; zero fields are no dependency.
type Deps struct {
	UserID  int64  // the account: locked (disabled) or deleted ends it
	TokenID int64  // the token: revoked, expired or deleted ends it
	ShareID string // the share key: deleted (share/delete, share/reset, session end) ends it
	// Desktop is a desktop-scoped token (a lasting code, store.Code.ID): revoked (used) or expired ends it.
	Desktop int64
}

// ErrRevoked says that a credential of a grant is revoked, expired, deleted or locked.
var ErrRevoked = errors.New("revoke: credential revoked")

// DefaultInterval is how often live dependencies are re-checked when Options.Interval is zero.
const DefaultInterval = 250 * time.Millisecond

// Options configure a Registry.
type Options struct {
	Store    store.Store
	Log      *slog.Logger
	Now      func() time.Time // token expiry clock (default time.Now)
	Interval time.Duration
}

// Registry keeps the live things that depend on credentials and cancels them when one goes.
type Registry struct {
	o       Options
	log     *slog.Logger
	kick    chan struct{}
	mu      sync.Mutex
	live    map[*watch]struct{}
	running bool
	closed  bool
}

type watch struct {
	deps   Deps
	cancel func()
	once   sync.Once
}

// New returns a registry over o.Store.
func New(o Options) *Registry {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	return &Registry{o: o, log: o.Log.With("component", "revoke"), kick: make(chan struct{}, 1), live: map[*watch]struct{}{}}
}

// Check tells whether every credential of d still stands: nil, an error wrapping ErrRevoked, or the
// store's error.
func (r *Registry) Check(ctx context.Context, d Deps) error {
	for _, c := range d.creds() {
		if err := r.check(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// Watch registers something live that depends on d: cancel is called once, from the registry's
// goroutine, when one of d's credentials goes. stop unregisters it (call it when the thing ends).
func (r *Registry) Watch(d Deps, cancel func()) (stop func()) {
	w := &watch{deps: d, cancel: cancel}
	if len(d.creds()) == 0 {
		return func() {}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		w.fire()
		return func() {}
	}
	r.live[w] = struct{}{}
	if !r.running {
		r.running = true
		go r.loop()
	}
	return func() {
		r.mu.Lock()
		delete(r.live, w)
		r.mu.Unlock()
	}
}

// Kick re-checks every live dependency now (call it after revoking something in this process).
func (r *Registry) Kick() {
	if r == nil {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Live reports how many things are watched (tests, metrics).
func (r *Registry) Live() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// Close cancels everything watched and refuses new watches (they are cancelled at once).
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	all := r.snapshotLocked()
	clear(r.live)
	r.mu.Unlock()
	for _, w := range all {
		w.fire()
	}
	r.Kick()
}

func (w *watch) fire() { w.once.Do(w.cancel) }

func (r *Registry) snapshotLocked() []*watch {
	out := make([]*watch, 0, len(r.live))
	for w := range r.live {
		out = append(out, w)
	}
	return out
}

// loop re-checks the live dependencies every interval and on Kick; it ends when nothing is live.
func (r *Registry) loop() {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.kick:
		}
		r.mu.Lock()
		if len(r.live) == 0 || r.closed {
			r.running = false
			r.mu.Unlock()
			return
		}
		ws := r.snapshotLocked()
		r.mu.Unlock()
		r.sweep(ws)
	}
}

// sweep checks each distinct credential of ws once and cancels the watches that depend on a dead one.
func (r *Registry) sweep(ws []*watch) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*r.o.Interval)
	defer cancel()
	dead := map[cred]bool{}
	for _, w := range ws {
		for _, c := range w.deps.creds() {
			if _, seen := dead[c]; seen {
				continue
			}
			err := r.check(ctx, c)
			dead[c] = errors.Is(err, ErrRevoked)
			if err != nil && !dead[c] {
				r.log.Warn("re-checking a credential failed; keeping its connections until the next check", "credential", c.String(), "error", err)
			}
		}
	}
	for _, w := range ws {
		for _, c := range w.deps.creds() {
			if dead[c] {
				r.mu.Lock()
				delete(r.live, w)
				r.mu.Unlock()
				r.log.Info("credential gone: ending what depends on it", "credential", c.String())
				w.fire()
				break
			}
		}
	}
}

// cred is one credential of a Deps.
type cred struct {
	kind byte // 'u' user, 't' token, 's' share, 'd' desktop-scoped token
	num  int64
	str  string
}

func (c cred) String() string {
	switch c.kind {
	case 'u':
		return fmt.Sprintf("user %d", c.num)
	case 't':
		return fmt.Sprintf("token %d", c.num)
	case 'd':
		return fmt.Sprintf("desktop token %d", c.num)
	}
	return "share " + c.str
}

func (d Deps) creds() []cred {
	var out []cred
	if d.UserID != 0 {
		out = append(out, cred{kind: 'u', num: d.UserID})
	}
	if d.TokenID != 0 {
		out = append(out, cred{kind: 't', num: d.TokenID})
	}
	if d.ShareID != "" {
		out = append(out, cred{kind: 's', str: d.ShareID})
	}
	if d.Desktop != 0 {
		out = append(out, cred{kind: 'd', num: d.Desktop})
	}
	return out
}

// check reads one credential from the store.
func (r *Registry) check(ctx context.Context, c cred) error {
	var alive bool
	var err error
	switch c.kind {
	case 'u':
		var u store.User
		u, err = r.o.Store.GetUser(ctx, c.num)
		alive = err == nil && !u.Disabled
	case 't':
		var t store.Token
		t, err = r.o.Store.GetToken(ctx, c.num)
		alive = err == nil && t.RevokedAt.IsZero() && (t.ExpiresAt.IsZero() || r.o.Now().Before(t.ExpiresAt))
	case 'd':
		var dc store.Code
		dc, err = r.o.Store.GetCode(ctx, c.num)
		alive = err == nil && dc.UsedAt.IsZero() && (dc.ExpiresAt.IsZero() || r.o.Now().Before(dc.ExpiresAt))
	default:
		_, err = r.o.Store.GetShareByID(ctx, c.str)
		alive = err == nil
	}
	switch {
	case errors.Is(err, store.ErrNotFound) || err == nil && !alive:
		return fmt.Errorf("%w: %s", ErrRevoked, c)
	case err != nil:
		return err
	}
	return nil
}
