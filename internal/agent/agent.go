// Package agent is the desktop agent (`deskhub agent`): it runs inside each desktop and serves the
// Spawner API (windows, clipboard, audio, files, wallpaper, settings) on a unix socket that only the
// broker reaches. The endpoints are typed once in api/spawner; routes.go binds the agent's handlers to
// them, and the broker proxies the same table at /spawner/{session_id}/….
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/text/language"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/files"
	"github.com/deskhub/deskhub/internal/apidoc"
	"github.com/deskhub/deskhub/internal/buildinfo"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// Options configure an Agent.
type Options struct {
	// Display is the X display of the desktop (":100").
	Display string
	// Home is the desktop user's home; file access is confined to it.
	Home string
	Log  *slog.Logger
	// ProbeTimeout bounds the checks of PulseAudio and CUPS (default 2 s).
	ProbeTimeout time.Duration
	// XAuthority is the X cookie file of the display (default $XAUTHORITY).
	XAuthority string
	// Wallpapers holds the images setBackgroundImage may use (default /usr/share/deskhub/wallpapers).
	Wallpapers string
	// Apps are programs launch may start besides the desktop's application entries.
	Apps []string
	// Idle, if set, runs once start-up has settled (StartSettle after Serve starts) and then IdleAfter
	// after the last request of each burst: where `deskhub agent` hands back memory it no longer uses.
	Idle func()
	// StartSettle and IdleAfter time Idle (defaults 1 s and 30 s).
	StartSettle, IdleAfter time.Duration
}

// Agent serves the Spawner API for one desktop.
type Agent struct {
	o      Options
	build  buildinfo.Info
	mux    *httpapi.Mux
	x      *xconn
	events *hub
	// ctx lives as long as the agent serves (clipboard ownership outlives the request).
	ctx    context.Context
	cancel context.CancelFunc

	audio pulse

	mimeOnce sync.Once
	mimeDB   *files.MIME
	mimeErr  error
}

// New returns an Agent.
func New(o Options) (*Agent, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.ProbeTimeout == 0 {
		o.ProbeTimeout = 2 * time.Second
	}
	if o.Home == "" {
		return nil, errors.New("agent: no home directory")
	}
	if o.XAuthority == "" {
		o.XAuthority = os.Getenv("XAUTHORITY")
	}
	if o.StartSettle == 0 {
		o.StartSettle = time.Second
	}
	if o.IdleAfter == 0 {
		o.IdleAfter = 30 * time.Second
	}
	if o.Wallpapers == "" {
		o.Wallpapers = "/usr/share/deskhub/wallpapers"
	}
	a := &Agent{o: o, build: buildinfo.Get(), x: &xconn{display: o.Display, xauth: o.XAuthority}, events: newHub()}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.mux = httpapi.NewMux(httpapi.Options{Log: o.Log.With("component", "agent")}, append(append(routes(a.handlers()), a.abcRoutes()...), a.fileRoutes()...))
	a.mux.HandleFunc("GET "+spawner.EventsPath, a.serveEvents)
	a.mux.HandleFunc("GET "+spawner.AudioPath, a.serveAudio)
	// The OpenAPI document is built on its first request, not here: building it allocates a few MiB that
	// an idle agent (one per desktop) would otherwise keep as heap it never returns.
	routes := a.mux.Routes()
	openapi := sync.OnceValues(func() ([]byte, error) {
		doc, err := apidoc.Build(apidoc.Info{Title: "deskhub agent", Version: a.build.Version,
			Description: "The desktop agent (Spawner v1) as it serves itself inside a desktop; the broker proxies the same endpoints at /spawner/{session_id}/…"}, routes)
		if err != nil {
			return nil, err
		}
		return apidoc.JSON(doc)
	})
	a.mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		b, err := openapi()
		if err != nil {
			httpapi.WriteError(w, httpapi.Agent, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})
	a.mux.HandleUnknown("/", httpapi.Agent)
	return a, nil
}

// Close drops the X connection and ends clipboard ownership.
func (a *Agent) Close() {
	a.cancel()
	a.x.close()
	if a.audio.p != nil {
		_ = a.audio.p.Close()
	}
}

// Handler serves the API.
func (a *Agent) Handler() http.Handler { return a.mux }

// Serve answers on ln until ctx ends.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	var h http.Handler = a.mux
	if a.o.Idle != nil {
		// A fired AfterFunc timer runs again when Reset: each request re-arms it.
		idle := time.AfterFunc(a.o.StartSettle, a.o.Idle)
		defer idle.Stop()
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			idle.Reset(a.o.IdleAfter)
			a.mux.ServeHTTP(w, r)
		})
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go a.watchWindows(ctx)
	go func() {
		<-ctx.Done()
		a.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (a *Agent) version(*httpapi.Call, *spawner.Empty) (spawner.Version, error) {
	v := spawner.Version{Commit: a.build.Commit, Version: a.build.Version}
	if t, err := time.Parse(time.RFC3339, a.build.Date); err == nil && !t.IsZero() && t.Year() > 1 {
		v.Date = &t
	}
	return v, nil
}

// about describes the desktop. The orchestrator members stay empty (deskhub has none), and nothing
// secret (tokens, keys, the environment) is ever included.
func (a *Agent) about(c *httpapi.Call, _ *spawner.Empty) (spawner.About, error) {
	host, _ := os.Hostname()
	out := spawner.About{Hostname: host, IPAddr: primaryAddr(), Plateform: runtime.GOOS, Arch: runtime.GOARCH,
		Release: kernelRelease(), CPU: cpuModel(), ClientIPAddr: clientAddr(c.R),
		Build: a.build.Version + " (" + a.build.Commit + ")"}
	if tags, _, err := language.ParseAcceptLanguage(c.R.Header.Get("Accept-Language")); err == nil && len(tags) > 0 {
		base, _ := tags[0].Base()
		region, _ := tags[0].Region()
		out.Language = base.String()
		if region.String() != "ZZ" {
			out.Country = region.String()
		}
	}
	return out, nil
}

// clientAddr is the browser's address as the broker forwards it (X-Forwarded-For, first entry), else
// the peer's.
func clientAddr(r *http.Request) string {
	if f := r.Header.Get("X-Forwarded-For"); f != "" {
		first, _, _ := strings.Cut(f, ",")
		if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

func primaryAddr() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	fallback := ""
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
		if fallback == "" {
			fallback = ipn.IP.String()
		}
	}
	return fallback
}

func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var b strings.Builder
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b.WriteByte(byte(c))
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// settings lists the settings tabs that work here: audio when the session's PulseAudio answers,
// printers when CUPS answers.
func (a *Agent) settings(c *httpapi.Call, _ *spawner.Empty) ([]spawner.SettingTab, error) {
	tabs := []spawner.SettingTab{}
	if p, err := a.pulse(c.Ctx); err == nil && p.Available(c.Ctx) {
		tabs = append(tabs, spawner.SettingTab{Tab: "audio", Enabled: true})
	}
	if a.probe(c.Ctx, "lpstat", "-r") == nil {
		tabs = append(tabs, spawner.SettingTab{Tab: "printers", Enabled: true})
	}
	return tabs, nil
}

// probe runs a status command (no shell) with the desktop's environment and a timeout.
func (a *Agent) probe(ctx context.Context, name string, args ...string) error {
	path, err := exec.LookPath(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, a.o.ProbeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "DISPLAY="+a.o.Display, "HOME="+a.o.Home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	if name == "lpstat" && !strings.Contains(string(out), "is running") {
		return errors.New("cups is not running")
	}
	return nil
}
