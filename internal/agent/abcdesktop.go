package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/x11"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// abcdesktop's forms of the agent's endpoints (api/spawner/abcdesktop.go), served under
// spawner.AbcdesktopPrefix: the answers abcdesktop's spawner-service gives, which its browser code
// reads. The broker's /spawner/<endpoint> routes come here.

// abcHandlers binds the endpoints the agent serves in abcdesktop's form.
func (a *Agent) abcHandlers() map[string]httpapi.Operation {
	return map[string]httpapi.Operation{
		"/launch":               httpapi.Op(a.abcLaunch),
		"/setAudioQuality":      httpapi.Op(a.abcSetAudioQuality),
		"/configurePulse":       httpapi.Op(a.abcConfigurePulse),
		"/getmimeforfile":       bareOp(a.abcMimeForFile),
		"/generateDesktopFiles": httpapi.Op(a.abcGenerateDesktopFiles),
		"/getappforfile":        httpapi.Op(a.abcAppForFile),
		"/about":                bareOp(a.abcAbout),
		"/getSettings":          httpapi.Op(a.abcSettings),
		"/getwindowslist":       httpapi.Op(a.abcWindows),
		"/getenv":               bareOp(a.abcGetenv),
		"/isPulseAvailable":     bareOp(a.abcPulseAvailable),
		"/setTheme":             httpapi.Op(a.abcSetTheme),
	}
}

// abcRoutes are the routes of abcdesktop's forms.
func (a *Agent) abcRoutes() []httpapi.Route {
	ops := a.abcHandlers()
	var out []httpapi.Route
	for _, e := range spawner.AbcdesktopEndpoints() {
		if !e.Own {
			continue
		}
		op, ok := ops[e.Path]
		if !ok {
			panic("agent: no handler for abcdesktop's " + e.Path)
		}
		out = append(out, httpapi.Route{Surface: httpapi.Agent, Methods: []string{e.Method}, Path: spawner.AbcdesktopPrefix + e.Path,
			Summary: e.Summary + " (abcdesktop's form)", Access: httpapi.Public, Op: op, Tag: e.Tag, Bare: e.Bare})
	}
	return out
}

// bareOp is an operation whose answer is its result itself, without the {code, data} envelope
// (abcdesktop's about, getenv, isPulseAvailable, getmimeforfile); errors keep the envelope.
func bareOp[Req, Resp any](fn func(c *httpapi.Call, r *Req) (Resp, error)) httpapi.Operation {
	op := httpapi.RawOp[Req, Resp](func(c *httpapi.Call) error {
		r := new(Req)
		if err := httpapi.Decode(c, r); err != nil {
			return err
		}
		out, err := fn(c, r)
		if err != nil {
			return err
		}
		c.W.Header().Set("Content-Type", "application/json")
		return json.NewEncoder(c.W).Encode(out)
	})
	op.Document = true
	return op
}

func (a *Agent) abcLaunch(c *httpapi.Call, r *spawner.AbcLaunch) (spawner.AbcLaunchResult, error) {
	pid, line, err := a.start(c, r.Command, r.Args)
	if err != nil {
		return spawner.AbcLaunchResult{}, err
	}
	return spawner.AbcLaunchResult{Command: line[0], Args: line[1:], Pid: pid}, nil
}

