package client

// (Not agent_windows.go: that name would build on Windows only.)

import (
	"context"
	"net/http"

	"github.com/deskhub/deskhub/api/spawner"
)

// Windows lists the desktop's windows (GET /getwindowslist).
func (a *Agent) Windows(ctx context.Context) ([]spawner.Window, error) {
	return agentCall[[]spawner.Window](ctx, a, http.MethodGet, "/getwindowslist", nil)
}

// BroadcastWindows pushes the window list to the desktop's event listeners (POST /broadcastwindowslist).
func (a *Agent) BroadcastWindows(ctx context.Context) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/broadcastwindowslist", nil)
}

// ActivateWindows raises and focuses windows (POST /activatewindows).
func (a *Agent) ActivateWindows(ctx context.Context, ids ...int64) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/activatewindows", spawner.WindowIDs{WindowsID: ids})
}

// CloseWindows asks windows to close (POST /closewindows).
func (a *Agent) CloseWindows(ctx context.Context, ids ...int64) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/closewindows", spawner.WindowIDs{WindowsID: ids})
}

// PlaceAllWindows tiles all windows in a grid (POST /placeAllWindows).
func (a *Agent) PlaceAllWindows(ctx context.Context) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/placeAllWindows", nil)
}
