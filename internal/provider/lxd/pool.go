package lxd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/rfb"
)

// The warm pool (--lxd-pool-size, docs/LXD-DESKTOPS.md "Warm pool"): each LXD server keeps PoolSize
// desktops created and started ahead — init has Xvnc, the window manager, PulseAudio and the agent up —
// that belong to nobody yet. Their "command" is poolWait: a shell of the desktop user blocked on a FIFO.
// session/start claims one: it marks the instance with the session (one UpdateInstance) while one exec
// as the desktop user checks the command, writes the account's SSH keys and writes the session's
// command line into the FIFO, on which the waiting shell evals it (`exec 'xterm'`): the command becomes
// init's command process, supervised as a cold desktop's (its end stops the instance). A session of
// another screen size gets it by an RFB SetDesktopSize. The pool refills in the background.
//
// A pooled desktop serves one session: when it ends its instance is deleted like any per-session
// instance, and the refill makes a new one from the image — nothing of one user ever reaches the next.
// Spares are no sessions (not in session lists, not counted by --max-sessions-per-server); deskhub
// deletes the spares of an earlier run of itself when it first reaches a server (they are marked
// user.deskhub.pool and user.deskhub.broker).

// KeyPool marks a spare of the warm pool (its value: the screen it waits with, WxHxDEPTH).
const KeyPool = "user.deskhub.pool"

// poolFIFO is where a spare's waiting shell reads its session's command line (root's 1775 run
// directory: the desktop user makes the FIFO, 0600 its own).
const poolFIFO = runDir + "/session.fifo"

// poolWait is a spare's DESKHUB_COMMAND: wait for the command line, then run it in place of the shell.
const poolWait = `f=` + poolFIFO + `; rm -f "$f"; mkfifo -m 600 "$f" || exit 1; c=$(cat "$f"); rm -f "$f"; eval "$c"`

// poolClaim runs in a claimed spare as the desktop user: $1 the program (exit 3 when the image lacks
// it), $2 the command line for the FIFO, $3 "keys" when stdin holds authorized_keys lines.
const poolClaim = `command -v "$1" >/dev/null 2>&1 || exit 3
if [ "$3" = keys ]; then (umask 077 && mkdir -p "$HOME/.ssh" && cat > "$HOME/.ssh/authorized_keys.new" && mv -f "$HOME/.ssh/authorized_keys.new" "$HOME/.ssh/authorized_keys") || exit 4; fi
f=` + poolFIFO + `; i=0
while [ ! -p "$f" ]; do i=$((i+1)); [ $i -gt 200 ] && exit 5; sleep 0.05; done
printf '%s' "$2" > "$f"`

// poolFills bounds the spares one server makes at once.
const poolFills = 2

// spare is a started desktop waiting for a session.
type spare struct {
	rt    runtimeInfo
	since time.Time
	cl    incus.InstanceServer // the server's client when it was made
}

// warmPool keeps the spares of every server.
type warmPool struct {
	p      *Provider
	w, h   int
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{}

	mu      sync.Mutex
	ready   map[int64][]*spare
	filling map[int64]int
	swept   map[int64]bool      // the server's leftovers of an earlier run were removed
	checked map[int64]time.Time // the server's spares were last looked at
	fails   map[int64]int       // fills that failed in a row (back-off)
	until   map[int64]time.Time // no fill on the server before
}

// PoolStatus is what the warm pool holds on a server.
type PoolStatus struct {
	Ready, Filling int
}

func newWarmPool(p *Provider) *warmPool {
	w, h := p.o.PoolWidth, p.o.PoolHeight
	if w <= 0 || h <= 0 {
		w, h = 1024, 768
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &warmPool{p: p, w: w, h: h, ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1),
		ready: map[int64][]*spare{}, filling: map[int64]int{}, swept: map[int64]bool{},
		checked: map[int64]time.Time{}, fails: map[int64]int{}, until: map[int64]time.Time{}}
}

