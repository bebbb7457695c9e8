// Package lxddesktop tests desktops inside LXD instances end to end: the real deskhub binary (serve
// --lxd-desktops) with the real LXD daemon (lxdtest's throwaway project, whose instances never get a
// network device) and deskhub's desktop image, built once per test binary from this source tree and
// imported into the project. Everything goes through the session and agent surfaces, as a client would
// use them.
package lxddesktop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/vmm"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/provider/rfb"
	"github.com/deskhub/deskhub/internal/servetest"
)

func TestMain(m *testing.M) {
	code := lxdtest.Main(m)
	servetest.Cleanup()
	os.Exit(code)
}

const adminPW = "lxd-desktop-admin-1"

// deskhub is a running `deskhub serve --lxd-desktops` with the test LXD server added (by its socket).
type deskhub struct {
	env   *lxdtest.Env
	data  string
	flags []string
	srv   *servetest.Server
	admin *client.Client
	lxdID string // serverId of the LXD server: lxd-<id>
	host  string // serverId of this host

	answered []time.Duration // BenchmarkDesktopStarts: session/start's answers (startFrame)
}

func startDeskhub(t testing.TB, flags ...string) *deskhub {
	t.Helper()
	return startWith(t, true, flags...)
}

// startWith is startDeskhub; with localImage, the desktop image is imported into the LXD project and
// deskhub takes it from there (--lxd-image-server local), else deskhub's default applies.
func startWith(t testing.TB, localImage bool, flags ...string) *deskhub {
	t.Helper()
	env := lxdtest.Get(t)
	base := []string{"--lxd-desktops", "--lxd-image", lxdtest.DesktopAlias, "--lxd-cert-name", env.CertPrefix + "-deskhub",
		"--display-geometry", "800x600"}
	if localImage {
		env.DesktopImage(t)
		base = append(base, "--lxd-image-server", "local")
	} else {
		lxdtest.DesktopBuild(t)
	}
	data, err := servetest.NewDataDir()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	if err := servetest.AddUser(data, "admin", adminPW, true); err != nil {
		t.Fatal(err)
	}
	d := &deskhub{env: env, data: data, flags: append(base, flags...)}
	d.start(t)
	ctx := context.Background()
	doc, err := d.admin.AddServer(ctx, vmm.ServerAddRequest{ServerPath: env.Socket, ServerProtocol: "lxd", ServerProject: env.Project})
	if err != nil {
		t.Fatalf("server.add: %v\n%s", err, d.srv.Logs())
	}
	d.lxdID = "lxd-" + doc.Data.ID
	cfg, err := d.admin.SessionConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d.host = cfg.ServerID
	// The link to the server comes up in the background: wait until it takes desktops.
	d.waitServer(t, d.lxdID, "online")
	return d
}

