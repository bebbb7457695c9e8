package display

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fakeRFB is a unix-socket server standing in for Xvnc: it hands each accepted connection to the test.
type fakeRFB struct {
	path  string
	conns chan net.Conn
}

func shortTempDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "dhdisp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func newFakeRFB(t testing.TB) *fakeRFB {
	f := &fakeRFB{path: filepath.Join(shortTempDir(t), "rfb.sock"), conns: make(chan net.Conn, 16)}
	ln, err := net.Listen("unix", f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.conns <- c
		}
	}()
	return f
}

func (f *fakeRFB) accept(t testing.TB) net.Conn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection reached the RFB server")
		return nil
	}
}

type change struct {
	session   string
	clients   int
	connected bool
}

// harness: a Relay behind httptest, granting by one-time secret like the broker will.
type harness struct {
	t       testing.TB
	relay   *Relay
	secrets *Secrets
	srv     *httptest.Server
	mu      sync.Mutex
	changes []change
}

func newHarness(t testing.TB, sockFor func(string) string, mod func(*Options)) *harness {
	h := &harness{t: t, secrets: NewSecrets(0, nil)}
	o := Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Dial: func(ctx context.Context, id string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sockFor(id))
		},
		OnChange: func(id string, n int, connected bool, at time.Time) {
			if at.IsZero() {
				t.Error("OnChange without time")
			}
			h.mu.Lock()
			h.changes = append(h.changes, change{id, n, connected})
			h.mu.Unlock()
		},
	}
	if testing.Verbose() {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mod != nil {
		mod(&o)
	}
	h.relay = NewRelay(o)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws/display/{id}", func(w http.ResponseWriter, r *http.Request) {
		g, err := h.secrets.Redeem(r.URL.Query().Get("secret"))
		if err != nil || g.SessionID != r.PathValue("id") {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		h.relay.ServeWS(w, r, g)
	})
	h.srv = httptest.NewServer(mux)
	t.Cleanup(func() { h.relay.Close(); h.srv.Close() })
	return h
}

func (h *harness) url(g Grant) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + "/ws/display/" + g.SessionID + "?secret=" + h.secrets.Issue(g)
}

func (h *harness) dial(g Grant, opts *websocket.DialOptions) *websocket.Conn {
	h.t.Helper()
	if opts == nil {
		opts = &websocket.DialOptions{Subprotocols: []string{"binary"}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, h.url(g), opts)
	if err != nil {
		h.t.Fatalf("dial: %v (%v)", err, resp)
	}
	c.SetReadLimit(-1)
	h.t.Cleanup(func() { c.CloseNow() })
	return c
}

func (h *harness) changesCopy() []change {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]change(nil), h.changes...)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func readFull(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

func send(t testing.TB, c *websocket.Conn, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageBinary, b); err != nil {
		t.Fatal(err)
	}
}

// closeStatus reads until the websocket ends and returns the close code (-1 if none).
func closeStatus(t testing.TB, c *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Error("websocket still open")
				return -1
			}
			return websocket.CloseStatus(err)
		}
	}
}

func oneSock(p string) func(string) string { return func(string) string { return p } }

func TestRelayFullControlBothWays(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), nil)
	g := Grant{SessionID: "s1", UserID: 1, Label: "alice"}
	ws := h.dial(g, nil)
	if ws.Subprotocol() != "binary" {
		t.Fatalf("subprotocol %q", ws.Subprotocol())
	}
	srv := rfb.accept(t)
	srv.Write([]byte("RFB 003.008\n"))
	ctx := context.Background()
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "RFB 003.008\n" {
		t.Fatalf("read %q %v", b, err)
	}
	// One websocket message holding several RFB messages, then one RFB message over three.
	first := cat([]byte("RFB 003.008\n\x01\x00"), mSetEncodings(0, 7), mPointer(1, 5, 5), mKey(1, 0x61))
	send(t, ws, first)
	cut := mCut("hello")
	send(t, ws, cut[:3])
	send(t, ws, cut[3:9])
	send(t, ws, cut[9:])
	want := cat(first, cut)
	if got := readFull(t, srv, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("server got %x\nwant %x", got, want)
	}
	if n := h.relay.Clients("s1"); n != 1 {
		t.Fatalf("Clients = %d", n)
	}
	ws.Close(websocket.StatusNormalClosure, "")
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := srv.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("server side not closed: %v", err)
	}
	eventually(t, "client gone", func() bool { return h.relay.Clients("s1") == 0 })
	eventually(t, "OnChange", func() bool { return len(h.changesCopy()) == 2 })
	if c := h.changesCopy(); c[0] != (change{"s1", 1, true}) || c[1] != (change{"s1", 0, false}) {
		t.Fatalf("changes %+v", c)
	}
}