// Pool is what the warm pool holds on a server (zero without a pool).
func (p *Provider) Pool(serverID string) PoolStatus {
	id, ok := provider.ParseStoredServerID(serverID)
	if p.pool == nil || !ok {
		return PoolStatus{}
	}
	wp := p.pool
	wp.mu.Lock()
	defer wp.mu.Unlock()
	return PoolStatus{Ready: len(wp.ready[id]), Filling: wp.filling[id]}
}

func (wp *warmPool) poke() {
	select {
	case wp.kick <- struct{}{}:
	default:
	}
}

// run keeps every online server's pool full: a round every 2 s, and at once after a claim or a fill.
func (wp *warmPool) run() {
	defer wp.p.wg.Done()
	go func() { <-wp.p.closing; wp.cancel() }()
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		wp.round()
		select {
		case <-wp.p.closing:
			return
		case <-t.C:
		case <-wp.kick:
		}
	}
}

// round sweeps servers reached for the first time, drops dead spares, and starts the fills wanted.
func (wp *warmPool) round() {
	p := wp.p
	rows, err := p.o.Store.ListServers(wp.ctx, 0)
	if err != nil {
		return
	}
	for _, row := range rows {
		if row.Provider != lxdconn.Provider || p.forgot(row.ID) {
			continue
		}
		cl, err := p.client(row.ID)
		if err != nil {
			continue // offline: its spares are looked at again once it answers
		}
		wp.mu.Lock()
		swept, last := wp.swept[row.ID], wp.checked[row.ID]
		wp.mu.Unlock()
		if !swept || time.Since(last) > 10*time.Second {
			if err := wp.check(cl, row.ID, !swept); err != nil {
				p.log.Warn("warm pool: looking at the spares", "server", provider.StoredServerID(row.ID), "error", err)
				continue
			}
		}
		wp.mu.Lock()
		for len(wp.ready[row.ID])+wp.filling[row.ID] < p.o.PoolSize && wp.filling[row.ID] < poolFills &&
			time.Now().After(wp.until[row.ID]) && wp.ctx.Err() == nil {
			wp.filling[row.ID]++
			p.wg.Add(1)
			go wp.fill(row.ID)
		}
		wp.mu.Unlock()
	}
}

// check lists the server's instances: at the first contact (sweep), the spares of this deskhub are
// leftovers of an earlier run and are deleted; later, spares that no longer run are dropped.
func (wp *warmPool) check(cl incus.InstanceServer, server int64, sweep bool) error {
	p := wp.p
	list, err := cl.GetInstances(api.InstanceTypeAny)
	if err != nil {
		p.failed(server, err)
		return err
	}
	var gone []string
	wp.mu.Lock()
	for _, inst := range list {
		if inst.Config[KeyBroker] != p.o.BrokerID || inst.Config[KeyPool] == "" || inst.Config[KeySession] != "" {
			continue
		}
		if sweep {
			gone = append(gone, inst.Name)
			continue
		}
		if inst.StatusCode == api.Running {
			continue
		}
		for i, sp := range wp.ready[server] {
			if sp.rt.Instance == inst.Name {
				wp.ready[server] = append(wp.ready[server][:i], wp.ready[server][i+1:]...)
				gone = append(gone, inst.Name)
				break
			}
		}
	}
	wp.swept[server], wp.checked[server] = true, time.Now()
	wp.mu.Unlock()
	for _, name := range gone {
		if sweep {
			p.log.Warn("warm pool: removing a spare left by an earlier run", "instance", name, "server", provider.StoredServerID(server))
		} else {
			p.log.Warn("warm pool: a spare stopped; removing it", "instance", name, "server", provider.StoredServerID(server),
				"why", p.stopReason(cl, name))
		}
		wp.discard(cl, server, name)
	}
	return nil
}

