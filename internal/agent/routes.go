package agent

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/httpapi"
)

const agentPlan = "issue 5: desktop agent"

// Routes builds the Spawner seed's 22 endpoints, in the seed's order, under prefix ("" for the agent
// itself, "/spawner/{session_id}" for the broker). op chooses the operation of each endpoint from its
// seed name ("GET /version") and the planned default (which carries the request and result types); nil
// keeps every endpoint planned (501). access is who may call them: the broker checks tokens, the agent
// trusts its socket (only the broker reaches it).
func Routes(prefix string, access httpapi.Access, choose func(seed string, planned httpapi.Operation) httpapi.Operation) []httpapi.Route {
	prefix = strings.TrimSuffix(prefix, "/")
	type (
		none = httpapi.Empty
		msg  = string
	)
	r := func(method, seedPath, tag, summary string, op httpapi.Operation) httpapi.Route {
		if choose != nil {
			op = choose(method+" "+seedPath, op)
		}
		return httpapi.Route{
			Surface: httpapi.Agent,
			Methods: []string{method},
			Path:    prefix + seedPath,
			Summary: summary,
			Access:  access,
			Op:      op,
			Tag:     tag,
			Seed:    method + " " + seedPath,
		}
	}
	get, post, put := http.MethodGet, http.MethodPost, http.MethodPut
	return []httpapi.Route{
		r(get, "/version", "system", "Get User container version",
			httpapi.Planned[none, spawner.Version](agentPlan)),
		r(post, "/launch", "apps", "Used to run builtin application process",
			httpapi.Planned[spawner.Launch, spawner.LaunchResult](agentPlan)),
		r(post, "/setAudioQuality", "audio", "Set the audio quality",
			httpapi.Planned[spawner.SetAudioQuality, spawner.ProcessResult](agentPlan)),
		r(post, "/playAudioSample", "audio", "Play a sample audio",
			httpapi.Planned[none, spawner.ProcessResult](agentPlan)),
		r(put, "/configurePulse", "audio", "Configure pulse audio for Janus",
			httpapi.Planned[spawner.ConfigurePulse, msg](agentPlan)),
		r(post, "/broadcastwindowslist", "windows", "Emit a broadcast with window list as data",
			httpapi.Planned[none, msg](agentPlan)),
		r(post, "/clipboardsync", "clipboard", "Synchronize X11 and gtk clipboard",
			httpapi.Planned[none, msg](agentPlan)),
		r(post, "/setDesktop", "store", "Store a data as json file in desktop",
			httpapi.Planned[spawner.SetDesktop, msg](agentPlan)),
		r(get, "/getDesktop", "store", "Get a data stored as json file",
			httpapi.Planned[spawner.GetDesktop, json.RawMessage](agentPlan)),
		r(get, "/getmimeforfile", "files", "Get a mime for a given filename",
			httpapi.Planned[spawner.GetMimeForFile, spawner.FileMatch](agentPlan)),
		r(get, "/filesearch", "files", "Used for list files by dock",
			httpapi.Planned[spawner.FileSearch, []spawner.FileMatch](agentPlan)),
		r(post, "/generateDesktopFiles", "apps", "Build desktop files to run containerized applications",
			httpapi.Planned[spawner.GenerateDesktopFiles, msg](agentPlan)),
		r(get, "/getappforfile", "apps", "Allow to get the app necessary",
			httpapi.Planned[spawner.GetAppForFile, []spawner.AppForFile](agentPlan)),
		r(get, "/about", "system", "Get system informations",
			httpapi.Planned[none, spawner.About](agentPlan)),
		r(get, "/getSettings", "system", "Get configuration for settings window",
			httpapi.Planned[none, []spawner.SettingTab](agentPlan)),
		r(post, "/setBackgroundColor", "background", "Change the background color",
			httpapi.Planned[spawner.SetBackgroundColor, msg](agentPlan)),
		r(post, "/setBackgroundImage", "background", "Set the background image",
			httpapi.Planned[spawner.SetBackgroundImage, spawner.BackgroundImage](agentPlan)),
		r(post, "/setDefaultImage", "background", "Set the default image as background",
			httpapi.Planned[none, msg](agentPlan)),
		r(get, "/getwindowslist", "windows", "Get window list",
			httpapi.Planned[none, []spawner.Window](agentPlan)),
		r(post, "/activatewindows", "windows", "Activate windows",
			httpapi.Planned[spawner.WindowIDs, msg](agentPlan)),
		r(post, "/closewindows", "windows", "Close windows",
			httpapi.Planned[spawner.WindowIDs, msg](agentPlan)),
		r(post, "/placeAllWindows", "windows", "Place and resize all windows",
			httpapi.Planned[none, msg](agentPlan)),
	}
}
