package lxd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	incus "github.com/lxc/incus/v6/client"
	"github.com/lxc/incus/v6/shared/api"

	"github.com/deskhub/deskhub/internal/lxdconn"
	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/rfb"
	"github.com/deskhub/deskhub/internal/store"
)

// Paths inside the desktop image (docs/INIT.md).
const (
	runDir    = "/run/deskhub"
	readyPath = runDir + "/ready"
	rfbPath   = runDir + "/rfb.sock"
	agentPath = runDir + "/agent.sock"
	// outputFIFO: what is written there is in init's log (docs/INIT.md), where session/exec's programs write.
	outputFIFO = runDir + "/output"
	initLog    = "/var/log/deskhub/init.log"
	userPATH   = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
)

// Device names deskhub adds to its instances.
const (
	devRFB    = "deskhub-rfb"
	devAgent  = "deskhub-agent"
	devHome   = "deskhub-home"
	devBinary = "deskhub-binary" // ShareBinary
)

// imageBinary is where the desktop image has deskhub (internal/imagebuild).
const imageBinary = "/usr/local/bin/deskhub"

// Start implements provider.Provider: it creates (or, per user, reuses) the instance, starts it, waits
// for its init to report the desktop ready, installs the user's SSH keys and checks that the broker
// reaches the RFB server.
func (p *Provider) Start(ctx context.Context, s provider.Spec) (*provider.Desktop, error) {
	server, ok := provider.ParseStoredServerID(s.ServerID)
	if !ok {
		return nil, fmt.Errorf("lxd: %q names no LXD server", s.ServerID)
	}
	if len(s.Command) == 0 || s.Command[0] == "" {
		return nil, fmt.Errorf("lxd: no command: %w", provider.ErrBadCommand)
	}
	p.mu.Lock()
	if p.starting[s.ID] || p.desktops[s.ID] != nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("lxd: desktop %s exists already", s.ID)
	}
	p.starting[s.ID] = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.starting, s.ID)
		p.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, p.o.StartTimeout)
	defer cancel()
	t0 := p.o.Now()

	cl, err := p.client(server)
	if err != nil {
		return nil, err
	}
	row, err := p.o.Store.GetServer(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("lxd: server %d: %w", server, err)
	}
	if out, ok, err := p.claim(ctx, cl, s, server, t0); ok {
		return out, err
	}
	name := p.InstanceName(s.ID, s.UserID)
	rt := runtimeInfo{V: 1, Provider: "lxd", Server: server, Instance: name, Per: p.o.Per, Transport: p.transportFor(row)}
	if rt.Transport == TransportProxy {
		if rt.Dir, err = p.sockDir(server, name); err != nil {
			return nil, err
		}
	}
	log := p.log.With("session", s.ID, "server", s.ServerID, "instance", name)
	put, err := p.instancePut(ctx, cl, s, rt)
	if err != nil {
		return nil, err
	}
	tPut := p.o.Now()
	undo, err := p.prepare(ctx, cl, s, name, put)
	if err != nil {
		return nil, err
	}
	tMade := p.o.Now()
	d := &desktop{id: s.ID, rt: rt}
	fail := func(err error) (*provider.Desktop, error) {
		log.Warn("desktop did not start; removing what was made", "error", err)
		cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), p.o.StopTimeout+time.Minute)
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
	// The owner's record (instance.list) is written while the instance starts.
	owned := make(chan struct{})
	go func() {
		defer close(owned)
		p.own(ctx, server, name, s.UserID)
	}()
	defer func() { <-owned }()
	tCreated := p.o.Now()
	if err := p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "start", Timeout: -1}); err != nil {
		// A command that cannot run ends the desktop at once: LXD may then fail to start the proxy
		// devices of an instance whose init is gone.
		if why := p.stopReason(cl, name); badCommand(why) {
			return fail(fmt.Errorf("lxd: %s: %s: %w", s.Command[0], why, provider.ErrBadCommand))
		}
		return fail(fmt.Errorf("lxd: starting %s: %w", name, err))
	}
	tStarted := p.o.Now()
	ready, err := p.hello(ctx, cl, name, s, rt.Transport == TransportExec)
	tHello := p.o.Now()
	if errors.Is(err, errOldImage) {
		log.Info("the desktop image's deskhub has no agent ready (an older image): readying it in steps")
		ready, err = p.readySteps(ctx, cl, name, s, &d.rt)
	} else if err == nil && rt.Transport != TransportExec {
		d.rt.Ready = *ready
		if err := p.probe(ctx, d); err != nil {
			return fail(fmt.Errorf("lxd: the desktop's RFB server does not answer through %s: %w", rt.Transport, err))
		}
	}
	if err != nil {
		return fail(err)
	}
	d.rt.Ready = *ready
	out := p.describe(d, s.ServerID, p.o.Now())
	d.d = *out
	p.register(d)
	log.Info("desktop started", "transport", rt.Transport, "display", ready.Display,
		"create", tCreated.Sub(t0).Round(time.Millisecond).String(), "boot", tStarted.Sub(tCreated).Round(time.Millisecond).String(),
		"ready", p.o.Now().Sub(tStarted).Round(time.Millisecond).String(), "hello", tHello.Sub(tStarted).Round(time.Millisecond).String(),
		"profiles", tPut.Sub(t0).Round(time.Millisecond).String(), "made", tMade.Sub(tPut).Round(time.Millisecond).String())
	return out, nil
}

