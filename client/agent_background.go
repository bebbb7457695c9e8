package client

import (
	"context"
	"net/http"

	"github.com/deskhub/deskhub/api/spawner"
)

// SetBackgroundColor sets the desktop's background colour, #RRGGBB[AA] (POST /setBackgroundColor).
func (a *Agent) SetBackgroundColor(ctx context.Context, color string) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/setBackgroundColor", spawner.SetBackgroundColor{Color: color})
}

// SetBackgroundImage sets an image of the wallpapers folder as background and answers its dominant
// colour (POST /setBackgroundImage).
func (a *Agent) SetBackgroundImage(ctx context.Context, name string) (spawner.BackgroundImage, error) {
	return agentCall[spawner.BackgroundImage](ctx, a, http.MethodPost, "/setBackgroundImage", spawner.SetBackgroundImage{ImgName: name})
}

// SetDefaultImage sets the default background image (POST /setDefaultImage).
func (a *Agent) SetDefaultImage(ctx context.Context) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/setDefaultImage", nil)
}
