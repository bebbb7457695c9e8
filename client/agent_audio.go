package client

import (
	"context"
	"net/http"

	"github.com/deskhub/deskhub/api/spawner"
)

// SetAudioQuality makes a PulseAudio sink the default (POST /setAudioQuality).
func (a *Agent) SetAudioQuality(ctx context.Context, sink string) (spawner.ProcessResult, error) {
	return agentCall[spawner.ProcessResult](ctx, a, http.MethodPost, "/setAudioQuality", spawner.SetAudioQuality{Sink: sink})
}

// PlayAudioSample plays a sample sound in the desktop (POST /playAudioSample).
func (a *Agent) PlayAudioSample(ctx context.Context) (spawner.ProcessResult, error) {
	return agentCall[spawner.ProcessResult](ctx, a, http.MethodPost, "/playAudioSample", nil)
}

// ConfigurePulse sends the desktop's sound as RTP to ip:port (PUT /configurePulse).
func (a *Agent) ConfigurePulse(ctx context.Context, ip, port string) (string, error) {
	return agentCall[string](ctx, a, http.MethodPut, "/configurePulse", spawner.ConfigurePulse{DestinationIP: ip, Port: port})
}