// readySteps readies a started desktop whose image has no `deskhub agent ready` (hello.go), as deskhub
// did before it: the ready file polled through the file API, then an exec each for the command check
// and the SSH keys, and the RFB check through the transport.
func (p *Provider) readySteps(ctx context.Context, cl incus.InstanceServer, name string, s provider.Spec, rt *runtimeInfo) (*readyInfo, error) {
	ready, err := p.waitReady(ctx, cl, name)
	if err != nil {
		return nil, err
	}
	if code, err := p.run(ctx, cl, name, *ready, []string{"/bin/sh", "-c", `command -v "$1" >/dev/null 2>&1`, "sh", s.Command[0]}, nil); err != nil {
		if why := p.stopReason(cl, name); badCommand(why) {
			return nil, fmt.Errorf("lxd: %s: %s: %w", s.Command[0], why, provider.ErrBadCommand)
		}
		return nil, fmt.Errorf("lxd: checking the command in %s: %w", name, err)
	} else if code != 0 {
		return nil, fmt.Errorf("lxd: %s: not found in the desktop image: %w", s.Command[0], provider.ErrBadCommand)
	}
	if len(s.SSHKeys) > 0 {
		if err := p.installKeys(ctx, cl, name, *ready, s.SSHKeys); err != nil {
			return nil, fmt.Errorf("lxd: installing the SSH keys in %s: %w", name, err)
		}
	}
	rt.Ready = *ready
	if err := p.probe(ctx, &desktop{id: s.ID, rt: *rt}); err != nil {
		return nil, fmt.Errorf("lxd: the desktop's RFB server does not answer through %s: %w", rt.Transport, err)
	}
	return ready, nil
}

// describe is the provider.Desktop of d.
func (p *Provider) describe(d *desktop, serverID string, at time.Time) *provider.Desktop {
	r := d.rt.Ready
	out := &provider.Desktop{ID: d.id, ServerID: serverID, Display: r.Display, Hostname: d.rt.Instance, User: r.User,
		ServerPID: r.Pids["xvnc"], AppPID: r.Pids["command"], StartedAt: at.UTC()}
	if d.rt.Transport == TransportProxy {
		out.RFB = provider.Endpoint{Network: "unix", Address: filepath.Join(d.rt.Dir, "rfb.sock")}
	} else {
		out.RFB = provider.Endpoint{Network: "lxd-exec", Address: d.rt.Instance + ":" + r.RFB}
	}
	out.Runtime, _ = json.Marshal(d.rt)
	return out
}

// transportFor is how the broker reaches desktops on the server of row: proxy devices when the server
// runs on this machine (its unix socket, or a loopback address), else the exec bridge.
func (p *Provider) transportFor(row store.Server) string {
	if p.o.Transport != TransportAuto {
		return p.o.Transport
	}
	if onThisMachine(row) {
		return TransportProxy
	}
	return TransportExec
}

