package server

import (
	"context"
	"encoding/binary"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/client"
	"github.com/deskhub/deskhub/internal/config"
)

// toneFrames plays the agent's 0.5 s 440 Hz sample in the desktop and reads the audio websocket until
// it falls silent: the frames that came and their peak.
func toneFrames(t *testing.T, owner *client.Agent, au *client.AgentAudio) (frames, peak int) {
	t.Helper()
	ctx := context.Background()
	played := make(chan error, 1)
	go func() { _, err := owner.PlayAudioSample(ctx); played <- err }()
	for frames < 60 {
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		b, err := au.Next(rctx)
		cancel()
		if err != nil {
			break // silence: the tone is over
		}
		if len(b) != spawner.AudioFrameBytes() {
			t.Fatalf("frame of %d bytes, want %d", len(b), spawner.AudioFrameBytes())
		}
		frames++
		for i := 0; i+1 < len(b); i += 2 {
			v := int(int16(binary.LittleEndian.Uint16(b[i:])))
			peak = max(peak, v, -v)
		}
	}
	must(t, <-played)
	return frames, peak
}

// TestAudioWebSocket: /ws/audio/{id} carries the desktop's sound, from a real desktop's PulseAudio
// through its agent, to the owner and to holders of a share key (viewers too, with an account or not:
// the key as X-Share-Key, an offered subprotocol or ?share_key=); no token and no key is a 401,
// another user's session a 404, a foreign Origin a 403; it ends within 1 s of a logout or of the
// deletion of the share key it was opened through.
func TestAudioWebSocket(t *testing.T) {
	bin := agentBinary(t)
	r := newRevokeRig(t, func(c *config.Config, _ *Options) { c.Sessions.AgentCommand = []string{bin, "agent"} })
	h := r.h
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner := h.client(h.user("ada", false))
	guestClient := h.client(h.user("bo", false))
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	r.id = conn.ID
	a := owner.Agent(r.id)
	waitFor(t, "the agent", func() bool { _, err := a.Version(ctx); return err == nil })

	// The owner hears the tone: 0.5 s is 25 frames of 20 ms (the edges may split one or two).
	au, err := a.Audio(ctx)
	must(t, err)
	if au.Header != (spawner.AudioHeader{Format: "s16le", Rate: 24000, Channels: 2, FrameMs: 20, SkipsSilence: true}) {
		t.Fatalf("header %+v", au.Header)
	}
	frames, peak := toneFrames(t, a, au)
	if frames < 22 || frames > 28 || peak < 5000 {
		t.Fatalf("the tone through the broker: %d frames (want 22..28), peak %d (want ~13000)", frames, peak)
	}
	t.Logf("owner: %d frames, peak %d", frames, peak)
	au.Close()

	// Refusals: no token (401), another user without a key (404, as for the agent proxy), a key of
	// nothing (404), a page of another site with the owner's credentials (403).
	_, err = h.client("").Agent(r.id).Audio(ctx)
	wantErr(t, err, http.StatusUnauthorized, "")
	_, err = guestClient.Agent(r.id).Audio(ctx)
	wantErr(t, err, http.StatusNotFound, "")
	_, err = guestClient.Agent(r.id).WithShareKey("not-a-key").Audio(ctx)
	wantErr(t, err, http.StatusNotFound, "")
	_, err = h.client(owner.Token(), "Origin", "https://evil.example").Agent(r.id).Audio(ctx)
	wantErr(t, err, http.StatusForbidden, "Origin")
	// The page's own origin is fine.
	same, err := h.client(owner.Token(), "Origin", h.url()).Agent(r.id).Audio(ctx)
	must(t, err)
	same.Close()

	// A viewer's key lets its holder listen (header or query, as a browser must), and deleting the key
	// ends the stream within 1 s; another listener of the owner's stays.
	control, err := a.Audio(ctx)
	must(t, err)
	defer control.Close()
	controlLive := watch(func() error { _, err := control.Next(context.Background()); return err })
	key, shareID := r.shareKey(owner, "viewer")
	guest, err := guestClient.Agent(r.id).WithShareKey(key).Audio(ctx)
	must(t, err)
	if frames, _ := toneFrames(t, a, guest); frames < 22 {
		t.Fatalf("the viewer heard %d frames of the tone", frames)
	}
	u := strings.Replace(h.url(), "http", "ws", 1) + "/ws/audio/" + r.id + "?share_key=" + key
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + guestClient.Token()}}})
	if err != nil {
		t.Fatalf("share key in the query: %v", err)
	}
	defer ws.CloseNow()
	if typ, b, err := ws.Read(ctx); err != nil || typ != websocket.MessageText || !strings.Contains(string(b), `"s16le"`) {
		t.Fatalf("share key in the query: header %q %v", b, err)
	}
	// A browser's page without an account (a share link's guest): the key as an offered subprotocol,
	// which the answer names; without a key it is a 401, with a wrong one a 404.
	base := strings.Replace(h.url(), "http", "ws", 1) + "/ws/audio/" + r.id
	proto := shareKeyProtocol + key
	sp, _, err := websocket.Dial(ctx, base, &websocket.DialOptions{Subprotocols: []string{proto}})
	if err != nil {
		t.Fatalf("share key as a subprotocol, no account: %v", err)
	}
	defer sp.CloseNow()
	if sp.Subprotocol() != proto {
		t.Fatalf("the handshake named subprotocol %q, want the offered %q", sp.Subprotocol(), proto)
	}
	if typ, b, err := sp.Read(ctx); err != nil || typ != websocket.MessageText || !strings.Contains(string(b), `"s16le"`) {
		t.Fatalf("share key as a subprotocol: header %q %v", b, err)
	}
	for _, c := range []struct {
		protos []string
		want   int
	}{{nil, http.StatusUnauthorized}, {[]string{shareKeyProtocol + "not-a-key"}, http.StatusNotFound}} {
		if _, resp, err := websocket.Dial(ctx, base, &websocket.DialOptions{Subprotocols: c.protos}); err == nil || resp == nil || resp.StatusCode != c.want {
			code := 0
			if resp != nil {
				code = resp.StatusCode
			}
			t.Fatalf("no account, subprotocols %v: %d %v, want %d", c.protos, code, err, c.want)
		}
	}
	spLive := watch(func() error { _, _, err := sp.Read(context.Background()); return err })
	guestLive := watch(func() error { _, err := guest.Next(context.Background()); return err })
	qerr := make(chan error, 1)
	queryLive := watch(func() error {
		_, _, err := ws.Read(context.Background())
		if err != nil {
			qerr <- err
		}
		return err
	})
	start := time.Now()
	_, err = owner.DeleteShare(ctx, r.id, shareID)
	must(t, err)
	guestLive.endedWithin(t, "audio through a deleted viewer key", start)
	queryLive.endedWithin(t, "audio through a deleted viewer key (query)", start)
	spLive.endedWithin(t, "audio through a deleted viewer key (subprotocol, no account)", start)
	if code := websocket.CloseStatus(<-qerr); code != 4003 {
		t.Errorf("audio through a deleted key closed with %d, want 4003 (revoked)", code)
	}
	controlLive.stillOpen(t, "the owner's audio")

	// Logout ends the stream opened with that token.
	tok := h.client(h.login("ada", testPassword))
	mine, err := tok.Agent(r.id).Audio(ctx)
	must(t, err)
	defer mine.Close()
	mineLive := watch(func() error { _, err := mine.Next(context.Background()); return err })
	start = time.Now()
	must(t, tok.Logout(ctx))
	mineLive.endedWithin(t, "audio after logout", start)
	controlLive.stillOpen(t, "the owner's audio through another token")
}
