package agent

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/audio"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// The audio endpoints: the desktop's own PulseAudio (started by the agent when none answers, with a
// null sink "deskhub"), its default sink, a test tone, and an RTP sender.

type pulse struct {
	once sync.Once
	p    *audio.Pulse
	err  error
}

// pulse starts (once) or finds the session's PulseAudio.
func (a *Agent) pulse(ctx context.Context) (*audio.Pulse, error) {
	a.audio.once.Do(func() {
		p := &audio.Pulse{Env: []string{"HOME=" + a.o.Home}}
		if p.Available(ctx) {
			a.audio.p = p
			return
		}
		if _, err := exec.LookPath("pulseaudio"); err != nil {
			a.audio.err = errors.New("PulseAudio is not installed in this desktop")
			return
		}
		dir := filepath.Join(a.o.Home, ".cache", "deskhub-pulse")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			a.audio.err = err
			return
		}
		p.Env = append(p.Env, "XDG_RUNTIME_DIR="+dir, "PULSE_SERVER=unix:"+filepath.Join(dir, "pulse", "native"))
		if err := p.EnsureDaemon(a.ctx, dir); err != nil {
			a.audio.err = err
			return
		}
		a.audio.p = p
	})
	if a.audio.err != nil {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "sound is not available in this desktop", Err: a.audio.err}
	}
	return a.audio.p, nil
}

func audioErr(err error) error {
	var unknown *audio.UnknownSinkError
	var bad *audio.BadAddressError
	switch {
	case errors.As(err, &unknown):
		return fault.Memberf("sink", ": no sink %q (sinks: %s)", unknown.Sink, strings.Join(unknown.Sinks, ", "))
	case errors.As(err, &bad):
		field := map[string]string{"ip": "destinationIp", "port": "port"}[bad.Field]
		return fault.Memberf(field, ": %v", err)
	}
	return err
}

func (a *Agent) setAudioQuality(c *httpapi.Call, r *spawner.SetAudioQuality) (spawner.ProcessResult, error) {
	p, err := a.pulse(c.Ctx)
	if err != nil {
		return spawner.ProcessResult{}, err
	}
	if err := p.SetDefaultSink(c.Ctx, r.Sink); err != nil {
		return spawner.ProcessResult{ExitCode: 1}, audioErr(err)
	}
	return spawner.ProcessResult{Output: "default sink: " + r.Sink}, nil
}

func (a *Agent) playAudioSample(c *httpapi.Call, _ *spawner.Empty) (spawner.ProcessResult, error) {
	p, err := a.pulse(c.Ctx)
	if err != nil {
		return spawner.ProcessResult{}, err
	}
	if err := p.PlaySample(c.Ctx); err != nil {
		return spawner.ProcessResult{ExitCode: 1}, err
	}
	a.events.publish(spawner.Event{Type: "speaker.available", Data: true})
	return spawner.ProcessResult{Output: "played a 440 Hz sample"}, nil
}

func (a *Agent) configurePulse(c *httpapi.Call, r *spawner.ConfigurePulse) (string, error) {
	port, err := audio.ParsePort(r.Port)
	if err != nil {
		return "", fault.Memberf("port", ": %v", err)
	}
	if _, err := audio.CheckRTPDestination(r.DestinationIP, port); err != nil {
		return "", audioErr(err)
	}
	p, err := a.pulse(c.Ctx)
	if err != nil {
		return "", err
	}
	msg, err := p.ConfigureRTP(c.Ctx, r.DestinationIP, port)
	return msg, audioErr(err)
}
