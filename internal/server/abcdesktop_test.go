package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/config"
	"github.com/deskhub/deskhub/internal/desktoptoken"
	"github.com/deskhub/deskhub/internal/xauth"
)

// Replays of abcdesktop's browser code (webModules js/launcher.js requestSpawnerAPI and the callers
// of its wrappers, js/broadcastsystem.js), written from its sources: every call it makes, as it makes
// it — fetch('/spawner/' + endpoint) with Content-Type application/json and
// ABCAuthorization: Bearer <token>, parameters in the query of a GET and as the JSON body otherwise
// (none when there are none) — and every member it reads from the answers, which abcdesktop's
// spawner-service (oc.user composer/node/spawner-service) gives. Each call goes through the validating
// harness: /openapi.json and contract/contract.json.

// abcdesktop is the browser code, holding window.od.currentUser.authorization.
type abcdesktop struct {
	t     testing.TB
	h     *harness
	token string
}

// call is requestSpawnerAPI(endPoint, parameters, method).
func (a *abcdesktop) call(endpoint string, params map[string]any, method string) reply {
	a.t.Helper()
	path := "/spawner/" + endpoint
	var body any
	if method == "GET" && params != nil {
		q := url.Values{}
		for k, v := range params {
			q.Set(k, fmt.Sprint(v))
		}
		path += "?" + q.Encode()
	} else if params != nil {
		b, _ := json.Marshal(params)
		body = string(b)
	}
	return a.h.call(method, path, "", body, "Content-Type", "application/json", "ABCAuthorization", "Bearer "+a.token)
}

// ok is call, failing the test unless the answer is 2xx.
func (a *abcdesktop) ok(endpoint string, params map[string]any, method string) reply {
	a.t.Helper()
	r := a.call(endpoint, params, method)
	if r.Status/100 != 2 {
		a.t.Fatalf("abcdesktop %s %s %v: %d %s", method, endpoint, params, r.Status, r.Raw)
	}
	return r
}

