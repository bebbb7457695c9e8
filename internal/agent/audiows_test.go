package agent

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/spawner"
)

// TestAudioStream: the audio websocket announces its format, carries the desktop's sound (the 0.5 s
// 440 Hz sample played through the default sink) as PCM at that rate, and records only while open.
// Real PulseAudio and parec (scripts/deps.sh: pulseaudio, pulseaudio-utils).
func TestAudioStream(t *testing.T) {
	a, err := New(Options{Display: ":99", Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+spawner.AudioPath, nil)
	if err != nil {
		t.Fatalf("audio websocket: %v", err)
	}
	defer ws.CloseNow()
	typ, b, err := ws.Read(ctx)
	if err != nil || typ != websocket.MessageText {
		t.Fatalf("header: %v %v", typ, err)
	}
	var hdr spawner.AudioHeader
	if err := json.Unmarshal(b, &hdr); err != nil || hdr.Format != "s16le" || hdr.Rate != spawner.AudioRate ||
		hdr.Channels != spawner.AudioChannels || hdr.FrameMs != spawner.AudioFrameMs || !hdr.SkipsSilence {
		t.Fatalf("header %s: %v", b, err)
	}
	// The recorder connects to PulseAudio shortly after the header went out.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		n, err := a.audio.p.Recorders(ctx)
		if err == nil && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorders while listening: %d %v", n, err)
		}
	}
	// Silence is not sent: nothing comes before the tone.
	quiet, qcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	if _, b, err := ws.Read(quiet); err == nil {
		t.Fatalf("a frame (%d bytes) while nothing plays", len(b))
	}
	qcancel()
	if ctx.Err() != nil {
		t.Fatal(ctx.Err())
	}
	// A timed-out read closes a coder/websocket connection: open a fresh one for the tone.
	ws.CloseNow()
	ws, _, err = websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+spawner.AudioPath, nil)
	if err != nil {
		t.Fatalf("audio websocket: %v", err)
	}
	defer ws.CloseNow()
	if _, _, err := ws.Read(ctx); err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	go func() {
		code, m := do(t, a.Handler(), "POST", "/playAudioSample", "")
		if code != 200 {
			t.Errorf("playAudioSample: %d %v", code, m)
		}
		played <- nil
	}()
	var frames, peak, crossings int
	var prev int16
	for frames < 40 {
		rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
		typ, b, err := ws.Read(rctx)
		rcancel()
		if err != nil {
			break // the tone is over (silence is not sent)
		}
		if typ != websocket.MessageBinary || len(b) != spawner.AudioFrameBytes() {
			t.Fatalf("frame: type %v, %d bytes (want %d)", typ, len(b), spawner.AudioFrameBytes())
		}
		frames++
		for i := 0; i+1 < len(b); i += 2 * spawner.AudioChannels { // the first channel
			v := int16(binary.LittleEndian.Uint16(b[i:]))
			peak = max(peak, abs(int(v)))
			if (v >= 0) != (prev >= 0) {
				crossings++
			}
			prev = v
		}
	}
	<-played
	// 0.5 s of tone is 25 frames of 20 ms (+2 for where the frame edges fall); a wrong rate or channel
	// count gives another count and another pitch.
	if frames < 22 || frames > 28 {
		t.Errorf("%d non-silent frames, want 22..28 (0.5 s in %d ms frames)", frames, spawner.AudioFrameMs)
	}
	if peak < 5000 {
		t.Errorf("peak %d, want the sample's ~13000", peak)
	}
	seconds := float64(frames*spawner.AudioFrameMs) / 1000
	if hz := float64(crossings) / 2 / seconds; hz < 400 || hz > 480 {
		t.Errorf("pitch %.0f Hz (%d zero crossings in %.2f s), want 440", hz, crossings, seconds)
	}
	t.Logf("%d frames, peak %d, %d zero crossings", frames, peak, crossings)
	// Closing the websocket stops the recorder.
	ws.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := a.audio.p.Recorders(ctx)
		if err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorders after the listener left: %d %v", n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