// discard deletes a spare's instance and its sockets.
func (wp *warmPool) discard(cl incus.InstanceServer, server int64, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), wp.p.o.StopTimeout+time.Minute)
	defer cancel()
	if err := wp.p.halt(ctx, cl, name, true, false); err != nil {
		wp.p.log.Warn("warm pool: deleting a spare", "instance", name, "error", err)
	}
	if dir, err := wp.p.sockDir(server, name); err == nil {
		_ = os.RemoveAll(dir)
	}
}

// fill makes one spare on the server: created from the image, started, its desktop ready.
func (wp *warmPool) fill(server int64) {
	p := wp.p
	defer p.wg.Done()
	t0 := time.Now()
	sp, err := wp.make(server)
	if err == nil && p.forgot(server) { // deleted meanwhile
		wp.discard(sp.cl, server, sp.rt.Instance)
		err = errors.New("the server was deleted")
	}
	wp.mu.Lock()
	wp.filling[server]--
	if err == nil {
		wp.ready[server] = append(wp.ready[server], sp)
		wp.fails[server] = 0
	} else if wp.ctx.Err() == nil {
		wp.fails[server]++
		wp.until[server] = time.Now().Add(min(time.Duration(wp.fails[server])*5*time.Second, 2*time.Minute))
	}
	wp.mu.Unlock()
	if err != nil {
		if wp.ctx.Err() == nil {
			p.log.Warn("warm pool: making a spare failed", "server", provider.StoredServerID(server), "error", err)
		}
		return
	}
	p.log.Info("warm pool: spare ready", "server", provider.StoredServerID(server), "instance", sp.rt.Instance,
		"took", time.Since(t0).Round(time.Millisecond).String())
	wp.poke()
}

func (wp *warmPool) make(server int64) (*spare, error) {
	p := wp.p
	ctx, cancel := context.WithTimeout(wp.ctx, p.o.StartTimeout)
	defer cancel()
	cl, err := p.client(server)
	if err != nil {
		return nil, err
	}
	row, err := p.o.Store.GetServer(ctx, server)
	if err != nil {
		return nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "dh-p" + hex.EncodeToString(b[:])
	rt := runtimeInfo{V: 1, Provider: "lxd", Server: server, Instance: name, Per: PerSession, Transport: p.transportFor(row)}
	if rt.Transport == TransportProxy {
		if rt.Dir, err = p.sockDir(server, name); err != nil {
			return nil, err
		}
	}
	spec := provider.Spec{ServerID: provider.StoredServerID(server), Command: []string{"sh"}, Width: wp.w, Height: wp.h, Depth: 24}
	put, err := p.instancePut(ctx, cl, spec, rt)
	if err != nil {
		return nil, err
	}
	delete(put.Config, KeySession)
	delete(put.Config, KeyOwner)
	delete(put.Config, KeyUser)
	put.Config[KeyPool] = fmt.Sprintf("%dx%dx24", wp.w, wp.h)
	put.Config["environment.DESKHUB_COMMAND"] = poolWait
	undo, err := p.prepare(ctx, cl, spec, name, put)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*spare, error) {
		cctx, ccancel := context.WithTimeout(context.Background(), p.o.StopTimeout+time.Minute)
		defer ccancel()
		undo(cctx)
		if rt.Dir != "" {
			_ = os.RemoveAll(rt.Dir)
		}
		return nil, err
	}
	if err := checkNoNIC(cl, name); err != nil {
		return fail(err)
	}
	if err := p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "start", Timeout: -1}); err != nil {
		return fail(fmt.Errorf("lxd: starting %s: %w", name, err))
	}
	ready, err := p.waitReady(ctx, cl, name)
	if err != nil {
		return fail(err)
	}
	rt.Ready = *ready
	if p.o.TrimSpares {
		// A spare is idle until claimed: what its start read goes back to the host.
		if r, err := p.reclaim(ctx, cl, server, name); err != nil {
			p.log.Warn("trimming a spare", "instance", name, "error", err)
		} else {
			p.log.Info("spare trimmed", "instance", name, "before_mib", r.Before.Current>>20, "after_mib", r.After.Current>>20)
		}
	}
	return &spare{rt: rt, since: time.Now(), cl: cl}, nil
}