// onThisMachine tells whether an LXD server runs on this machine: reached by its unix socket or on a
// loopback address.
func onThisMachine(row store.Server) bool {
	if row.Path != "" || row.Host == "localhost" {
		return true
	}
	ip := net.ParseIP(row.Host)
	return ip != nil && ip.IsLoopback()
}

// sockDir is the directory of the proxy devices' sockets of an instance on this machine: <state>/<name>,
// or a shorter name when the socket path would be too long for a unix socket.
func (p *Provider) sockDir(server int64, name string) (string, error) {
	dir := filepath.Join(p.o.StateDir, fmt.Sprintf("%d-%s", server, name))
	if len(filepath.Join(dir, "agent.sock")) > 100 {
		sum := sha256.Sum256([]byte(dir))
		dir = filepath.Join(p.o.StateDir, hex.EncodeToString(sum[:8]))
	}
	if len(filepath.Join(dir, "agent.sock")) > 100 {
		return "", fmt.Errorf("lxd: state dir %s is too long for unix socket paths", p.o.StateDir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("lxd: %w", err)
	}
	for _, f := range []string{"rfb.sock", "agent.sock"} {
		_ = os.Remove(filepath.Join(dir, f))
	}
	return dir, nil
}

// shellQuote quotes one word for /bin/sh.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// commandLine is DESKHUB_COMMAND for argv: init runs it with /bin/sh -c, so every word is quoted and
// the shell only execs the program, as the local provider runs it without a shell.
func commandLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return "exec " + strings.Join(q, " ")
}

// instancePut is the configuration and devices of a desktop instance: the markers, the desktop's
// environment, no network device, the proxy devices and the home volume.
func (p *Provider) instancePut(ctx context.Context, cl incus.InstanceServer, s provider.Spec, rt runtimeInfo) (api.InstancePut, error) {
	depth := s.Depth
	if depth != 16 && depth != 32 {
		depth = 24
	}
	w, h := s.Width, s.Height
	if w <= 0 || h <= 0 {
		w, h = 1024, 768
	}
	wm := "openbox"
	if s.Rootless {
		wm = "none"
	}
	cfg := map[string]string{
		KeySession: s.ID, KeyOwner: s.Login, KeyUser: strconv.FormatInt(s.UserID, 10), KeyBroker: p.o.BrokerID, KeyPer: rt.Per,
		"environment.DESKHUB_GEOMETRY": fmt.Sprintf("%dx%d", w, h),
		"environment.DESKHUB_DEPTH":    strconv.Itoa(depth),
		"environment.DESKHUB_COMMAND":  commandLine(s.Command),
		"environment.DESKHUB_ON_EXIT":  "shutdown",
		"environment.DESKHUB_WM":       wm,
	}
	devices := map[string]map[string]string{}
	var rootPool, rootDev string
	for _, name := range p.o.Profiles {
		prof, _, err := cl.GetProfile(name)
		if err != nil {
			if lxdconn.IsNotFound(err) {
				return api.InstancePut{}, fmt.Errorf("lxd: the server has no profile %q (--lxd-profiles)", name)
			}
			return api.InstancePut{}, fmt.Errorf("lxd: reading profile %s: %w", name, err)
		}
		for dev, d := range prof.Devices {
			switch d["type"] {
			case "nic", "infiniband":
				// A profile's network device is masked: desktops have no network (docs/LXD-DESKTOPS.md).
				devices[dev] = map[string]string{"type": "none"}
			case "disk":
				if d["path"] == "/" {
					rootPool, rootDev = d["pool"], dev
				}
			}
		}
	}
	if p.o.StoragePool != "" { // --lxd-storage-pool: the root disk on that pool, in place of the profiles'
		if rootDev == "" {
			rootDev = "root"
		}
		devices[rootDev] = map[string]string{"type": "disk", "path": "/", "pool": p.o.StoragePool}
		rootPool = p.o.StoragePool
	}
	if rt.Transport == TransportProxy {
		uid, gid := strconv.Itoa(os.Geteuid()), strconv.Itoa(os.Getegid())
		for dev, sock := range map[string]string{devRFB: "rfb.sock", devAgent: "agent.sock"} {
			inner := rfbPath
			if dev == devAgent {
				inner = agentPath
			}
			devices[dev] = map[string]string{"type": "proxy", "bind": "host",
				"listen": "unix:" + filepath.Join(rt.Dir, sock), "connect": "unix:" + inner,
				"mode": "0600", "uid": uid, "gid": gid}
		}
	}
	if p.o.ShareBinary != "" {
		row, err := p.o.Store.GetServer(ctx, rt.Server)
		if err != nil {
			return api.InstancePut{}, err
		}
		if onThisMachine(row) {
			devices[devBinary] = map[string]string{"type": "disk", "source": p.o.ShareBinary, "path": imageBinary, "readonly": "true"}
		}
	}
	if p.o.HomeVolumes {
		if rootPool == "" {
			return api.InstancePut{}, errors.New("lxd: home volumes: the profiles give instances no root disk, so no storage pool to keep homes in")
		}
		vol := HomeVolume(s.UserID)
		if _, _, err := cl.GetStoragePoolVolume(rootPool, "custom", vol); lxdconn.IsNotFound(err) {
			err = cl.CreateStoragePoolVolume(rootPool, api.StorageVolumesPost{Name: vol, Type: "custom", ContentType: "filesystem",
				StorageVolumePut: api.StorageVolumePut{Description: "deskhub: the files of account " + strconv.FormatInt(s.UserID, 10) + " (" + s.Login + ")"}})
			if err != nil && !api.StatusErrorCheck(err, 409) {
				return api.InstancePut{}, fmt.Errorf("lxd: creating the home volume %s: %w", vol, err)
			}
		} else if err != nil {
			return api.InstancePut{}, fmt.Errorf("lxd: reading the home volume %s: %w", vol, err)
		}
		// Mounted on /home: init makes /home/desktop, the user's, on the first boot (docs/INIT.md).
		devices[devHome] = map[string]string{"type": "disk", "pool": rootPool, "source": vol, "path": "/home"}
	}
	return api.InstancePut{Profiles: slices.Clone(p.o.Profiles), Config: cfg, Devices: devices}, nil
}

