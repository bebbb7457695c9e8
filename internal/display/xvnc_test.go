package display

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

var aptOnce sync.Once

// ensureTool installs a Debian package when bin is missing; the test fails loudly if it can't.
func ensureTool(t testing.TB, bin, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(bin); err == nil {
		return
	}
	var out []byte
	var err error
	aptOnce.Do(func() { out, err = exec.Command("apt-get", "update", "-qq").CombinedOutput() })
	if err != nil {
		t.Fatalf("apt-get update: %v\n%s", err, out)
	}
	cmd := exec.Command("apt-get", "install", "-y", "-qq", pkg)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s is missing and apt-get install %s failed: %v\n%s", bin, pkg, err, out)
	}
}

// startXvnc starts a TigerVNC server whose RFB endpoint is only a unix socket, on a free display >= 150.
func startXvnc(t testing.TB) (sock string, display int) {
	t.Helper()
	if os.Getenv("DESKHUB_SKIP_X") == "1" {
		t.Skip("DESKHUB_SKIP_X=1")
	}
	ensureTool(t, "Xvnc", "tigervnc-standalone-server")
	ensureTool(t, "xdotool", "xdotool")
	dir := shortTempDir(t)
	sock = filepath.Join(dir, "rfb.sock")
	for n := 150; n < 400; n++ {
		if exists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) || exists(fmt.Sprintf("/tmp/.X%d-lock", n)) {
			continue
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("Xvnc-%d.log", n)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("Xvnc", fmt.Sprintf(":%d", n), "-rfbunixpath", sock, "-rfbport", "-1",
			"-SecurityTypes", "None", "-geometry", "640x480", "-nolisten", "tcp")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatalf("start Xvnc: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(exited) }()
		ready := false
	wait:
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			select {
			case <-exited:
				break wait
			default:
			}
			if exists(sock) && exists(fmt.Sprintf("/tmp/.X11-unix/X%d", n)) {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Process.Kill()
			<-exited
			log, _ := os.ReadFile(logf.Name())
			if strings.Contains(string(log), "already active") || strings.Contains(string(log), "in use") {
				continue // lost a race for the display number
			}
			t.Fatalf("Xvnc :%d did not start:\n%s", n, log)
		}
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-exited
		})
		return sock, n
	}
	t.Fatal("no free X display number in 150..399")
	return "", 0
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func pointerAt(t testing.TB, display int) (x, y int) {
	t.Helper()
	cmd := exec.Command("xdotool", "getmouselocation")
	cmd.Env = append(os.Environ(), fmt.Sprintf("DISPLAY=:%d", display))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("xdotool: %v %s", err, out)
	}
	if _, err := fmt.Sscanf(string(out), "x:%d y:%d", &x, &y); err != nil {
		t.Fatalf("xdotool output %q: %v", out, err)
	}
	return x, y
}

// rfbClient is a minimal RFB 3.8 client (security None, raw encoding) over a relay websocket.
type rfbClient struct {
	t             testing.TB
	ws            *websocket.Conn
	c             net.Conn
	width, height int
	bpp           int
	name          string
}

func newRFBClient(t testing.TB, ws *websocket.Conn, shared byte) *rfbClient {
	t.Helper()
	r := &rfbClient{t: t, ws: ws, c: websocket.NetConn(context.Background(), ws, websocket.MessageBinary)}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if v := string(r.read(12)); !strings.HasPrefix(v, "RFB 003.") {
		t.Fatalf("server version %q", v)
	}
	r.write([]byte("RFB 003.008\n"))
	n := int(r.read(1)[0])
	if n == 0 {
		t.Fatalf("server refused: %s", r.read(int(binary.BigEndian.Uint32(r.read(4)))))
	}
	if types := r.read(n); !slices.Contains(types, 1) {
		t.Fatalf("security types %v without None", types)
	}
	r.write([]byte{1})
	if res := binary.BigEndian.Uint32(r.read(4)); res != 0 {
		t.Fatalf("security result %d", res)
	}
	r.write([]byte{shared})
	si := r.read(24)
	r.width, r.height = int(binary.BigEndian.Uint16(si[0:])), int(binary.BigEndian.Uint16(si[2:]))
	r.bpp = int(si[4])
	r.name = string(r.read(int(binary.BigEndian.Uint32(si[20:]))))
	r.write(mSetEncodings(0)) // raw only, so that updates can be skipped without decoders
	return r
}

func (r *rfbClient) read(n int) []byte {
	r.t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r.c, b); err != nil {
		r.t.Fatalf("rfb read %d: %v", n, err)
	}
	return b
}

