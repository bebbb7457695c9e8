package client

import (
	"context"
	"net/http"

	"github.com/deskhub/deskhub/api/spawner"
)

// Launch starts one of the desktop's known applications (POST /launch).
func (a *Agent) Launch(ctx context.Context, command string, args ...string) (spawner.LaunchResult, error) {
	return agentCall[spawner.LaunchResult](ctx, a, http.MethodPost, "/launch", spawner.Launch{Command: command, Args: args})
}

// GenerateDesktopFiles writes desktop entries for applications (POST /generateDesktopFiles).
func (a *Agent) GenerateDesktopFiles(ctx context.Context, list []spawner.DesktopFile) (string, error) {
	return agentCall[string](ctx, a, http.MethodPost, "/generateDesktopFiles", spawner.GenerateDesktopFiles{List: list})
}

// AppsForFile lists the applications that open filename (GET /getappforfile).
func (a *Agent) AppsForFile(ctx context.Context, filename string) ([]spawner.AppForFile, error) {
	return agentCall[[]spawner.AppForFile](ctx, a, http.MethodGet, "/getappforfile", spawner.GetAppForFile{Filename: filename})
}

// MimeForFile answers the MIME type of a file (GET /getmimeforfile).
func (a *Agent) MimeForFile(ctx context.Context, filename string) (spawner.FileMatch, error) {
	return agentCall[spawner.FileMatch](ctx, a, http.MethodGet, "/getmimeforfile", spawner.GetMimeForFile{Filename: filename})
}

// FileSearch lists the files of the home directory matching keywords, at most maxFile (0: the agent's
// default, 64) (GET /filesearch).
func (a *Agent) FileSearch(ctx context.Context, keywords string, maxFile int) ([]spawner.FileMatch, error) {
	req := spawner.FileSearch{Keywords: keywords}
	if maxFile > 0 {
		req.MaxFile = &maxFile
	}
	return agentCall[[]spawner.FileMatch](ctx, a, http.MethodGet, "/filesearch", req)
}
