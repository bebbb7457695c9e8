package agent

import (
	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/httpapi"
)

const agentPlan = "issue 5: desktop agent"

// handler is one of the agent's operations bound to its endpoint of the Spawner table.
type handler struct {
	spec spawner.Spec
	op   httpapi.Operation
}

// bind binds fn to the endpoint e; the compiler checks fn's request and result types against the table.
func bind[Req, Resp any](e spawner.Endpoint[Req, Resp], fn func(*httpapi.Call, *Req) (Resp, error)) handler {
	return handler{spec: e.Spec, op: httpapi.Op(fn)}
}

// handlers are the endpoints this agent implements, in the seed's order.
func (a *Agent) handlers() []handler {
	return []handler{
		bind(spawner.VersionEndpoint, a.version),
		bind(spawner.LaunchEndpoint, a.launch),
		bind(spawner.SetAudioQualityEndpoint, a.setAudioQuality),
		bind(spawner.PlayAudioSampleEndpoint, a.playAudioSample),
		bind(spawner.ConfigurePulseEndpoint, a.configurePulse),
		bind(spawner.BroadcastWindowsListEndpoint, a.broadcast),
		bind(spawner.ClipboardSyncEndpoint, a.clipboardSync),
		bind(spawner.SetDesktopEndpoint, a.setDesktop),
		bind(spawner.GetDesktopEndpoint, a.getDesktop),
		bind(spawner.GetMimeForFileEndpoint, a.mimeForFile),
		bind(spawner.FileSearchEndpoint, a.fileSearch),
		bind(spawner.GenerateDesktopFilesEndpoint, a.generateDesktopFiles),
		bind(spawner.GetAppForFileEndpoint, a.appsForFile),
		bind(spawner.AboutEndpoint, a.about),
		bind(spawner.GetSettingsEndpoint, a.settings),
		bind(spawner.SetBackgroundColorEndpoint, a.setBackgroundColor),
		bind(spawner.SetBackgroundImageEndpoint, a.setBackgroundImage),
		bind(spawner.SetDefaultImageEndpoint, a.setDefaultImage),
		bind(spawner.GetWindowsListEndpoint, a.windows),
		bind(spawner.ActivateWindowsEndpoint, a.activate),
		bind(spawner.CloseWindowsEndpoint, a.closeWindows),
		bind(spawner.PlaceAllWindowsEndpoint, a.tile),
	}
}

// routes is the agent's route table: the Spawner endpoints served at "/" with the given handlers; an
// endpoint without one stays planned (501).
func routes(hs []handler) []httpapi.Route {
	ops := make(map[spawner.Spec]httpapi.Operation, len(hs))
	for _, h := range hs {
		ops[h.spec] = h.op
	}
	return httpapi.SpawnerRoutes("", httpapi.Public, func(e spawner.AnyEndpoint) httpapi.Operation {
		if op, ok := ops[e.Describe()]; ok {
			return op
		}
		req, resp := e.Types()
		return httpapi.Operation{Req: req, Resp: resp, Planned: agentPlan}
	})
}