func (d *deskhub) start(t testing.TB) {
	t.Helper()
	srv, err := servetest.Start(d.data, servetest.Options{UserPrefix: "dhlxdt", Flags: d.flags})
	if err != nil {
		t.Fatal(err)
	}
	d.srv = srv
	t.Cleanup(srv.Stop)
	if d.admin, err = client.New(srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := d.admin.UserLogin(context.Background(), "admin", adminPW); err != nil {
		t.Fatal(err)
	}
}

// restart stops deskhub (SIGTERM) and starts it again on the same data.
func (d *deskhub) restart(t testing.TB) {
	t.Helper()
	d.srv.Stop()
	d.start(t)
}

func (d *deskhub) servers(t testing.TB) map[string]fastx.ServerInfo {
	t.Helper()
	list, err := d.admin.SystemServers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]fastx.ServerInfo{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

func (d *deskhub) waitServer(t testing.TB, id, state string) fastx.ServerInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := d.servers(t)[id]
		if s.State == state {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s is %q (%s), want %s\n%s", id, s.State, s.Error, state, d.srv.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// startLXD starts a session on the LXD server.
func (d *deskhub) startLXD(t testing.TB, c *client.Client, command string) fastx.Connect {
	t.Helper()
	t0 := time.Now()
	conn, err := c.StartSession(context.Background(), fastx.StartRequest{Command: command, ServerID: d.lxdID})
	if err != nil {
		t.Fatalf("session/start on %s: %v\n%s", d.lxdID, err, d.srv.Logs())
	}
	t.Logf("session %s started on %s in %s", conn.ID, d.lxdID, time.Since(t0).Round(time.Millisecond))
	return conn
}

// session finds a running session of the caller (nil when it is not running).
func session(t testing.TB, c *client.Client, id string) *fastx.Session {
	t.Helper()
	list, err := c.ListSessions(context.Background(), fastx.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range list {
		if s.ID == id {
			return &s
		}
	}
	return nil
}

func (d *deskhub) waitGone(t testing.TB, c *client.Client, id string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for session(t, c, id) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("session %s still runs\n%s", id, d.srv.Logs())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// instanceName of a session's desktop, from its hostname.
func instanceName(t testing.TB, c *client.Client, id string) string {
	t.Helper()
	s := session(t, c, id)
	if s == nil {
		t.Fatalf("session %s does not run", id)
	}
	return s.Hostname
}

// frame reads the first frame through the display relay: the browser's path.
func frame(t testing.TB, c *client.Client, conn fastx.Connect) (int, int) {
	t.Helper()
	nc, w, h := view(t, c, conn)
	nc.Close()
	return w, h
}

// view connects a display client through the relay and reads its first frame; the client stays
// connected until the caller closes it.
func view(t testing.TB, c *client.Client, conn fastx.Connect) (net.Conn, int, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := c.DialDisplay(ctx, conn)
	if err != nil {
		t.Fatalf("display websocket: %v", err)
	}
	img, err := rfb.Capture(ctx, nc)
	if err != nil {
		nc.Close()
		t.Fatalf("first frame through the relay: %v", err)
	}
	return nc, img.Bounds().Dx(), img.Bounds().Dy()
}

// resize asks the desktop for another screen size through the relay (SetDesktopSize, which the relay
// drops for viewers), and waits a moment for it to take effect.
func resize(t testing.TB, c *client.Client, conn fastx.Connect, w, h int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := c.DialDisplay(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := rfb.Handshake(ctx, nc); err != nil {
		t.Fatal(err)
	}
	var msg []byte
	msg = append(msg, 2, 0, 0, 2, 0, 0, 0, 0) // SetEncodings: Raw, ExtendedDesktopSize (-308)
	msg = binary.BigEndian.AppendUint32(msg, uint32(0xFFFFFECC))
	msg = append(msg, 251, 0) // SetDesktopSize
	msg = binary.BigEndian.AppendUint16(msg, uint16(w))
	msg = binary.BigEndian.AppendUint16(msg, uint16(h))
	msg = append(msg, 1, 0)                     // one screen
	msg = binary.BigEndian.AppendUint32(msg, 0) // id
	msg = append(msg, 0, 0, 0, 0)               // x, y
	msg = binary.BigEndian.AppendUint16(msg, uint16(w))
	msg = binary.BigEndian.AppendUint16(msg, uint16(h))
	msg = binary.BigEndian.AppendUint32(msg, 0) // flags
	if _, err := nc.Write(msg); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
}

// shotSize takes a screenshot through session/screenshot and answers its size.
func shotSize(t testing.TB, c *client.Client, id string) (int, int) {
	t.Helper()
	shot, err := c.Screenshot(context.Background(), fastx.ScreenshotRequest{ID: id})
	if err != nil {
		t.Fatalf("session/screenshot: %v", err)
	}
	b64, ok := strings.CutPrefix(shot.Src, "data:image/png;base64,")
	if !ok {
		t.Fatalf("screenshot %.40q is no PNG data URL", shot.Src)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	return cfg.Width, cfg.Height
}

// TestLXDDesktop: a session on the LXD server, as a browser and the agent's clients use it: the first
// frame through the display relay, agent endpoints through /spawner/{id}/…, screenshot, exec, a viewer
// share (whose resize the relay drops), instance.list naming the session; the instance has no network
// device; a deskhub restart takes the running desktop back; terminate deletes the instance.
func TestLXDDesktop(t *testing.T) {
	d := startDeskhub(t)
	ctx := context.Background()
	conn := d.startLXD(t, d.admin, "xterm")
	id := conn.ID
	s := session(t, d.admin, id)
	if s == nil || s.ServerID != d.lxdID || s.Hostname != "dh-"+id || s.Display != ":0" || s.State != "running" {
		t.Fatalf("session/list: %+v", s)
	}
	name := s.Hostname
	d.env.CheckNoNIC(t, name)
	if nets := strings.Fields(d.env.Exec(t, name, "ls", "/sys/class/net")); len(nets) != 1 || nets[0] != "lo" {
		t.Errorf("network interfaces in the desktop: %v", nets)
	}
	if w, h := frame(t, d.admin, conn); w != 800 || h != 600 {
		t.Errorf("first frame %dx%d", w, h)
	}
	agent := d.admin.Agent(id)
	if v, err := agent.Version(ctx); err != nil || v.Version == "" {
		t.Errorf("agent /version: %+v %v", v, err)
	}
	wins, err := agent.Windows(ctx)
	if err != nil {
		t.Fatalf("agent /getwindowslist: %v", err)
	}
	hearTone(t, agent)
	if w, h := shotSize(t, d.admin, id); w != 800 || h != 600 {
		t.Errorf("screenshot %dx%d", w, h)
	}
	res, err := d.admin.Exec(ctx, fastx.ExecRequest{ID: id, Command: "xterm", Args: []string{"-title", "second"}})
	if err != nil || res.Pid <= 1 {
		t.Fatalf("session/exec: %+v %v", res, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		now, err := agent.Windows(ctx)
		if err == nil && len(now) > len(wins) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the exec'd xterm shows no window: %d windows, %v", len(now), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	if _, err := d.admin.Exec(ctx, fastx.ExecRequest{ID: id, Command: "no-such-program"}); !isStatus(err, 400) {
		t.Errorf("session/exec of a missing program: %v", err)
	}
	if log, err := d.admin.SessionLog(ctx, id); err != nil || !strings.Contains(log.Log, `"msg":"ready"`) {
		t.Errorf("session/log: %v %.200q", err, log.Log)
	}

	// A viewer sees the screen; its resize does not reach the desktop, the owner's does.
	keys, err := d.admin.EditShare(ctx, fastx.ShareEditRequest{ID: id, Perms: []string{"viewer"}})
	if err != nil || len(keys) == 0 {
		t.Fatalf("share/edit: %v", err)
	}
	anon, _ := client.New(d.srv.URL, nil)
	view, err := anon.ConnectShare(ctx, id, keys[0].Key)
	if err != nil {
		t.Fatalf("share/connect: %v", err)
	}
	if w, h := frame(t, anon, view); w != 800 || h != 600 {
		t.Errorf("viewer's frame %dx%d", w, h)
	}
	if view, err = anon.ConnectShare(ctx, id, keys[0].Key); err != nil {
		t.Fatal(err)
	}
	resize(t, anon, view, 640, 480)
	if w, h := shotSize(t, d.admin, id); w != 800 || h != 600 {
		t.Errorf("a viewer resized the desktop to %dx%d", w, h)
	}
	own, err := d.admin.ConnectSession(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	resize(t, d.admin, own, 640, 480)
	if w, h := shotSize(t, d.admin, id); w != 640 || h != 480 {
		t.Errorf("the owner's resize: %dx%d, want 640x480 (the relay passes control messages)", w, h)
	}

	// instance.list marks the desktop.
	il, err := d.admin.ListInstances(ctx, vmm.InstanceListRequest{Provider: vmm.ProviderLXD})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, in := range il.Data {
		if in.Attributes.InstanceName == name {
			found = in.Attributes.InstanceSessionID == id && in.Attributes.InstanceOwner == "admin"
			if !found {
				t.Errorf("instance.list: %+v", in.Attributes)
			}
		}
	}
	if !found {
		t.Errorf("instance.list lacks %s", name)
	}
	srv := d.servers(t)[d.lxdID]
	if srv.Sessions != 1 || srv.CPUs < 1 || srv.TotalMemory <= 0 || srv.FreeMemory <= 0 || srv.Provider != "lxd" {
		t.Errorf("system/server/list: %+v", srv)
	}

	// A restart takes the desktop back.
	d.restart(t)
	if s := session(t, d.admin, id); s == nil || s.ServerID != d.lxdID {
		t.Fatalf("after the restart: %+v\n%s", s, d.srv.Logs())
	}
	conn, err = d.admin.ConnectSession(ctx, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := frame(t, d.admin, conn); w != 640 || h != 480 {
		t.Errorf("frame after the restart %dx%d", w, h)
	}
	if _, err := d.admin.Agent(id).Version(ctx); err != nil {
		t.Errorf("agent after the restart: %v", err)
	}
	if !strings.Contains(d.srv.Logs(), `"msg":"desktop adopted"`) {
		t.Errorf("no adoption in the log:\n%s", d.srv.Logs())
	}

	if err := d.admin.TerminateSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.env.Client(t).GetInstance(name); err == nil {
		t.Error("the instance is still there after session/terminate")
	}
}

// hearTone listens to the desktop's sound through the broker (/ws/audio/{id}: the agent records the
// instance's own PulseAudio) while the agent plays its 0.5 s 440 Hz sample: about 25 frames of 20 ms
// come, loud.
func hearTone(t *testing.T, agent *client.Agent) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	au, err := agent.Audio(ctx)
	if err != nil {
		t.Fatalf("audio websocket: %v", err)
	}
	defer au.Close()
	played := make(chan error, 1)
	go func() { _, err := agent.PlayAudioSample(ctx); played <- err }()
	frames, peak := 0, 0
	for frames < 60 {
		rctx, rcancel := context.WithTimeout(ctx, 3*time.Second)
		b, err := au.Next(rctx)
		rcancel()
		if err != nil {
			break // silence: the tone is over
		}
		frames++
		for i := 0; i+1 < len(b); i += 2 {
			v := int(int16(binary.LittleEndian.Uint16(b[i:])))
			peak = max(peak, v, -v)
		}
	}
	if err := <-played; err != nil {
		t.Fatalf("playAudioSample: %v", err)
	}
	if frames < 22 || frames > 28 || peak < 5000 {
		t.Errorf("the desktop's tone through /ws/audio: %d frames (want 22..28), peak %d", frames, peak)
	}
	t.Logf("audio: %d frames, peak %d", frames, peak)
}

func isStatus(err error, status int) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == status
}

// TestLXDEnds: a session whose command exits ends (with the command's reason in the log); one whose
// instance is deleted behind deskhub's back ends saying so.
func TestLXDEnds(t *testing.T) {
	d := startDeskhub(t)
	short := d.startLXD(t, d.admin, "sleep 4")
	doomed := d.startLXD(t, d.admin, "xterm")
	name := instanceName(t, d.admin, doomed.ID)
	d.waitGone(t, d.admin, short.ID, time.Minute)
	deleteForce(t, d.env, name)
	d.waitGone(t, d.admin, doomed.ID, time.Minute)
	logs := d.srv.Logs()
	for _, want := range []string{
		fmt.Sprintf(`"session":%q,"reason":"the command ended (exit status 0)"`, short.ID),
		fmt.Sprintf(`"session":%q,"reason":"its instance %s was deleted outside deskhub"`, doomed.ID, name),
	} {
		if !strings.Contains(logs, want) {
			var ended []string
			for _, l := range strings.Split(logs, "\n") {
				if strings.Contains(l, `"msg":"desktop ended"`) {
					ended = append(ended, l)
				}
			}
			t.Errorf("the log lacks %s; the ends logged:\n%s", want, strings.Join(ended, "\n"))
		}
	}
	if _, _, err := d.env.Client(t).GetInstance("dh-" + short.ID); err == nil {
		t.Error("the instance of the ended session is still there")
	}
}

// deleteForce is lxc delete --force.
func deleteForce(t testing.TB, env *lxdtest.Env, name string) {
	t.Helper()
	out, err := lxc(env, "delete", "--force", name)
	if err != nil {
		t.Fatalf("lxc delete --force %s: %v\n%s", name, err, out)
	}
}

// TestPlacement: with one session per server, a session on the host (serverId) fills it; a shortcut
// without serverId is placed on the LXD server, and the same shortcut connects to it again; a third
// session finds no server and says why; system/server/list reports both servers with their load.
func TestPlacement(t *testing.T) {
	d := startDeskhub(t, "--max-sessions-per-server", "1")
	ctx := context.Background()
	hostConn, err := d.admin.StartSession(ctx, fastx.StartRequest{Command: "xterm", ServerID: d.host})
	if err != nil {
		t.Fatalf("session/start on the host: %v\n%s", err, d.srv.Logs())
	}
	if s := session(t, d.admin, hostConn.ID); s == nil || s.ServerID != d.host {
		t.Fatalf("host session: %+v", s)
	}
	if _, err := d.admin.EditBookmark(ctx, fastx.Bookmark{ID: "term", Name: "Terminal", Command: "xterm"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	placed, err := d.admin.Shortcut(ctx, "term")
	if err != nil {
		t.Fatalf("session/shortcut: %v\n%s", err, d.srv.Logs())
	}
	t.Logf("shortcut started %s in %s", placed.ID, time.Since(t0).Round(time.Millisecond))
	if s := session(t, d.admin, placed.ID); s == nil || s.ServerID != d.lxdID {
		t.Fatalf("the placed session runs on %+v, want %s", s, d.lxdID)
	}
	again, err := d.admin.Shortcut(ctx, "term")
	if err != nil || again.ID != placed.ID {
		t.Fatalf("the shortcut again: %s %v, want %s", again.ID, err, placed.ID)
	}
	if w, h := frame(t, d.admin, again); w != 800 || h != 600 {
		t.Errorf("frame %dx%d", w, h)
	}
	_, err = d.admin.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 503 || !strings.Contains(ce.Message, "no server can take your session now") ||
		!strings.Contains(ce.Message, d.host+" ") || !strings.Contains(ce.Message, d.lxdID+" ") || !strings.Contains(ce.Message, "full") {
		t.Errorf("a third session: %v", err)
	}
	if !strings.Contains(d.srv.Logs(), `"msg":"placement skips a server"`) {
		t.Error("the log does not say why servers were skipped")
	}
	srv := d.servers(t)
	for _, id := range []string{d.host, d.lxdID} {
		s := srv[id]
		if s.Sessions != 1 || s.State != "full" || s.CPUs < 1 || s.FreeMemory <= 0 || s.TotalMemory <= 0 || s.MaxSessions != 1 {
			t.Errorf("system/server/list %s: %+v", id, s)
		}
	}
	prof, err := d.admin.SessionProfile(ctx)
	if err != nil || strings.Join(prof.Servers, " ") != d.host+" "+d.lxdID {
		t.Errorf("session/profile servers: %v %v", prof.Servers, err)
	}
	for _, id := range []string{hostConn.ID, placed.ID} {
		if err := d.admin.TerminateSession(ctx, id); err != nil {
			t.Error(err)
		}
	}
}

// TestLXDExecBridge: with --lxd-transport exec (what servers on other machines get), the relay, the
// agent and screenshots go through the exec bridge.
func TestLXDExecBridge(t *testing.T) {
	d := startDeskhub(t, "--lxd-transport", "exec")
	ctx := context.Background()
	conn := d.startLXD(t, d.admin, "xterm")
	name := instanceName(t, d.admin, conn.ID)
	inst, _, err := d.env.Client(t).GetInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	for dev, dd := range inst.ExpandedDevices {
		if dd["type"] != "disk" {
			t.Errorf("device %s: %v", dev, dd)
		}
	}
	if w, h := frame(t, d.admin, conn); w != 800 || h != 600 {
		t.Errorf("first frame %dx%d", w, h)
	}
	if _, err := d.admin.Agent(conn.ID).Version(ctx); err != nil {
		t.Errorf("agent: %v", err)
	}
	hearTone(t, d.admin.Agent(conn.ID))
	if w, h := shotSize(t, d.admin, conn.ID); w != 800 || h != 600 {
		t.Errorf("screenshot %dx%d", w, h)
	}
	if err := d.admin.TerminateSession(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
}

// TestLXDImageFromDeskhub: by default the LXD server takes the desktop image from deskhub's own image
// server, over HTTPS with deskhub's self-signed certificate pinned: the image, published with
// simplestream.upload, is pulled by LXD when the first desktop starts.
func TestLXDImageFromDeskhub(t *testing.T) {
	env := lxdtest.Get(t)
	rep := lxdtest.DesktopBuild(t)
	env.DropDesktopImage(t) // LXD must pull it
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr := ln.Addr().String()
	ln.Close()
	d := startWith(t, false, "--tls-listen", tlsAddr)
	ctx := context.Background()
	prod, err := d.admin.SimplestreamAdd(ctx, vmm.SimplestreamAddRequest{ProductOS: "debian", ProductRelease: rep.Suite,
		ProductArch: rep.Arch, ProductVariant: "desktop", ProductAliases: lxdtest.DesktopAlias})
	if err != nil {
		t.Fatalf("simplestream.add: %v", err)
	}
	f, err := os.Open(rep.Output)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := d.admin.SimplestreamUploadFile(ctx, vmm.SimplestreamUploadPayload{ProductID: prod.Data.Attributes.ProductID,
		ProductVersionSerial: rep.Serial, FileSHA256: rep.SHA256}, "lxd_combined.tar.gz", f, rep.Size); err != nil {
		t.Fatalf("simplestream.upload: %v", err)
	}
	conn := d.startLXD(t, d.admin, "xterm")
	name := instanceName(t, d.admin, conn.ID)
	c := d.env.Client(t)
	inst, _, err := c.GetInstance(name)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Config["volatile.base_image"] != rep.SHA256 {
		t.Errorf("base image %s, want the published %s", inst.Config["volatile.base_image"], rep.SHA256)
	}
	if img, _, err := c.GetImage(rep.SHA256); err != nil || !img.Cached {
		t.Errorf("the LXD server holds no pulled copy of the image: %+v %v", img, err)
	}
	if w, h := frame(t, d.admin, conn); w != 800 || h != 600 {
		t.Errorf("first frame %dx%d", w, h)
	}
	if err := d.admin.TerminateSession(ctx, conn.ID); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkLXDStart measures session/start on the LXD server up to the first frame through the
// display relay, with a cold instance each time (a new instance from the image: LXD's dir driver
// unpacks the image each time), and the instance's memory once the desktop is up.
func BenchmarkLXDStart(b *testing.B) {
	d := startDeskhub(b)
	ctx := context.Background()
	var times []time.Duration
	var mem []int64
	for b.Loop() {
		t0 := time.Now()
		conn, err := d.admin.StartSession(ctx, fastx.StartRequest{Command: "xterm", ServerID: d.lxdID})
		if err != nil {
			b.Fatal(err)
		}
		tStart := time.Since(t0)
		frame(b, d.admin, conn)
		times = append(times, time.Since(t0))
		b.StopTimer()
		name := "dh-" + conn.ID
		if st, _, err := d.env.Client(b).GetInstanceState(name); err == nil {
			mem = append(mem, st.Memory.Usage)
		}
		b.Logf("start %s, first frame %s", tStart.Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
		if err := d.admin.TerminateSession(ctx, conn.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(percentile(times, 50).Milliseconds()), "p50-ms")
	b.ReportMetric(float64(percentile(times, 90).Milliseconds()), "p90-ms")
	// The provider logs the phases of each start: creating the instance (LXD unpacks the image),
	// booting it, and init readying the desktop.
	phases := map[string][]time.Duration{}
	for _, line := range strings.Split(d.srv.Logs(), "\n") {
		var l struct{ Msg, Create, Boot, Ready string }
		if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "desktop started" {
			continue
		}
		for name, v := range map[string]string{"create": l.Create, "boot": l.Boot, "ready": l.Ready} {
			if dur, err := time.ParseDuration(v); err == nil {
				phases[name] = append(phases[name], dur)
			}
		}
	}
	for name, ds := range phases {
		b.ReportMetric(float64(percentile(ds, 50).Milliseconds()), name+"-p50-ms")
	}
	if len(mem) > 0 {
		var sum int64
		for _, m := range mem {
			sum += m
		}
		b.ReportMetric(float64(sum/int64(len(mem)))/(1<<20), "MiB/instance")
	}
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[(len(s)-1)*p/100]
}

// lxc runs the lxc command on the run's project.
func lxc(env *lxdtest.Env, args ...string) (string, error) {
	conf, err := os.MkdirTemp("", "lxdtest-lxc")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(conf)
	cmd := exec.Command("lxc", append(args, "--project", env.Project)...)
	cmd.Env = append(os.Environ(), "LXD_DIR=/var/lib/lxd", "LXD_CONF="+conf)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