// abcSink is one of abcdesktop's sink names: format (u, s, alaw, ulaw), bits, channels, rate, e.g.
// ulaw8_1_8000 or s16_1_44100 (webModules speaker/httpProtocol/wavplayer.js mkWavPlayerSink).
var abcSink = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(u|s|alaw|ulaw)(8|16|24|32)_([12])_([0-9]{4,6})$`) })

// abcSetAudioQuality makes the sink the default, making one of abcdesktop's sinks (a null sink of its
// format, channels and rate) when the desktop has none of that name.
func (a *Agent) abcSetAudioQuality(c *httpapi.Call, r *spawner.SetAudioQuality) (spawner.AbcProcess, error) {
	p, err := a.pulse(c.Ctx)
	if err != nil {
		return spawner.AbcProcess{}, err
	}
	if m := abcSink().FindStringSubmatch(r.Sink); m != nil {
		sinks, err := p.Sinks(c.Ctx)
		if err != nil {
			return spawner.AbcProcess{}, err
		}
		if !contains(sinks, r.Sink) {
			format := map[string]string{"u": "u8", "s": "s" + m[2] + "le", "alaw": "alaw", "ulaw": "ulaw"}[m[1]]
			if err := p.LoadNullSink(c.Ctx, r.Sink, format, m[3], m[4]); err != nil {
				return spawner.AbcProcess{}, err
			}
		}
	}
	if err := p.SetDefaultSink(c.Ctx, r.Sink); err != nil {
		return spawner.AbcProcess{}, audioErr(err)
	}
	return spawner.AbcProcess{Command: "pactl", Args: []string{"set-default-sink", r.Sink}}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *Agent) abcConfigurePulse(c *httpapi.Call, r *spawner.AbcConfigurePulse) (spawner.AbcPulseConfigured, error) {
	if _, err := a.configurePulse(c, &spawner.ConfigurePulse{DestinationIP: r.DestinationIP, Port: r.PortText()}); err != nil {
		return spawner.AbcPulseConfigured{}, err
	}
	p, _ := a.pulse(c.Ctx)
	return spawner.AbcPulseConfigured{PulseAudioIsConfigured: true, PulseAudioIsAvailable: p != nil && p.Available(c.Ctx)}, nil
}

func (a *Agent) abcMimeForFile(c *httpapi.Call, r *spawner.GetMimeForFile) (string, error) {
	fm, err := a.mimeForFile(c, r)
	return fm.Mime, err
}

func (a *Agent) abcGenerateDesktopFiles(c *httpapi.Call, r *spawner.AbcGenerateDesktopFiles) (string, error) {
	list := make([]spawner.DesktopFile, 0, len(r.List))
	for _, d := range r.List {
		// abcdesktop's launch is the window class (instance.Class); the program is the executable
		// file, else the class's instance.
		program := d.ExecutableFilename
		if program == "" {
			program, _, _ = strings.Cut(d.Launch, ".")
		}
		list = append(list, spawner.DesktopFile{Mimetype: strings.Join(d.Mimetype, ";"), Path: d.Path,
			ExecutableFilename: d.ExecutableFilename, Icon: d.Icon, Name: d.Name, Launch: program})
	}
	if _, err := a.generateDesktopFiles(c, &spawner.GenerateDesktopFiles{List: list}); err != nil {
		return "", err
	}
	return "OK", nil
}

func (a *Agent) abcAppForFile(c *httpapi.Call, r *spawner.GetAppForFile) (spawner.AbcAppForFile, error) {
	apps, err := a.appsForFile(c, r)
	if err != nil {
		return spawner.AbcAppForFile{}, err
	}
	if len(apps) == 0 {
		return spawner.AbcAppForFile{}, httpapi.NotFound("no application of this desktop opens %q", r.Filename)
	}
	args := strings.Fields(apps[0].Args)
	return spawner.AbcAppForFile{Command: apps[0].Command, Args: append([]string{}, args...)}, nil
}

func (a *Agent) abcAbout(c *httpapi.Call, _ *spawner.Empty) (spawner.AbcAbout, error) {
	ab, err := a.about(c, nil)
	if err != nil {
		return spawner.AbcAbout{}, err
	}
	return spawner.AbcAbout{Hostname: ab.Hostname, IPAddr: ab.IPAddr, Platform: runtime.GOOS, Arch: ab.Arch, Release: ab.Release,
		CPU: ab.CPU, ClientIPAddr: ab.ClientIPAddr, Country: ab.Country, Language: ab.Language, Build: ab.Build}, nil
}

func (a *Agent) abcSettings(c *httpapi.Call, _ *spawner.Empty) ([]string, error) {
	tabs, err := a.settings(c, nil)
	out := make([]string, 0, len(tabs))
	for _, t := range tabs {
		if t.Enabled {
			out = append(out, t.Tab)
		}
	}
	return out, err
}

func (a *Agent) abcWindows(*httpapi.Call, *spawner.Empty) ([]spawner.AbcWindow, error) {
	var out []spawner.AbcWindow
	err := a.x.do(func(c *x11.Conn) error {
		ws, err := c.Windows()
		out = abcWindowsOut(ws)
		return err
	})
	return out, err
}

// abcWindowsOut lists windows as abcdesktop does: wm_class is instance.Class.
func abcWindowsOut(ws []x11.Window) []spawner.AbcWindow {
	out := make([]spawner.AbcWindow, 0, len(ws))
	for _, w := range ws {
		class := w.WMClass
		if w.WMInstance != "" {
			class = w.WMInstance + "." + w.WMClass
		}
		out = append(out, spawner.AbcWindow{ID: int64(w.ID), Pid: w.PID, WMClass: class, Title: w.Title, MachineName: w.MachineName})
	}
	return out
}

// abcGetenv answers the allowlisted variables of the desktop's environment (never secrets: tokens,
// keys and the rest stay out whatever the environment holds).
func (a *Agent) abcGetenv(*httpapi.Call, *spawner.Empty) (spawner.AbcEnv, error) {
	env := map[string]string{}
	for _, k := range spawner.GetenvAllowlist {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	return spawner.AbcEnv{Env: env}, nil
}

func (a *Agent) abcPulseAvailable(c *httpapi.Call, _ *spawner.Empty) (spawner.AbcPulseAvailable, error) {
	if p, err := a.pulse(c.Ctx); err == nil && p.Available(c.Ctx) {
		return spawner.AbcPulseAvailable{Status: http.StatusOK, Message: "OK"}, nil
	}
	return spawner.AbcPulseAvailable{Status: http.StatusInternalServerError, Message: "error"}, nil
}

// abcSetTheme remembers the theme in the desktop's store, under "theme" (abcdesktop's spawner-service
// has no such endpoint, though its browser code calls it).
func (a *Agent) abcSetTheme(_ *httpapi.Call, r *spawner.SetTheme) (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	v, _ := json.Marshal(r.Theme)
	return "ok", filesErr("theme", st.Set("theme", v))
}
