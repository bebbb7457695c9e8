package agent

import (
	"errors"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// TestBadInputEveryEndpoint: wrong types, missing members, unknown members and traversal get a 400
// naming the member, on every agent endpoint that takes parameters (decoding happens before any X or
// file work, so no display is needed).
func TestBadInputEveryEndpoint(t *testing.T) {
	a, err := New(Options{Display: ":99", Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close) // its PulseAudio, if a test started one
	h := a.Handler()
	cases := []struct{ method, path, body, want string }{
		{"POST", "/launch", `{}`, `"command" is required`},
		{"POST", "/launch", `{"command":5}`, `"command" must be a string`},
		{"POST", "/launch", `{"command":"xterm","args":[1]}`, `must be a string`},
		{"POST", "/setAudioQuality", `{}`, `"sink" is required`},
		{"PUT", "/configurePulse", `{"destinationIp":"127.0.0.1"}`, `"port" is required`},
		{"PUT", "/configurePulse", `{"destinationIp":"127.0.0.1","port":5004}`, `"port" must be a string`},
		{"PUT", "/configurePulse", `{"destinationIp":"../x","port":"5004"}`, `destinationIp`},
		{"POST", "/setDesktop", `{"key":"k"}`, `"value" is required`},
		{"POST", "/setDesktop", `{"key":"../../etc/passwd","value":1}`, `key`},
		{"GET", "/getDesktop", ``, `"key" is required`},
		{"GET", "/getDesktop?key=%2Fetc%2Fpasswd", ``, `key`},
		{"GET", "/getmimeforfile", ``, `"filename" is required`},
		{"GET", "/getmimeforfile?filename=..%2F..%2Fetc%2Fshadow", ``, `filename`},
		{"GET", "/getappforfile", ``, `"filename" is required`},
		{"GET", "/filesearch", ``, `"keywords" is required`},
		{"GET", "/filesearch?keywords=a&maxfile=x", ``, `"maxfile" must be an integer`},
		{"POST", "/generateDesktopFiles", `{}`, `"list" is required`},
		{"POST", "/generateDesktopFiles", `{"list":{}}`, `"list" must be an array`},
		{"POST", "/setBackgroundColor", `{}`, `"color" is required`},
		{"POST", "/setBackgroundColor", `{"color":"red"}`, `color`},
		{"POST", "/setBackgroundImage", `{"imgName":"../../x.png"}`, `imgName`},
		{"POST", "/activatewindows", `{}`, `"windowsid" is required`},
		{"POST", "/activatewindows", `{"windowsid":["a"]}`, `must be an integer`},
		{"POST", "/closewindows", `{"windowsid":[-1]}`, `windowsid`},
		{"POST", "/closewindows", `{"windowsid":[]}`, `windowsid`},
		{"POST", "/placeAllWindows", `{"extra":1}`, `"extra" is not known`},
		{"POST", "/clipboardsync", `[1]`, `JSON object`},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		code, m := do(t, h, tc.method, tc.path, tc.body)
		if code != 400 || !strings.Contains(m["data"].(string), tc.want) {
			t.Errorf("%s %s %s: %d %v, want 400 containing %q", tc.method, tc.path, tc.body, code, m["data"], tc.want)
		}
		seen[strings.SplitN(tc.path, "?", 2)[0]] = true
	}
	// Every endpoint with parameters is in the table.
	for _, e := range spawner.Endpoints() {
		if req, _ := e.Types(); req.NumField() > 0 && !seen[e.Describe().Path] {
			t.Errorf("no bad-input case for %s", e.Describe().Path)
		}
	}
}

// FuzzAgentDecoders feeds arbitrary bodies to the decoders of every agent request type: no panic, and
// a refusal is a 400 *httpapi.Error.
func FuzzAgentDecoders(f *testing.F) {
	for _, s := range []string{`{"command":"xterm","args":["-e"]}`, `{"key":"../x","value":{}}`, `{"windowsid":[1,2]}`,
		`{"list":[{"name":"x","launch":"y"}]}`, `{"destinationIp":"::1","port":"5004"}`, `{"color":"#fff"}`, `null`, `{"a":`} {
		f.Add([]byte(s))
	}
	decoders := []func([]byte) error{
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.Launch), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.SetDesktop), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.WindowIDs), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.GenerateDesktopFiles), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.ConfigurePulse), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.SetBackgroundColor), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.SetBackgroundImage), false) },
		func(b []byte) error { return httpapi.DecodeJSON(b, new(spawner.FileSearch), false) },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, dec := range decoders {
			if err := dec(body); err != nil {
				var e *httpapi.Error
				if !errors.As(err, &e) || e.Status != 400 {
					t.Fatalf("refusal is not a 400: %v", err)
				}
			}
		}
	})
}