func TestRelayViewOnlyFiltered(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), nil)
	ws := h.dial(Grant{SessionID: "s1", ViewOnly: true, Label: "share:k1"}, nil)
	srv := rfb.accept(t)
	send(t, ws, []byte("RFB 003.008\n\x01\x00"))
	send(t, ws, cat(mPointer(1, 9, 9), mKey(1, 0x61), mCut("x"), mFBUR(0, 0, 0, 8, 8)))
	p := mPointer(0, 1, 1)
	send(t, ws, p[:2])
	send(t, ws, cat(p[2:], mSetDesktopSize(1), mXvp(2), mQEMUKey(1, 1, 1), mFBUR(1, 0, 0, 8, 8)))
	want := cat([]byte("RFB 003.008\n\x01\x01"), mFBUR(0, 0, 0, 8, 8), mFBUR(1, 0, 0, 8, 8))
	if got := readFull(t, srv, len(want)); !bytes.Equal(got, want) {
		t.Fatalf("server got %x\nwant %x", got, want)
	}
	srv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := srv.Read(make([]byte, 64)); n != 0 {
		t.Fatalf("%d extra bytes reached the server", n)
	}
}

func TestRelayUnknownMessageCloses(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), nil)
	ws := h.dial(Grant{SessionID: "s1"}, nil)
	srv := rfb.accept(t)
	send(t, ws, cat([]byte("RFB 003.008\n\x01\x01"), mFBUR(0, 0, 0, 1, 1), []byte{7, 1, 2, 3}))
	if code := closeStatus(t, ws); code != closeProtocol {
		t.Fatalf("close code %d, want %d", code, closeProtocol)
	}
	want := cat([]byte("RFB 003.008\n\x01\x01"), mFBUR(0, 0, 0, 1, 1))
	srv.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(srv)
	if !bytes.Equal(got, want) {
		t.Fatalf("server got %x", got)
	}
}

func TestRelayServerEndClosesWebsocket(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), nil)
	ws := h.dial(Grant{SessionID: "s1"}, nil)
	srv := rfb.accept(t)
	srv.Write([]byte("bye"))
	srv.Close()
	ctx := context.Background()
	if _, b, err := ws.Read(ctx); err != nil || string(b) != "bye" {
		t.Fatalf("%q %v", b, err)
	}
	if code := closeStatus(t, ws); code != websocket.StatusNormalClosure {
		t.Fatalf("close code %d", code)
	}
	eventually(t, "client gone", func() bool { return h.relay.Clients("s1") == 0 })
}