// prepare creates the instance of a session (per session), or readies the user's instance (per user);
// undo removes (per session) or stops (per user) what it made.
func (p *Provider) prepare(ctx context.Context, cl incus.InstanceServer, s provider.Spec, name string, put api.InstancePut) (func(context.Context), error) {
	del := func(ctx context.Context) { _ = p.halt(ctx, cl, name, true, false) }
	if p.o.Per == PerUser {
		inst, etag, err := cl.GetInstance(name)
		switch {
		case lxdconn.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("lxd: reading %s: %w", name, err)
		default:
			if inst.Config[KeyBroker] != p.o.BrokerID {
				return nil, fmt.Errorf("lxd: the server has an instance %s that another deskhub made", name)
			}
			if inst.StatusCode != api.Stopped {
				if other := inst.Config[KeySession]; other != "" && other != s.ID && p.owns(other) {
					return nil, fmt.Errorf("lxd: your desktop instance %s runs session %s: %w", name, other,
						provider.Unavailablef(errors.New("one session at a time per instance"), "instance %s is in use", name))
				}
				// Left running by a crash: stop it and take it.
				if err := p.halt(ctx, cl, name, false, true); err != nil {
					return nil, err
				}
				if inst, etag, err = cl.GetInstance(name); err != nil {
					return nil, err
				}
			}
			w := inst.Writable()
			maps.Copy(w.Config, put.Config)
			for dev := range w.Devices {
				if strings.HasPrefix(dev, "deskhub-") {
					delete(w.Devices, dev)
				}
			}
			maps.Copy(w.Devices, put.Devices)
			w.Profiles = put.Profiles
			op, err := cl.UpdateInstance(name, w, etag)
			if err == nil {
				err = p.wait(ctx, cl, op)
			}
			if err != nil {
				return nil, fmt.Errorf("lxd: updating %s: %w", name, err)
			}
			return func(ctx context.Context) { _ = p.halt(ctx, cl, name, false, true) }, nil
		}
		del = func(ctx context.Context) { _ = p.halt(ctx, cl, name, false, true) }
	}
	src := api.InstanceSource{Type: "image", Alias: p.o.Image.Alias}
	if src.Alias == "" {
		src.Fingerprint = p.o.Image.Fingerprint
	}
	if p.o.Image.Server != "" {
		src.Server, src.Protocol, src.Certificate = p.o.Image.Server, "simplestreams", p.o.Image.Certificate
	}
	if bs, ok := p.baseSource(ctx, cl, s.ServerID); ok {
		src = bs
		put.Config[KeyBase] = ""
	}
	op, err := cl.CreateInstance(api.InstancesPost{Name: name, Type: api.InstanceTypeContainer, Source: src, InstancePut: put})
	if err == nil {
		err = p.wait(ctx, cl, op)
	}
	if err != nil {
		if api.StatusErrorCheck(err, 409) || strings.Contains(err.Error(), "already exists") {
			return nil, fmt.Errorf("lxd: the server has an instance %s already", name)
		}
		// A create that failed half-way may have left the instance.
		del(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lxd: creating %s from %s: %w", name, imageName(p.o.Image), err)
	}
	return del, nil
}

func imageName(im Image) string {
	n := im.Alias
	if n == "" {
		n = im.Fingerprint
	}
	if im.Server != "" {
		n = im.Server + " " + n
	}
	return n
}

// own records the deskhub account an instance was made for (instance.list shows it to them).
func (p *Provider) own(ctx context.Context, server int64, name string, userID int64) {
	if userID == 0 {
		return
	}
	in, err := p.o.Store.EnsureInstance(ctx, server, name)
	if err == nil && in.OwnerID != userID {
		in.OwnerID = userID
		err = p.o.Store.UpdateInstance(ctx, &in)
	}
	if err != nil {
		p.log.Warn("recording the owner of a desktop instance", "instance", name, "error", err)
	}
}

// checkNoNIC refuses an instance that has a network device after all (a profile added one the masks
// missed): desktops have none.
func checkNoNIC(cl incus.InstanceServer, name string) error {
	inst, _, err := cl.GetInstance(name)
	if err != nil {
		return fmt.Errorf("lxd: reading %s: %w", name, err)
	}
	for dev, d := range inst.ExpandedDevices {
		if d["type"] == "nic" || d["type"] == "infiniband" {
			return fmt.Errorf("lxd: instance %s would have network device %q: desktops have none", name, dev)
		}
	}
	return nil
}

// wait follows an LXD operation to its end (or ctx's).
func (p *Provider) wait(ctx context.Context, cl incus.InstanceServer, op incus.Operation) error {
	return lxdconn.Wait(ctx, cl, op.Get().ID, 2)
}

// changeState starts or stops an instance and waits.
func (p *Provider) changeState(ctx context.Context, cl incus.InstanceServer, name string, st api.InstanceStatePut) error {
	op, err := cl.UpdateInstanceState(name, st, "")
	if err == nil {
		err = p.wait(ctx, cl, op)
	}
	return err
}

// halt stops an instance (gracefully when graceful: init stops the desktop in order, within
// StopTimeout; else at once) and deletes it when del. A missing instance is no error.
func (p *Provider) halt(ctx context.Context, cl incus.InstanceServer, name string, del, graceful bool) error {
	st, _, err := cl.GetInstanceState(name)
	if lxdconn.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lxd: reading %s: %w", name, err)
	}
	if st.StatusCode != api.Stopped {
		if graceful {
			err = p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "stop", Timeout: int(p.o.StopTimeout / time.Second)})
		}
		if !graceful || err != nil {
			err = p.changeState(ctx, cl, name, api.InstanceStatePut{Action: "stop", Force: true, Timeout: -1})
		}
		if err != nil && !lxdconn.IsNotFound(err) && !strings.Contains(err.Error(), "already stopped") {
			return fmt.Errorf("lxd: stopping %s: %w", name, err)
		}
	}
	if !del {
		return nil
	}
	for {
		op, err := cl.DeleteInstance(name)
		if err == nil {
			err = p.wait(ctx, cl, op)
		}
		if err == nil || lxdconn.IsNotFound(err) {
			return nil
		}
		// An instance that has just stopped by itself is still busy with its stop for a moment.
		if !strings.Contains(err.Error(), "busy") || ctx.Err() != nil {
			return fmt.Errorf("lxd: deleting %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// readFile reads a file of an instance (at most max bytes from its end; 0: all).
func readFile(cl incus.InstanceServer, name, path string, max int) ([]byte, error) {
	rc, _, err := cl.GetInstanceFile(name, path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if max > 0 && len(b) > max {
		b = b[len(b)-max:]
	}
	return b, err
}

// waitReady polls <run>/ready of the instance until its init writes it; an instance that stops
// meanwhile fails with init's reason.
func (p *Provider) waitReady(ctx context.Context, cl incus.InstanceServer, name string) (*readyInfo, error) {
	pause := 50 * time.Millisecond
	for i := 0; ; i++ {
		b, err := readFile(cl, name, readyPath, 0)
		if err == nil {
			var r readyInfo
			if err := json.Unmarshal(b, &r); err == nil && r.RFB != "" && r.Agent != "" && r.Display != "" {
				if r.UID == 0 {
					return nil, fmt.Errorf("lxd: the desktop of %s runs as root", name)
				}
				return &r, nil
			}
		} else if !lxdconn.IsNotFound(err) && lxdconn.Status(err) == 0 {
			return nil, fmt.Errorf("lxd: reading the ready file of %s: %w", name, err)
		}
		if i%8 == 7 {
			st, _, err := cl.GetInstanceState(name)
			if err != nil {
				return nil, fmt.Errorf("lxd: reading %s: %w", name, err)
			}
			if st.StatusCode != api.Running {
				why := p.stopReason(cl, name)
				if badCommand(why) {
					return nil, fmt.Errorf("lxd: the desktop's command: %s: %w", why, provider.ErrBadCommand)
				}
				return nil, fmt.Errorf("lxd: %s stopped before its desktop was ready: %s", name, why)
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("lxd: the desktop of %s was not ready in time: %w", name, ctx.Err())
		case <-time.After(pause):
		}
		pause = min(pause*3/2, 250*time.Millisecond)
	}
}

// stopReason is why the instance's init stopped (or failed to start the desktop), from its log: the
// reason of its last "stopped" line, else the error of its last "bad configuration"/"set-up failed"
// line, else the end of its console log.
func (p *Provider) stopReason(cl incus.InstanceServer, name string) string {
	if why := initReason(cl, name); why != "" {
		return why
	}
	if rc, err := cl.GetInstanceConsoleLog(name, nil); err == nil {
		b, _ := io.ReadAll(io.LimitReader(rc, 1<<20))
		rc.Close()
		b = bytes.TrimSpace(b)
		if len(b) > 400 {
			b = b[len(b)-400:]
		}
		if len(b) > 0 {
			return "console: " + string(b)
		}
	}
	return "no reason in its init's log"
}

// initReason is the reason init's log gives for its stop, or "" (init was killed, or never ran).
func initReason(cl incus.InstanceServer, name string) string {
	b, err := readFile(cl, name, initLog, 256<<10)
	if err == nil {
		lines := bytes.Split(bytes.TrimSpace(b), []byte{'\n'})
		for i := len(lines) - 1; i >= 0; i-- {
			var l struct {
				Msg, Reason, Error string
			}
			if json.Unmarshal(lines[i], &l) != nil {
				continue
			}
			switch l.Msg {
			case "stopped", "stopping", "stop requested":
				if l.Reason != "" {
					return l.Reason
				}
			case "bad configuration", "set-up failed":
				return l.Msg + ": " + l.Error
			case "deskhub init starting":
				return "" // this boot's log has no stop yet
			}
		}
	}
	return ""
}

// badCommand tells whether init's stop reason is a command that could not be run (the shell's 127: not
// found, 126: not executable).
func badCommand(why string) bool {
	return strings.Contains(why, "command ended") && (strings.Contains(why, "exit status 127") || strings.Contains(why, "exit status 126"))
}

// userEnv is the environment of programs run in the desktop, as init gives its own (docs/INIT.md).
func userEnv(r readyInfo) map[string]string {
	env := map[string]string{"HOME": r.Home, "USER": r.User, "LOGNAME": r.User, "SHELL": "/bin/sh", "PATH": userPATH,
		"LANG": "C.UTF-8", "DISPLAY": r.Display, "XAUTHORITY": r.XAuthority}
	if r.RuntimeDir != "" {
		env["XDG_RUNTIME_DIR"] = r.RuntimeDir
		env["PULSE_SERVER"] = "unix:" + r.RuntimeDir + "/pulse/native"
	}
	return env
}

// run runs argv in the instance as the desktop's user, with its environment, and answers its exit code;
// stdout (when not nil) gets its output.
func (p *Provider) run(ctx context.Context, cl incus.InstanceServer, name string, r readyInfo, argv []string, stdout io.Writer) (int, error) {
	return p.runIn(ctx, cl, name, r, argv, nil, stdout)
}

// runIn is run with stdin.
func (p *Provider) runIn(ctx context.Context, cl incus.InstanceServer, name string, r readyInfo, argv []string, stdin io.Reader, stdout io.Writer) (int, error) {
	return p.exec(ctx, cl, name, api.InstanceExecPost{Command: argv, WaitForWS: true, Environment: userEnv(r),
		User: uint32(r.UID), Group: uint32(r.UID), Cwd: r.Home}, stdin, stdout)
}

// exec runs a command in the instance as post says and answers its exit code.
func (p *Provider) exec(ctx context.Context, cl incus.InstanceServer, name string, post api.InstanceExecPost, stdin io.Reader, stdout io.Writer) (int, error) {
	if stdin == nil {
		stdin = bytes.NewReader(nil)
	}
	if stdout == nil {
		stdout = io.Discard
	}
	var stderr limited
	done := make(chan bool)
	op, err := cl.ExecInstance(name, post,
		&incus.InstanceExecArgs{Stdin: stdin, Stdout: stdout, Stderr: &stderr, DataDone: done})
	if err != nil {
		return -1, err
	}
	code, err := p.execResult(ctx, cl, op)
	if err != nil {
		// LXD fails the operation of a command that exits 127 or 126 (as the shell does for a program
		// it cannot find or run).
		switch err.Error() {
		case "Command not found":
			return 127, nil
		case "Permission denied":
			return 126, nil
		}
		return -1, err
	}
	select {
	case <-done:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	return code, nil
}

// limited keeps the first 4 KiB written to it.
type limited struct{ b bytes.Buffer }

func (l *limited) Write(p []byte) (int, error) {
	if room := 4096 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limited) String() string { return l.b.String() }

// installKeys writes the account's SSH keys to ~/.ssh/authorized_keys of the desktop's user, as that
// user with umask 077 (a 0700 directory, a 0600 file of theirs). It goes through the exec API: LXD 5.0
// reads the owner and mode of a file push from X-LXD-* headers, the incus client sends X-Incus-*.
func (p *Provider) installKeys(ctx context.Context, cl incus.InstanceServer, name string, r readyInfo, keys []string) error {
	body := strings.Join(keys, "\n") + "\n"
	code, err := p.runIn(ctx, cl, name, r, []string{"/bin/sh", "-c",
		`umask 077 && mkdir -p "$HOME/.ssh" && cat > "$HOME/.ssh/authorized_keys.new" && mv -f "$HOME/.ssh/authorized_keys.new" "$HOME/.ssh/authorized_keys"`},
		strings.NewReader(body), nil)
	if err == nil && code != 0 {
		err = fmt.Errorf("exit %d", code)
	}
	return err
}

// probe checks that the broker reaches the desktop's RFB server: a whole handshake (Xvnc counts a
// connection closed before its security handshake as a failure, and refuses everyone after a few).
func (p *Provider) probe(ctx context.Context, d *desktop) error {
	var last error
	for i := 0; i < 50; i++ {
		err := func() error {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			c, err := p.dial(cctx, d, rfbPath)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = rfb.Handshake(cctx, c)
			return err
		}()
		if err == nil {
			return nil
		}
		last = err
		if ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return last
}