// fits tells whether a spare can serve s: the pool's depth, a window manager.
func (wp *warmPool) fits(s provider.Spec) bool {
	depth := s.Depth
	if depth != 16 && depth != 32 {
		depth = 24
	}
	return depth == 24 && !s.Rootless
}

// take removes a spare of the server from the pool (nil when there is none) and has the pool refill.
func (wp *warmPool) take(server int64) *spare {
	wp.mu.Lock()
	defer wp.mu.Unlock()
	l := wp.ready[server]
	if len(l) == 0 {
		return nil
	}
	sp := l[0]
	wp.ready[server] = l[1:]
	wp.poke()
	return sp
}

// claim starts s on a spare of the server when the pool has one that fits; ok is false when the
// start has to make its instance (no spare, or none that works).
func (p *Provider) claim(ctx context.Context, cl incus.InstanceServer, s provider.Spec, server int64, t0 time.Time) (out *provider.Desktop, ok bool, err error) {
	if p.pool == nil || !p.pool.fits(s) {
		return nil, false, nil
	}
	for {
		sp := p.pool.take(server)
		if sp == nil {
			return nil, false, nil
		}
		out, err := p.claimSpare(ctx, cl, s, sp, t0)
		if err == nil {
			return out, true, nil
		}
		if errors.Is(err, provider.ErrBadCommand) || ctx.Err() != nil {
			return nil, true, err
		}
		p.log.Warn("warm pool: a spare could not be claimed; trying the next", "session", s.ID, "instance", sp.rt.Instance, "error", err)
	}
}

// claimSpare hands a spare to session s. A spare that fails is deleted, never put back.
func (p *Provider) claimSpare(ctx context.Context, cl incus.InstanceServer, s provider.Spec, sp *spare, t0 time.Time) (*provider.Desktop, error) {
	name := sp.rt.Instance
	log := p.log.With("session", s.ID, "server", s.ServerID, "instance", name)
	fail := func(err error) (*provider.Desktop, error) {
		log.Warn("pooled desktop did not start; removing it", "error", err)
		go p.pool.discard(cl, sp.rt.Server, name)
		return nil, err
	}
	inst, etag, err := cl.GetInstance(name)
	if err != nil {
		return fail(fmt.Errorf("lxd: reading %s: %w", name, err))
	}
	if inst.StatusCode != api.Running || inst.Config[KeyPool] == "" || inst.Config[KeySession] != "" {
		return fail(fmt.Errorf("lxd: spare %s is %s, not a waiting desktop", name, inst.Status))
	}
	w := inst.Writable()
	delete(w.Config, KeyPool)
	w.Config[KeySession], w.Config[KeyOwner], w.Config[KeyUser] = s.ID, s.Login, strconv.FormatInt(s.UserID, 10)
	w.Config[KeyPer] = PerSession
	// The record of what runs (init took its command from the FIFO).
	w.Config["environment.DESKHUB_COMMAND"] = commandLine(s.Command)
	// Marking the instance and handing the session over run at once (the start waits for both).
	marked := make(chan error, 1)
	go func() {
		op, err := cl.UpdateInstance(name, w, etag)
		if err == nil {
			err = p.wait(ctx, cl, op)
		}
		marked <- err
	}()
	d := &desktop{id: s.ID, rt: sp.rt}
	keys, flag := "", "nokeys"
	if len(s.SSHKeys) > 0 {
		keys, flag = strings.Join(s.SSHKeys, "\n")+"\n", "keys"
	}
	code, err := p.runIn(ctx, cl, name, d.rt.Ready, []string{"/bin/sh", "-c", poolClaim, "sh", s.Command[0], commandLine(s.Command), flag},
		strings.NewReader(keys), nil)
	if merr := <-marked; merr != nil && err == nil {
		return fail(fmt.Errorf("lxd: marking %s with the session: %w", name, merr))
	}
	tMarked := time.Now()
	switch {
	case err != nil:
		return fail(fmt.Errorf("lxd: handing %s its session: %w", name, err))
	case code == 3:
		return fail(fmt.Errorf("lxd: %s: not found in the desktop image: %w", s.Command[0], provider.ErrBadCommand))
	case code == 4:
		return fail(fmt.Errorf("lxd: installing the SSH keys in %s: exit %d", name, code))
	case code != 0:
		return fail(fmt.Errorf("lxd: handing %s its session: exit %d", name, code))
	}
	p.own(ctx, sp.rt.Server, name, s.UserID)
	tHanded := time.Now() // and owned
	width, height := s.Width, s.Height
	if width <= 0 || height <= 0 {
		width, height = 1024, 768
	}
	if err := p.resize(ctx, d, width, height); err != nil {
		return fail(fmt.Errorf("lxd: the desktop's RFB server through %s: %w", d.rt.Transport, err))
	}
	out := p.describe(d, s.ServerID, time.Now())
	d.d = *out
	p.register(d)
	log.Info("desktop started", "transport", d.rt.Transport, "display", d.rt.Ready.Display, "pool", true,
		"claim", tMarked.Sub(t0).Round(time.Millisecond).String(),
		"probe", time.Since(tHanded).Round(time.Millisecond).String(), "waited", time.Since(sp.since).Round(time.Second).String())
	return out, nil
}