func (r *rfbClient) write(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("rfb write: %v", err)
	}
}

// update requests a non-incremental update of the area and reads server messages until the
// FramebufferUpdate; the server processes client messages in order, so everything sent before
// has been handled when it returns. It returns the number of rectangles.
func (r *rfbClient) update(x, y, w, h int) int {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	r.write(mFBUR(0, x, y, w, h))
	for {
		switch typ := r.read(1)[0]; typ {
		case 0: // FramebufferUpdate
			nrects := int(binary.BigEndian.Uint16(r.read(3)[1:]))
			for range nrects {
				hdr := r.read(12)
				rw, rh := int(binary.BigEndian.Uint16(hdr[4:])), int(binary.BigEndian.Uint16(hdr[6:]))
				if enc := int32(binary.BigEndian.Uint32(hdr[8:])); enc != 0 {
					r.t.Fatalf("unexpected encoding %d", enc)
				}
				r.read(rw * rh * r.bpp / 8)
			}
			return nrects
		case 1: // SetColourMapEntries
			n := int(binary.BigEndian.Uint16(r.read(5)[3:]))
			r.read(6 * n)
		case 2: // Bell
		case 3: // ServerCutText
			r.read(int(binary.BigEndian.Uint32(r.read(7)[3:])))
		default:
			r.t.Fatalf("unexpected server message %d", typ)
		}
	}
}

func TestRelayXvnc(t *testing.T) {
	sock, display := startXvnc(t)
	h := newHarness(t, oneSock(sock), nil)

	full := newRFBClient(t, h.dial(Grant{SessionID: "desk", UserID: 1, Label: "owner"}, nil), 1)
	if full.width != 640 || full.height != 480 {
		t.Fatalf("ServerInit %dx%d, want 640x480", full.width, full.height)
	}
	if n := full.update(0, 0, 640, 480); n < 1 {
		t.Fatal("empty FramebufferUpdate")
	}

	full.write(mPointer(0, 10, 20))
	full.update(0, 0, 1, 1)
	if x, y := pointerAt(t, display); x != 10 || y != 20 {
		t.Fatalf("full-control pointer: at %d,%d, want 10,20", x, y)
	}

	// The viewer asks for an exclusive connection; the relay makes it shared, or Xvnc would drop `full`.
	viewerWS := h.dial(Grant{SessionID: "desk", ViewOnly: true, Label: "share:k1"}, nil)
	viewer := newRFBClient(t, viewerWS, 0)
	viewer.update(0, 0, 640, 480)
	if n := h.relay.Clients("desk"); n != 2 {
		t.Fatalf("Clients = %d", n)
	}

	control := cat(mPointer(0, 200, 300), mPointer(1, 200, 300), mPointer(0, 200, 300),
		mKey(1, 0xffeb), mKey(0, 0xffeb), mCut("from the viewer"), mSetDesktopSize(1))
	viewer.write(control)
	viewer.update(0, 0, 1, 1) // processed after anything that got through
	full.update(0, 0, 1, 1)   // full is still connected
	if x, y := pointerAt(t, display); x != 10 || y != 20 {
		t.Fatalf("viewer moved the pointer to %d,%d", x, y)
	}

	full.write(mPointer(0, 200, 300)) // the same bytes move it when sent by a full-control client
	full.update(0, 0, 1, 1)
	if x, y := pointerAt(t, display); x != 200 || y != 300 {
		t.Fatalf("full-control pointer: at %d,%d, want 200,300", x, y)
	}

	codes := make(chan websocket.StatusCode, 2)
	for _, ws := range []*websocket.Conn{full.ws, viewerWS} {
		go func() { codes <- websocket.CloseStatus(waitClosed(ws)) }() // nothing is in flight
	}
	if n := h.relay.Disconnect("desk"); n != 2 {
		t.Fatalf("Disconnect = %d", n)
	}
	for range 2 {
		select {
		case code := <-codes:
			if code != closeKicked {
				t.Fatalf("close code %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("websocket not closed by Disconnect")
		}
	}
	eventually(t, "no clients", func() bool { return h.relay.Clients("desk") == 0 })
	var counts []string
	for _, c := range h.changesCopy() {
		counts = append(counts, fmt.Sprintf("%d/%v", c.clients, c.connected))
	}
	if got := strings.Join(counts, " "); got != "1/true 2/true 1/false 0/false" {
		t.Fatalf("OnChange: %s", got)
	}
}

// waitClosed reads until the websocket fails and returns that error.
func waitClosed(ws *websocket.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			return err
		}
	}
}