func TestRelayDisconnect(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), nil)
	full1 := h.dial(Grant{SessionID: "s1", Label: "owner"}, nil)
	full2 := h.dial(Grant{SessionID: "s1", Label: "owner"}, nil)
	view1 := h.dial(Grant{SessionID: "s1", ViewOnly: true, Label: "share:k1"}, nil)
	view2 := h.dial(Grant{SessionID: "s1", ViewOnly: true, Label: "share:k2"}, nil)
	other := h.dial(Grant{SessionID: "s2"}, nil)
	for range 5 {
		rfb.accept(t)
	}
	eventually(t, "5 clients", func() bool { return h.relay.Clients("s1") == 4 && h.relay.Clients("s2") == 1 })
	if n := h.relay.Changes(); n != 5 {
		t.Fatalf("Changes = %d after 5 clients came", n)
	}
	if n := h.relay.DisconnectWhere("s1", func(g Grant) bool { return g.Label == "share:k1" }); n != 1 {
		t.Fatalf("DisconnectWhere k1 = %d", n)
	}
	if code := closeStatus(t, view1); code != closeKicked {
		t.Fatalf("view1 close code %d", code)
	}
	if n := h.relay.DisconnectWhere("s1", func(g Grant) bool { return g.ViewOnly }); n != 1 {
		t.Fatalf("DisconnectWhere viewers = %d", n)
	}
	closeStatus(t, view2)
	eventually(t, "2 left", func() bool { return h.relay.Clients("s1") == 2 })
	if n := h.relay.Disconnect("s1"); n != 2 {
		t.Fatalf("Disconnect = %d", n)
	}
	for _, ws := range []*websocket.Conn{full1, full2} {
		if code := closeStatus(t, ws); code != closeKicked {
			t.Fatalf("close code %d", code)
		}
	}
	eventually(t, "s1 empty", func() bool { return h.relay.Clients("s1") == 0 })
	if h.relay.Clients("s2") != 1 || h.relay.Disconnect("nope") != 0 {
		t.Fatal("other sessions affected")
	}
	codes := make(chan websocket.StatusCode, 1)
	go func() { codes <- closeStatus(t, other) }() // a browser answers the close handshake at once
	h.relay.Close()
	if code := <-codes; code != closeKicked {
		t.Fatalf("Close: code %d", code)
	}
	if h.relay.Clients("s2") != 0 {
		t.Fatal("Close left clients")
	}
	if n := h.relay.Changes(); n != 10 {
		t.Fatalf("Changes = %d after 5 clients came and went", n)
	}
	// Counts seen by OnChange for s1: up to 4, back to 0.
	var s1 []int
	for _, c := range h.changesCopy() {
		if c.session == "s1" {
			s1 = append(s1, c.clients)
		}
	}
	if len(s1) != 8 || s1[3] != 4 || s1[7] != 0 {
		t.Fatalf("s1 counts %v", s1)
	}
	// After Close, new clients are turned away.
	ws := h.dial(Grant{SessionID: "s2"}, nil)
	if code := closeStatus(t, ws); code != websocket.StatusGoingAway {
		t.Fatalf("after Close: code %d", code)
	}
}

func TestRelayOrigin(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, oneSock(rfb.path), func(o *Options) { o.OriginPatterns = []string{"*.example.org"} })
	try := func(origin string) int {
		hdr := http.Header{}
		hdr.Set("Origin", origin)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, h.url(Grant{SessionID: "s1"}), &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{"binary"}})
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return resp.StatusCode
		}
		c.CloseNow()
		return http.StatusSwitchingProtocols
	}
	same := "http://" + strings.TrimPrefix(h.srv.URL, "http://")
	for origin, want := range map[string]int{
		same:                       101,
		"https://app.example.org":  101,
		"https://evil.example.com": 403,
		"http://127.0.0.1:1":       403,
	} {
		if got := try(origin); got != want {
			t.Errorf("Origin %s: %d, want %d", origin, got, want)
		}
	}
}

func TestRelaySubprotocolAndDialFailure(t *testing.T) {
	rfb := newFakeRFB(t)
	h := newHarness(t, func(id string) string {
		if id == "gone" {
			return "/nonexistent/rfb.sock"
		}
		return rfb.path
	}, nil)
	// base64 (old noVNC) is not spoken.
	ws := h.dial(Grant{SessionID: "s1"}, &websocket.DialOptions{Subprotocols: []string{"base64"}})
	if code := closeStatus(t, ws); code != websocket.StatusPolicyViolation {
		t.Fatalf("base64 only: code %d", code)
	}
	// No subprotocol at all is fine.
	ws = h.dial(Grant{SessionID: "s1"}, &websocket.DialOptions{})
	srv := rfb.accept(t)
	srv.Write([]byte("x"))
	if _, b, err := ws.Read(context.Background()); err != nil || string(b) != "x" {
		t.Fatalf("%q %v", b, err)
	}
	ws = h.dial(Grant{SessionID: "gone"}, nil)
	if code := closeStatus(t, ws); code != closeUpstream {
		t.Fatalf("dial failure: code %d", code)
	}
	for _, c := range h.changesCopy() {
		if c.session == "gone" {
			t.Fatal("OnChange for a failed dial")
		}
	}
	// A used secret is refused by the handler (404), before any upgrade.
	u := h.url(Grant{SessionID: "s1"})
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	rfb.accept(t)
	c.CloseNow()
	if _, resp, err := websocket.Dial(ctx, u, nil); err == nil || resp == nil || resp.StatusCode != 404 {
		t.Fatalf("reused secret: %v", err)
	}
}
