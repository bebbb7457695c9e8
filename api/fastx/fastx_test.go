package fastx

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSessionJSONRoundTrip(t *testing.T) {
	started := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)
	connected := started.Add(time.Minute)
	in := Session{
		AppPid: 1234, Clients: 1, Command: "xterm", CPUPercentage: 25, DisconnectTimeout: 600,
		Display: ":100", Geometry: "1024x768", Hostname: "host1", ID: "s1", LastConnect: &connected,
		Login: "ada", Params: Params{"name": "work"}, ServerID: "srv1", ServerPid: 5678, Sharing: true,
		Started: started, VideoRAM: 128000, WindowMode: WindowModeDesktop, Name: "work", State: StateRunning,
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
		t.Fatal(err)
	}
	seed := []string{"appPid", "clients", "command", "cpuPercentage", "disconnectTimeout", "display",
		"geometry", "hostname", "id", "lastConnect", "lastDisconnect", "login", "params", "serverId",
		"serverPid", "sharing", "started", "videoRam", "windowMode"}
	want := append(slices.Clone(seed), "name", "state", "frozen")
	var got []string
	for k := range members {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("members = %v, want %v", got, want)
	}
	if s := string(members["started"]); s != `"2025-03-01T09:30:00Z"` {
		t.Errorf("started = %s, want RFC 3339", s)
	}
	if s := string(members["lastDisconnect"]); s != "null" {
		t.Errorf("lastDisconnect = %s, want null", s)
	}
	var out Session
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
}

// Every member of every wire type carries a json name and a one-line doc tag.
func TestDocTags(t *testing.T) {
	for _, v := range []any{Config{}, SSHConfig{}, XrdpConfig{}, LoginRequest{}, LoginStage{},
		PublicKeyRequest{}, KeyboardInteractiveRequest{}, PasswordRequest{}, SignatureRequest{}, Profile{},
		SessionRef{}, ConnectRequest{}, Connect{}, ExecRequest{}, ExecResult{}, ListRequest{}, Session{},
		SessionLog{}, ParamsRequest{}, ScheduleRequest{}, Schedule{}, ScreenshotRequest{}, Screenshot{},
		ShortcutRequest{}, StartRequest{}, BookmarkRef{}, Bookmark{}, BookmarkList{}, ShareKey{},
		ShareConnectRequest{}, ShareEditRequest{}, ShareEmailRequest{}, ShareDeleteRequest{},
		ShareResetRequest{}, SessionProfile{}, SystemCountRequest{}, ServerInfo{}} {
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			f := rt.Field(i)
			if f.Tag.Get("json") == "" {
				t.Errorf("%s.%s has no json tag", rt.Name(), f.Name)
			}
			if d := f.Tag.Get("doc"); d == "" || strings.Contains(d, "\n") {
				t.Errorf("%s.%s needs a one-line doc tag", rt.Name(), f.Name)
			}
		}
	}
}

func TestNull(t *testing.T) {
	b, err := json.Marshal(Null{})
	if err != nil || string(b) != "null" {
		t.Fatalf("Null = %s, %v", b, err)
	}
}

func TestAnswers(t *testing.T) {
	for body, want := range map[string]Answers{
		`{"answer":"123456"}`:    {"123456"},
		`{"answer":["a","b"]}`:   {"a", "b"},
		`{"answer":""}`:          {""},
		`{"answer":["a",null]}`:  {"a", ""},
		`{"answer":[]}`:          {},
		`{"answer":"x","z":1}`:   {"x"},
		`{"answer":["\u00e9"]}`:  {"é"},
		`{"answer":"tab\there"}`: {"tab\there"},
	} {
		var r KeyboardInteractiveRequest
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if !slices.Equal(r.Answer, want) {
			t.Errorf("%s: answer = %q, want %q", body, r.Answer, want)
		}
	}
	var r KeyboardInteractiveRequest
	if err := json.Unmarshal([]byte(`{"answer":12}`), &r); err == nil {
		t.Error("a number answer was accepted")
	}
}

func TestStartGeometry(t *testing.T) {
	for g, ok := range map[string]bool{
		"":          true, // default
		"1024x768":  true,
		"rootless":  true,
		"64x64":     true,
		"16384x1":   false,
		"16384x64":  true,
		"16385x768": false,
		"63x768":    false,
		"1024X768":  false,
		"1024x":     false,
		"x768":      false,
		"0800x600":  false,
		"+800x600":  false,
		"-800x600":  false,
		"800x600x1": false,
		" 800x600":  false,
		"800 x 600": false,
		"Rootless":  false,
		"99999x100": false,
		"８００x600":   false,
	} {
		err := (&StartRequest{Command: "xterm", Geometry: g}).Validate()
		if (err == nil) != ok {
			t.Errorf("geometry %q: err = %v, want ok=%v", g, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), `"geometry"`) {
			t.Errorf("geometry %q: error %q does not name the member", g, err)
		}
	}
}

func TestListRequestValidate(t *testing.T) {
	neg := -1
	for _, r := range []ListRequest{{Start: -1}, {Limit: &neg}, {Filter: []string{"name"}}, {Filter: []string{"==x"}}} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := (&ListRequest{Filter: []string{"login==ada,bob", "windowMode==desktop"}}).Validate(); err != nil {
		t.Error(err)
	}
}

func FuzzGeometry(f *testing.F) {
	for _, s := range []string{"1024x768", "rootless", "", "64x64", "16384x16384", "0x0", "1x", "x",
		"007x100", "100x100x100", "１００x100", "99999999999999999999x1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, h, rootless, err := ParseGeometry(s)
		if err != nil {
			if w != 0 || h != 0 || rootless {
				t.Fatalf("%q: error %v with values %d %d %v", s, err, w, h, rootless)
			}
			return
		}
		if rootless {
			if s != Rootless || w != 0 || h != 0 {
				t.Fatalf("%q: rootless with %dx%d", s, w, h)
			}
			return
		}
		if w < MinGeometry || w > MaxGeometry || h < MinGeometry || h > MaxGeometry {
			t.Fatalf("%q: %dx%d out of bounds", s, w, h)
		}
		// Accepted geometries are canonical: they print back as they came.
		if back := fmt.Sprintf("%dx%d", w, h); back != s {
			t.Fatalf("%q parsed as %s", s, back)
		}
		if err := (&StartRequest{Command: "x", Geometry: s}).Validate(); err != nil {
			t.Fatalf("%q parsed but did not validate: %v", s, err)
		}
	})
}