// resize reaches the desktop's RFB server (the probe of a cold start) and gives it the session's
// screen size.
func (p *Provider) resize(ctx context.Context, d *desktop, w, h int) error {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := p.dial(cctx, d, rfbPath)
	if err != nil {
		return err
	}
	defer c.Close()
	rc, err := rfb.Handshake(cctx, c)
	if err != nil {
		return err
	}
	return rc.Resize(cctx, w, h)
}

// ForgetServer removes what the provider keeps ahead on a server that is being deleted (server.delete,
// after its checks: no session runs there): the warm pool's spares and the base instances of this
// deskhub, and it makes no new ones there. Per-user instances (the accounts' files) are left to the
// operator. Errors are logged; the server is forgotten anyway.
func (p *Provider) ForgetServer(ctx context.Context, server int64) {
	p.baseMu.Lock()
	if p.forgotten == nil {
		p.forgotten = map[int64]bool{}
	}
	p.forgotten[server] = true
	delete(p.bases, provider.StoredServerID(server))
	p.baseMu.Unlock()
	if p.pool != nil {
		p.pool.mu.Lock()
		delete(p.pool.ready, server)
		p.pool.mu.Unlock()
	}
	cl, err := p.client(server)
	if err != nil {
		p.log.Warn("a deleted server does not answer: its spares and base instances stay", "server", provider.StoredServerID(server), "error", err)
		return
	}
	list, err := cl.GetInstances(api.InstanceTypeAny)
	if err != nil {
		p.log.Warn("a deleted server's instances could not be listed: its spares and base instances stay", "server", provider.StoredServerID(server), "error", err)
		return
	}
	var wg sync.WaitGroup
	for _, inst := range list {
		spareOrBase := (inst.Config[KeyPool] != "" && inst.Config[KeySession] == "") || inst.Config[KeyBase] != ""
		if inst.Config[KeyBroker] != p.o.BrokerID || !spareOrBase {
			continue
		}
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			if err := p.halt(ctx, cl, name, true, false); err != nil {
				p.log.Warn("removing an instance of a deleted server", "server", provider.StoredServerID(server), "instance", name, "error", err)
				return
			}
			if dir, err := p.sockDir(server, name); err == nil {
				_ = os.RemoveAll(dir)
			}
			p.log.Info("removed with its server", "server", provider.StoredServerID(server), "instance", name)
		}(inst.Name)
	}
	wg.Wait()
}

// forgot tells whether the server was deleted (ForgetServer): nothing more is made there.
func (p *Provider) forgot(server int64) bool {
	p.baseMu.Lock()
	defer p.baseMu.Unlock()
	return p.forgotten[server]
}
