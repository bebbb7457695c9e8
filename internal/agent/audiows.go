package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/coder/websocket"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/audio"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// audioWriteTimeout bounds one frame's write: a listener that falls this far behind is dropped (the
// recorder's backlog would only grow).
const audioWriteTimeout = 5 * time.Second

// audioFirstFrameWait bounds how long the header waits for the recorder's first frame.
const audioFirstFrameWait = 2 * time.Second

// serveAudio is the websocket of the desktop's sound (GET /audio, spawner.AudioPath): an AudioHeader,
// then binary frames of s16le PCM from the monitor of the default sink. A recorder (parec) runs for
// each open websocket and only while it is open.
func (a *Agent) serveAudio(w http.ResponseWriter, r *http.Request) {
	p, err := a.pulse(r.Context())
	if err != nil {
		httpapi.WriteError(w, httpapi.Agent, err)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: websocket.CompressionDisabled})
	if err != nil {
		return
	}
	defer ws.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() { // the client sends nothing; reading notices it leaving
		_, _, _ = ws.Read(ctx)
		cancel()
	}()
	rec, err := p.Capture(ctx, audio.DefaultMonitor, spawner.AudioRate, spawner.AudioChannels, spawner.AudioFrameMs*time.Millisecond)
	if err != nil {
		a.o.Log.Warn("audio capture", "error", err)
		ws.Close(websocket.StatusInternalError, "the desktop's sound cannot be recorded")
		return
	}
	defer rec.Close()
	// The header tells the client that sound is coming: it goes once the recorder delivers its first
	// frame (a null sink's monitor records silence from the moment parec is connected), so a sound
	// played after the header is never lost to a recorder still connecting. A recorder that has
	// delivered nothing after audioFirstFrameWait gets the header anyway.
	frame := make([]byte, spawner.AudioFrameBytes())
	first := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(rec, frame)
		first <- err
	}()
	var firstErr error
	waited := false
	select {
	case firstErr = <-first:
		waited = true
	case <-time.After(audioFirstFrameWait):
	case <-ctx.Done():
		return
	}
	hdr, _ := json.Marshal(spawner.AudioHeader{Format: spawner.AudioFormat, Rate: spawner.AudioRate,
		Channels: spawner.AudioChannels, FrameMs: spawner.AudioFrameMs, SkipsSilence: true})
	if ws.Write(ctx, websocket.MessageText, hdr) != nil {
		return
	}
	go func() { // silence sends nothing: pings keep idle proxies from closing the connection
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if ws.Ping(ctx) != nil {
					cancel()
					return
				}
			}
		}
	}()
	if !waited {
		select {
		case firstErr = <-first:
		case <-ctx.Done():
			return
		}
	}
	for err := firstErr; ; _, err = io.ReadFull(rec, frame) {
		if err != nil {
			if ctx.Err() == nil {
				a.o.Log.Warn("audio capture ended", "error", err)
				ws.Close(websocket.StatusInternalError, "the desktop's sound recorder stopped")
			}
			return
		}
		if audio.Silent(frame) {
			continue
		}
		wctx, wcancel := context.WithTimeout(ctx, audioWriteTimeout)
		err := ws.Write(wctx, websocket.MessageBinary, frame)
		wcancel()
		if err != nil {
			return
		}
	}
}