// writeWallpaper makes a folder with one PNG the desktops' users can read.
func writeWallpaper(t *testing.T, dir string) string {
	t.Helper()
	wp := filepath.Join(dir, "wallpapers")
	if err := os.MkdirAll(wp, 0o755); err != nil {
		t.Fatal(err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for x := range 16 {
		for y := range 16 {
			img.Set(x, y, color.RGBA{200, 30, 30, 255})
		}
	}
	var b bytes.Buffer
	must(t, png.Encode(&b, img))
	must(t, os.WriteFile(filepath.Join(wp, "red.png"), b.Bytes(), 0o644))
	return wp
}

// agentHome is the --home of the agent of a display.
func agentHome(t *testing.T, bin, display string) string {
	t.Helper()
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", agentPID(t, bin, display)))
	must(t, err)
	args := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
	for i, a := range args {
		if a == "--home" && i+1 < len(args) {
			return args[i+1]
		}
	}
	t.Fatalf("no --home in the agent's command line %q", args)
	return ""
}

// desktopToken asks /v3/api/session/token for a token of session id (with the owner's token, or with
// a share key).
func desktopToken(t testing.TB, h *harness, ownerToken, id, key string) fastx.DesktopToken {
	t.Helper()
	req := map[string]any{"id": id}
	if key != "" {
		req["key"] = key
	}
	r := h.call("POST", "/v3/api/session/token", ownerToken, req)
	if r.Status != 200 {
		t.Fatalf("session/token: %d %s", r.Status, r.Raw)
	}
	var out struct{ Result fastx.DesktopToken }
	must(t, json.Unmarshal([]byte(r.Raw), &out))
	return out.Result
}

// TestAbcdesktop replays abcdesktop's browser code against a desktop: every call launcher.js makes and
// every member its callers read; /broadcast; and the seed's route /spawner/{session_id}/… for every
// endpoint, which keeps answering per the seed.
func TestAbcdesktop(t *testing.T) {
	bin := agentBinary(t)
	var wp string
	h := desktopHarness(t, func(c *config.Config, _ *Options) {
		wp = writeWallpaper(t, c.DataDir)
		c.Sessions.AgentCommand = []string{bin, "agent", "--wallpapers", wp}
	})
	ownerTok := h.user("abby", false)
	owner := h.client(ownerTok)
	ctx := context.Background()
	conn, err := owner.StartSession(ctx, fastx.StartRequest{Command: "xterm"})
	must(t, err)
	id := conn.ID
	waitFor(t, "the agent", func() bool { _, err := owner.Agent(id).Version(ctx); return err == nil })
	waitFor(t, "the xterm window", func() bool {
		wl, err := owner.Agent(id).Windows(ctx)
		return err == nil && len(wl) > 0
	})
	list, err := owner.ListSessions(ctx, fastx.ListRequest{})
	must(t, err)
	home := agentHome(t, bin, list[0].Display)
	var st syscall.Stat_t
	must(t, syscall.Stat(home, &st))
	must(t, os.WriteFile(filepath.Join(home, "notes.txt"), []byte("hello\n"), 0o644))
	must(t, os.Chown(filepath.Join(home, "notes.txt"), int(st.Uid), int(st.Gid)))

	ownPrimary(t, bin, list[0].Display, "copied by the test")
	dt := desktopToken(t, h, ownerTok, id, "")
	if dt.Role != desktoptoken.Owner || dt.Session != id || !strings.HasPrefix(dt.Token, desktoptoken.Prefix) ||
		dt.Expires.After(time.Now().Add(h.s.cfg.DesktopTokenTTL+time.Minute)) {
		t.Fatalf("desktop token: %+v", dt)
	}
	a := &abcdesktop{t: t, h: h, token: dt.Token}

	t.Run("launcher", func(t *testing.T) {
		a.t, a.h = t, h.with(t)
		// getSpawnerVersion: const { data } = await requestSpawnerAPI('version', null, 'GET'); the
		// settings show data.date and data.version.
		v := a.ok("version", nil, "GET")
		if v.get("code") != 200.0 || v.str("data", "version") == "" {
			t.Fatalf("version: %s", v.Raw)
		}
		// about: systemStart.js walks the keys of the object itself.
		ab := a.ok("about", nil, "GET")
		for _, k := range []string{"hostname", "ipaddr", "platform", "arch", "release", "cpu", "clientipaddr", "country", "language", "build"} {
			if _, ok := ab.Body[k]; !ok {
				t.Fatalf("about: no %s: %s", k, ab.Raw)
			}
		}
		if ab.Body["code"] != nil || ab.str("clientipaddr") != "192.0.2.10" {
			t.Fatalf("about is not the bare object abcdesktop answers: %s", ab.Raw)
		}
		// getenv: upload.js, screenColor.js, clipboard.js read data.env.ABCDESKTOP_SERVICE_filer,
		// ACCEPTCUTTEXT, SENDCUTTEXT — and nothing else leaves the desktop.
		env := a.ok("getenv", nil, "GET")
		e, ok := env.Body["env"].(map[string]any)
		if !ok {
			t.Fatalf("getenv: %s", env.Raw)
		}
		for k := range e {
			if !slicesContains([]string{"ABCDESKTOP_SERVICE_filer", "ACCEPTCUTTEXT", "SENDCUTTEXT", "LANG", "LANGUAGE", "TZ"}, k) {
				t.Fatalf("getenv reveals %s", k)
			}
		}
		// isPulseAvailable: speaker/main.js reads res.status (before PulseAudio runs: 500 or 200).
		if pa := a.ok("isPulseAvailable", nil, "GET"); pa.get("status") == nil || pa.str("message") == "" {
			t.Fatalf("isPulseAvailable: %s", pa.Raw)
		}
		// getwindowslist: systemmenu.js reads data[].id, title, wm_class (instance.Class).
		wl := a.ok("getwindowslist", nil, "GET")
		w0, _ := wl.get("data", 0).(map[string]any)
		if w0 == nil || w0["wm_class"] != "xterm.XTerm" || w0["id"] == nil {
			t.Fatalf("getwindowslist: %s", wl.Raw)
		}
		xtermID := int64(w0["id"].(float64))
		// activatewindows([Number(id)]), placeAllWindows(), broadcastwindowslist(), clipboardsync().
		a.ok("activatewindows", map[string]any{"windowsid": []int64{xtermID}}, "POST")
		for _, ep := range []string{"placeAllWindows", "broadcastwindowslist", "clipboardsync"} {
			if r := a.ok(ep, nil, "POST"); r.get("code") != 200.0 {
				t.Fatalf("%s: %s", ep, r.Raw)
			}
		}
		// launch(app, arg): options = {command: app}, args only when arg !== ''; msgevent.code, data.
		l := a.ok("launch", map[string]any{"command": "xterm.XTerm"}, "POST")
		if l.get("code") != 200.0 || l.get("data", "pid") == nil {
			t.Fatalf("launch: %s", l.Raw)
		}
		a.ok("launch", map[string]any{"command": "xterm.XTerm", "args": "-iconic"}, "POST")
		if r := a.call("launch", map[string]any{"command": "sh.Sh"}, "POST"); r.Status != 400 || r.get("code") != 400.0 {
			t.Fatalf("launch of a program not of the desktop: %d %s", r.Status, r.Raw)
		}
		// speaker/httpProtocol: setAudioQuality(mkWavPlayerSink(…)), playAudioSample().
		for _, sink := range []string{"ulaw8_1_8000", "s16_1_44100"} {
			if r := a.ok("setAudioQuality", map[string]any{"sink": sink}, "POST"); r.str("data", "command") != "pactl" {
				t.Fatalf("setAudioQuality %s: %s", sink, r.Raw)
			}
		}
		a.ok("playAudioSample", nil, "POST")
		if pa := a.ok("isPulseAvailable", nil, "GET"); pa.get("status") != 200.0 {
			t.Fatalf("isPulseAvailable while PulseAudio runs: %s", pa.Raw)
		}
		// getSettings: settings.js keeps res.data (tab names) when res.code === 200.
		gs := a.ok("getSettings", nil, "GET")
		if gs.get("code") != 200.0 || !strings.Contains(gs.Raw, `"audio"`) {
			t.Fatalf("getSettings: %s", gs.Raw)
		}
		// configurePulse(destinationIp, port).
		cp := a.ok("configurePulse", map[string]any{"destinationIp": "127.0.0.1", "port": 5004}, "PUT")
		if cp.get("data", "pulseAudioIsConfigured") != true {
			t.Fatalf("configurePulse: %s", cp.Raw)
		}
		// screenColor.js: setDesktop('currentColor', color), setBackgroundCanvasColor(color),
		// setBackgroundImage(image) = setDesktop('currentImg', image) + setBackgroundImage {imgName},
		// then ({ data: { color } }); getDesktop('currentImg') → { code, data }.
		a.ok("setDesktop", map[string]any{"key": "currentColor", "value": "#336699"}, "POST")
		a.ok("setBackgroundColor", map[string]any{"color": "#336699"}, "POST")
		a.ok("setDesktop", map[string]any{"key": "currentImg", "value": "red.png"}, "POST")
		bi := a.ok("setBackgroundImage", map[string]any{"imgName": "red.png"}, "POST")
		if !strings.HasPrefix(bi.str("data", "color"), "#") {
			t.Fatalf("setBackgroundImage: %s", bi.Raw)
		}
		if gd := a.ok("getDesktop", map[string]any{"key": "currentImg"}, "GET"); gd.get("code") != 200.0 || gd.str("data") != "red.png" {
			t.Fatalf("getDesktop: %s", gd.Raw)
		}
		a.ok("setDefaultImage", nil, "POST")
		a.ok("setTheme", map[string]any{"theme": "dark"}, "POST")
		// scripts.js: generateDesktopFiles(window.od.applist), applist entries as abcdesktop's API
		// gives them.
		gd := a.ok("generateDesktopFiles", map[string]any{"list": []map[string]any{{"id": "xterm", "launch": "xterm.XTerm", "name": "Terminal",
			"icon": "xterm.svg", "icondata": "PHN2Zy8+", "path": "/usr/bin/xterm", "executablefilename": "xterm",
			"mimetype": []string{"text/plain"}, "execmode": "builtin", "displayname": "Terminal", "cat": "utilities"}}}, "POST")
		if gd.get("code") != 200.0 {
			t.Fatalf("generateDesktopFiles: %s", gd.Raw)
		}
		// getappforfile({filename}, 'GET'); search.js: filesearch(keywords) → ({ data: files }) with
		// file.file and file.mime; getmimeforfile answers the type itself.
		af := a.ok("getappforfile", map[string]any{"filename": "notes.txt"}, "GET")
		if af.str("data", "command") == "" {
			t.Fatalf("getappforfile: %s", af.Raw)
		}
		fs := a.ok("filesearch", map[string]any{"keywords": "notes"}, "GET")
		if fs.str("data", 0, "mime") != "text/plain" || !strings.HasSuffix(fs.str("data", 0, "file"), "notes.txt") {
			t.Fatalf("filesearch: %s", fs.Raw)
		}
		if mt := a.ok("getmimeforfile", map[string]any{"filename": "notes.txt"}, "GET"); strings.TrimSpace(mt.Raw) != `"text/plain"` {
			t.Fatalf("getmimeforfile: %s", mt.Raw)
		}
		// closewindows(windowsid): a launched window (closing the session's own xterm would end it).
		var launchedID int64
		waitFor(t, "a launched window", func() bool {
			for _, w := range a.ok("getwindowslist", nil, "GET").get("data").([]any) {
				if id := int64(w.(map[string]any)["id"].(float64)); id != xtermID {
					launchedID = id
					return true
				}
			}
			return false
		})
		a.ok("closewindows", map[string]any{"windowsid": []int64{launchedID}}, "POST")
	})
	a.t, a.h = t, h

	t.Run("broadcast", func(t *testing.T) {
		h := h.with(t)
		a := &abcdesktop{t: t, h: h, token: dt.Token}
		// broadcastsystem.js: new WebSocket(getwsurl('/broadcast?jwt_token=' + authorization)); onopen
		// sends {method: 'hello', user}; process_event reads msg.method and msg.data (window.list: the
		// windows; proc.started: the process).
		u := strings.Replace(h.url(), "http://", "ws://", 1) + "/broadcast?jwt_token=" + url.QueryEscape(dt.Token)
		bctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(bctx, u, nil)
		must(t, err)
		defer ws.CloseNow()
		must(t, ws.Write(bctx, websocket.MessageText, []byte(`{"method":"hello","user":{"userid":"abby"}}`)))
		seen := map[string]bool{}
		launched := false
		for !(seen["hello"] && seen["window.list"] && seen["proc.started"]) {
			_, b, err := ws.Read(bctx)
			if err != nil {
				t.Fatalf("broadcast: %v (seen %v)", err, seen)
			}
			var m struct {
				Method string          `json:"method"`
				Data   json.RawMessage `json:"data"`
				User   json.RawMessage `json:"user"`
			}
			must(t, json.Unmarshal(b, &m))
			seen[m.Method] = true
			if m.Method == "hello" && !strings.Contains(string(m.User), "abby") {
				t.Fatalf("hello: %s", b)
			}
			if m.Method == "window.list" && !launched {
				launched = true
				a.ok("launch", map[string]any{"command": "xterm.XTerm"}, "POST")
			}
		}
		// Without a token, or with another's, no socket.
		if _, _, err := websocket.Dial(bctx, strings.Replace(h.url(), "http://", "ws://", 1)+"/broadcast?jwt_token=dhd_nope", nil); err == nil {
			t.Fatal("broadcast opened with a wrong token")
		}
	})

	t.Run("seed route", func(t *testing.T) {
		h := h.with(t)
		// /spawner/{session_id}/… with deskhub's auth keeps answering per the seed, every endpoint.
		base := "/spawner/" + id
		call := func(method, path string, body any) reply {
			t.Helper()
			r := h.call(method, base+path, ownerTok, body)
			if r.Status != 200 || r.get("code") != 200.0 {
				t.Fatalf("%s %s: %d %s", method, path, r.Status, r.Raw)
			}
			return r
		}
		call("GET", "/version", nil)
		wl := call("GET", "/getwindowslist", nil)
		if wc := wl.str("data", 0, "wm_class"); wc != "XTerm" {
			t.Fatalf("the seed's wm_class is the class: %s", wl.Raw)
		}
		first := int64(wl.get("data", 0, "id").(float64))
		call("POST", "/launch", map[string]any{"command": "xterm", "args": []string{"-iconic"}})
		var win int64
		waitFor(t, "a launched window", func() bool {
			for _, w := range call("GET", "/getwindowslist", nil).get("data").([]any) {
				if id := int64(w.(map[string]any)["id"].(float64)); id != first {
					win = id
					return true
				}
			}
			return false
		})
		call("POST", "/setAudioQuality", map[string]any{"sink": "deskhub"})
		call("POST", "/playAudioSample", nil)
		call("PUT", "/configurePulse", map[string]any{"destinationIp": "127.0.0.1", "port": "5004"})
		call("POST", "/broadcastwindowslist", nil)
		call("POST", "/clipboardsync", nil)
		call("POST", "/setDesktop", map[string]any{"key": "k", "value": map[string]int{"a": 1}})
		call("GET", "/getDesktop?key=k", nil)
		call("GET", "/getmimeforfile?filename=notes.txt", nil)
		call("GET", "/filesearch?keywords=notes", nil)
		call("POST", "/generateDesktopFiles", map[string]any{"list": []map[string]string{{"name": "Clock", "launch": "xclock", "icon": "xclock",
			"executablefilename": "clock", "mimetype": "text/plain"}}})
		call("GET", "/getappforfile?filename=notes.txt", nil)
		if ab := call("GET", "/about", nil); ab.str("data", "plateform") == "" {
			t.Fatalf("the seed's about: %s", ab.Raw)
		}
		if gs := call("GET", "/getSettings", nil); gs.get("data", 0, "tab") == nil {
			t.Fatalf("the seed's getSettings: %s", gs.Raw)
		}
		call("POST", "/setBackgroundColor", map[string]any{"color": "#112233"})
		call("POST", "/setBackgroundImage", map[string]any{"imgName": "red.png"})
		call("POST", "/setDefaultImage", nil)
		call("POST", "/activatewindows", map[string]any{"windowsid": []int64{win}})
		call("POST", "/placeAllWindows", nil)
		call("POST", "/closewindows", map[string]any{"windowsid": []int64{win}})
		// The seed's route takes deskhub's auth, not a desktop token.
		if r := h.call("GET", base+"/version", "", nil, "ABCAuthorization", "Bearer "+dt.Token); r.Status != 401 {
			t.Fatalf("a desktop token on the seed's route: %d", r.Status)
		}
	})

	t.Run("roles and scope", func(t *testing.T) {
		h := h.with(t)
		// A viewer's token reads, and may not write, on either route; a granter's writes.
		vk, err := owner.CreateShare(ctx, id, "viewer")
		must(t, err)
		vt := desktopToken(t, h, "", id, vk.Key)
		if vt.Role != desktoptoken.Viewer {
			t.Fatalf("viewer token: %+v", vt)
		}
		viewer := &abcdesktop{t: t, h: h, token: vt.Token}
		for _, ep := range []string{"version", "getwindowslist", "getSettings", "about", "getenv", "isPulseAvailable"} {
			viewer.ok(ep, nil, "GET")
		}
		for _, c := range []struct {
			ep, method string
			params     map[string]any
		}{{"launch", "POST", map[string]any{"command": "xterm"}}, {"setDesktop", "POST", map[string]any{"key": "k", "value": "v"}},
			{"getDesktop", "GET", map[string]any{"key": "k"}}, {"closewindows", "POST", map[string]any{"windowsid": []int{1}}},
			{"placeAllWindows", "POST", nil}, {"setTheme", "POST", map[string]any{"theme": "x"}}, {"filesearch", "GET", map[string]any{"keywords": "notes"}},
			{"configurePulse", "PUT", map[string]any{"destinationIp": "127.0.0.1", "port": 5004}}, {"setAudioQuality", "POST", map[string]any{"sink": "deskhub"}}} {
			if r := viewer.call(c.ep, c.params, c.method); r.Status != 403 || r.get("code") != 403.0 {
				t.Fatalf("a viewer's %s: %d %s", c.ep, r.Status, r.Raw)
			}
		}
		if r := h.call("POST", "/spawner/"+id+"/placeAllWindows", h.user("vic", false), nil, "X-Share-Key", vk.Key); r.Status != 403 {
			t.Fatalf("a viewer key on the seed's route: %d", r.Status)
		}
		gk, err := owner.CreateShare(ctx, id, "granter")
		must(t, err)
		gt := desktopToken(t, h, "", id, gk.Key)
		granter := &abcdesktop{t: t, h: h, token: gt.Token}
		if gt.Role != desktoptoken.Granter {
			t.Fatalf("granter token: %+v", gt)
		}
		granter.ok("placeAllWindows", nil, "POST")

		// Deleting the share key ends its tokens.
		_, err = owner.ResetShares(ctx, id)
		must(t, err)
		if r := viewer.call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("a viewer token after its key went: %d", r.Status)
		}
		if r := granter.call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("a granter token after its key went: %d", r.Status)
		}

		// A desktop token is no deskhub token: every other surface refuses it.
		for _, c := range []struct{ method, path string }{{"POST", "/api/v1/user.get"}, {"GET", "/v3/api/user/profile"},
			{"GET", "/spawner/" + id + "/version"}, {"POST", "/v3/api/session/list"}} {
			if r := h.call(c.method, c.path, dt.Token, `{}`); r.Status != 401 {
				t.Fatalf("%s %s with a desktop token: %d %s", c.method, c.path, r.Status, r.Raw)
			}
		}
		// It cannot be had for another's session, without a token or a key, or by a stranger.
		other := h.user("zed", false)
		if r := h.call("POST", "/v3/api/session/token", other, map[string]any{"id": id}); r.Status != 404 {
			t.Fatalf("a token of another's session: %d %s", r.Status, r.Raw)
		}
		if r := h.call("POST", "/v3/api/session/token", "", map[string]any{"id": id}); r.Status != 401 {
			t.Fatalf("a token without credentials: %d %s", r.Status, r.Raw)
		}
		if r := h.call("POST", "/v3/api/session/token", "", map[string]any{"id": id, "key": "wrong"}); r.Status != 404 {
			t.Fatalf("a token with a wrong key: %d %s", r.Status, r.Raw)
		}
		// Stored hashed: the secret is nowhere in the store.
		rows, err := h.s.store.ListCodes(ctx, desktoptoken.Purpose, time.Now())
		must(t, err)
		for _, row := range rows {
			if bytes.Contains(row.Hash, []byte(dt.Token)) || strings.Contains(row.Data, dt.Token) {
				t.Fatal("a desktop token is stored in the clear")
			}
		}
	})

	t.Run("revoked and expired", func(t *testing.T) {
		h := h.with(t)
		// Revoked by name: the next call is a 401 and the open broadcast socket ends.
		rt := desktopToken(t, h, ownerTok, id, "")
		u := strings.Replace(h.url(), "http://", "ws://", 1) + "/broadcast?jwt_token=" + url.QueryEscape(rt.Token)
		bctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(bctx, u, nil)
		must(t, err)
		defer ws.CloseNow()
		// FastX takes GET with the members in the query too.
		h.call("GET", "/v3/api/session/token/revoke?id="+url.QueryEscape(id)+"&name="+url.QueryEscape(rt.Name), ownerTok, nil).want(t, 200)
		if r := h.call("GET", "/v3/api/session/token?id="+url.QueryEscape(id)+"&lifetime=60", ownerTok, nil).want(t, 200); r.str("result", "role") != "owner" {
			t.Fatalf("session/token by GET: %s", r.Raw)
		}
		if r := (&abcdesktop{t: t, h: h, token: rt.Token}).call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("a revoked token: %d", r.Status)
		}
		for {
			if _, _, err := ws.Read(bctx); err != nil {
				if bctx.Err() != nil {
					t.Fatal("the broadcast socket of a revoked token stayed open")
				}
				break
			}
		}
		// Expired: short-lived.
		et := desktopToken(t, h, ownerTok, id, "")
		h.clock.Advance(h.s.cfg.DesktopTokenTTL + time.Second)
		if r := (&abcdesktop{t: t, h: h, token: et.Token}).call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("an expired token: %d", r.Status)
		}
		// Revoked all at once: the owner's other tokens of the session stop.
		h.clock.Advance(-h.s.cfg.DesktopTokenTTL - time.Second)
		at := desktopToken(t, h, ownerTok, id, "")
		if r := h.call("POST", "/v3/api/session/token/revoke", ownerTok, map[string]any{"id": id}).want(t, 200); r.get("result").(float64) < 1 {
			t.Fatalf("revoke all: %s", r.Raw)
		}
		if r := (&abcdesktop{t: t, h: h, token: at.Token}).call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("a token after revoke all: %d", r.Status)
		}
		// The owner's logout ends the tokens issued through that login.
		lt := desktopToken(t, h, ownerTok, id, "")
		h.call("POST", "/v3/api/user/logout", ownerTok, nil).want(t, 200)
		if r := (&abcdesktop{t: t, h: h, token: lt.Token}).call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("a token after its owner's logout: %d", r.Status)
		}
		if r := (&abcdesktop{t: t, h: h, token: dt.Token}).call("version", nil, "GET"); r.Status != 401 {
			t.Fatalf("the first token after its owner's logout: %d", r.Status)
		}
	})
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ownPrimary puts text in the PRIMARY selection of the desktop of an agent (as selecting it in a
// window would): a window of the test owns the selection and answers requests for it until the test
// ends.
func ownPrimary(t *testing.T, bin, display, text string) {
	t.Helper()
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", agentPID(t, bin, display)))
	must(t, err)
	var xauthority string
	for _, kv := range strings.Split(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, "XAUTHORITY="); ok {
			xauthority = v
		}
	}
	cookie, err := xauth.ReadCookie(xauthority)
	must(t, err)
	n := strings.TrimPrefix(display, ":")
	nc, err := net.Dial("unix", "/tmp/.X11-unix/X"+n)
	must(t, err)
	x, err := xauth.Connect(nc, cookie, time.Now().Add(5*time.Second))
	must(t, err)
	t.Cleanup(x.Close)
	setup := xproto.Setup(x)
	root := setup.DefaultScreen(x).Root
	win, err := xproto.NewWindowId(x)
	must(t, err)
	must(t, xproto.CreateWindowChecked(x, 0, win, root, 0, 0, 1, 1, 0, xproto.WindowClassInputOnly, 0, 0, nil).Check())
	atom := func(name string) xproto.Atom {
		r, err := xproto.InternAtom(x, false, uint16(len(name)), name).Reply()
		must(t, err)
		return r.Atom
	}
	primary, utf8, targets := xproto.Atom(xproto.AtomPrimary), atom("UTF8_STRING"), atom("TARGETS")
	must(t, xproto.SetSelectionOwnerChecked(x, win, primary, xproto.TimeCurrentTime).Check())
	go func() {
		for {
			ev, err := x.WaitForEvent()
			if ev == nil && err == nil {
				return // closed
			}
			req, ok := ev.(xproto.SelectionRequestEvent)
			if !ok {
				continue
			}
			prop := req.Property
			switch req.Target {
			case targets:
				data := make([]byte, 8)
				xgb.Put32(data, uint32(utf8))
				xgb.Put32(data[4:], uint32(xproto.AtomString))
				xproto.ChangeProperty(x, xproto.PropModeReplace, req.Requestor, prop, xproto.AtomAtom, 32, 2, data)
			case utf8, xproto.AtomString:
				xproto.ChangeProperty(x, xproto.PropModeReplace, req.Requestor, prop, req.Target, 8, uint32(len(text)), []byte(text))
			default:
				prop = xproto.AtomNone
			}
			notify := xproto.SelectionNotifyEvent{Time: req.Time, Requestor: req.Requestor, Selection: req.Selection,
				Target: req.Target, Property: prop}
			xproto.SendEvent(x, false, req.Requestor, 0, string(notify.Bytes()))
		}
	}()
}
