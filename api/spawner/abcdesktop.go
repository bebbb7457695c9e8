package spawner

import (
	"encoding/json"
	"reflect"
	"strings"

	"github.com/deskhub/deskhub/api/field"
)

// abcdesktop's browser code (webModules js/launcher.js) calls the agent at /spawner/<endpoint>, the
// desktop named by the desktop-scoped token it sends as ABCAuthorization, and reads the answers of
// abcdesktop's own spawner-service (oc.user composer/node/spawner-service). Where those differ from the
// seed's, the agent serves abcdesktop's form under AbcdesktopPrefix; the broker's /spawner/<endpoint>
// routes go there, and to the seed's paths for the endpoints that answer alike.

// AbcdesktopPrefix is where the agent serves abcdesktop's forms of its endpoints.
const AbcdesktopPrefix = "/abcdesktop"

// AbcEndpoint is one endpoint of the agent as abcdesktop's browser code calls it.
type AbcEndpoint struct {
	Spec
	// Req and Resp are the request and answer types.
	Req, Resp reflect.Type
	// Own: the agent serves abcdesktop's form at AbcdesktopPrefix+Path (else the seed's endpoint at
	// Path answers alike).
	Own bool
	// Bare: the answer is the object itself, without the {code, data} envelope.
	Bare bool
	// Reads: viewers may call it (it changes nothing and reveals nothing of the user's files).
	Reads bool
}

func abc[Req, Resp any](method, path, tag, summary string, own, bare, reads bool) AbcEndpoint {
	return AbcEndpoint{Spec: Spec{Method: method, Path: path, Tag: tag, Summary: summary},
		Req: reflect.TypeFor[Req](), Resp: reflect.TypeFor[Resp](), Own: own, Bare: bare, Reads: reads}
}

// AbcdesktopEndpoints lists the endpoints abcdesktop's browser code calls: the seed's 22 and getenv,
// isPulseAvailable and setTheme.
func AbcdesktopEndpoints() []AbcEndpoint {
	const own, seed, bare, env, reads, writes = true, false, true, false, true, false
	return []AbcEndpoint{
		abc[Empty, Version](get, "/version", "system", "Get User container version", seed, env, reads),
		abc[AbcLaunch, AbcLaunchResult](post, "/launch", "apps", "Run an application by its abcdesktop launch key (instance.Class), desktop entry or program", own, env, writes),
		abc[SetAudioQuality, AbcProcess](post, "/setAudioQuality", "audio", "Make a sink the default, abcdesktop's sinks (ulaw8_1_8000, s16_1_44100…) made on demand", own, env, writes),
		abc[Empty, ProcessResult](post, "/playAudioSample", "audio", "Play a sample audio", seed, env, writes),
		abc[AbcConfigurePulse, AbcPulseConfigured](put, "/configurePulse", "audio", "Configure pulse audio for Janus", own, env, writes),
		abc[Empty, string](post, "/broadcastwindowslist", "windows", "Emit a broadcast with window list as data", seed, env, writes),
		abc[Empty, string](post, "/clipboardsync", "clipboard", "Synchronize X11 and gtk clipboard", seed, env, writes),
		abc[SetDesktop, string](post, "/setDesktop", "store", "Store a data as json file in desktop", seed, env, writes),
		abc[GetDesktop, any](get, "/getDesktop", "store", "Get a data stored as json file", seed, env, writes),
		abc[GetMimeForFile, string](get, "/getmimeforfile", "files", "The MIME type of a file (the answer is the type itself)", own, bare, writes),
		abc[FileSearch, []FileMatch](get, "/filesearch", "files", "Used for list files by dock", seed, env, writes),
		abc[AbcGenerateDesktopFiles, string](post, "/generateDesktopFiles", "apps", "Build desktop files to run containerized applications", own, env, writes),
		abc[GetAppForFile, AbcAppForFile](get, "/getappforfile", "apps", "The application that opens a file", own, env, writes),
		abc[Empty, AbcAbout](get, "/about", "system", "Get system informations (the object itself)", own, bare, reads),
		abc[Empty, []string](get, "/getSettings", "system", "The settings tabs that work on this desktop", own, env, reads),
		abc[SetBackgroundColor, string](post, "/setBackgroundColor", "background", "Change the background color", seed, env, writes),
		abc[SetBackgroundImage, BackgroundImage](post, "/setBackgroundImage", "background", "Set the background image", seed, env, writes),
		abc[Empty, string](post, "/setDefaultImage", "background", "Set the default image as background", seed, env, writes),
		abc[Empty, []AbcWindow](get, "/getwindowslist", "windows", "Get window list (wm_class as instance.Class)", own, env, reads),
		abc[WindowIDs, string](post, "/activatewindows", "windows", "Activate windows", seed, env, writes),
		abc[WindowIDs, string](post, "/closewindows", "windows", "Close windows", seed, env, writes),
		abc[Empty, string](post, "/placeAllWindows", "windows", "Place and resize all windows", seed, env, writes),
		abc[Empty, AbcEnv](get, "/getenv", "system", "A safe allowlist of the desktop's environment (the object itself)", own, bare, reads),
		abc[Empty, AbcPulseAvailable](get, "/isPulseAvailable", "audio", "Whether the desktop's PulseAudio answers (the object itself)", own, bare, reads),
		abc[SetTheme, string](post, "/setTheme", "store", "Remember the desktop's theme", own, env, writes),
	}
}

// BroadcastPath is where abcdesktop's browser code opens its event websocket (broadcastsystem.js).
const BroadcastPath = "/broadcast"

// BroadcastQuery is the query of /broadcast: browsers open websockets without headers, so the desktop
// token comes as jwt_token (broadcastsystem.js), unless ABCAuthorization carries it.
type BroadcastQuery struct {
	JWTToken string `json:"jwt_token,omitempty" doc:"the desktop-scoped token"`
}

// BroadcastMessage is one message of /broadcast, abcdesktop's form of the agent's events.
type BroadcastMessage struct {
	Method string `json:"method" doc:"hello, keepalive, window.list, proc.started, proc.killed, display.setBackgroundBorderColor, speaker.available"`
	Data   any    `json:"data,omitempty"`
	User   any    `json:"user,omitempty" doc:"hello: the user the client announced"`
}

// StringOrList is a list of strings that also takes a single string (abcdesktop's launch args).
type StringOrList []string

// UnmarshalJSON takes a string (one element; "" none) or an array of strings.
func (l *StringOrList) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s != "" {
			*l = StringOrList{s}
		}
		return nil
	}
	var a []string
	if err := json.Unmarshal(b, &a); err != nil {
		return &json.UnmarshalTypeError{Value: "value " + string(b), Type: reflect.TypeFor[StringOrList]()}
	}
	*l = a
	return nil
}

// JSONSchemaTypes: a string or an array of strings.
func (StringOrList) JSONSchemaTypes() []string { return []string{"string", "array"} }

// AbcLaunch is the body of launch as abcdesktop sends it.
type AbcLaunch struct {
	Command string       `json:"command" required:"true" doc:"abcdesktop launch key (instance.Class, e.g. xterm.XTerm), desktop entry id or program"`
	Args    StringOrList `json:"args,omitempty" doc:"arguments: a string (launcher.js) or an array"`
}

// Validate checks the command is a plain name.
func (r *AbcLaunch) Validate() error {
	if strings.TrimSpace(r.Command) == "" {
		return field.Errorf("command", "must not be empty")
	}
	return nil
}

// AbcLaunchResult is launch's data: what was started.
type AbcLaunchResult struct {
	Command string   `json:"command" doc:"the program started"`
	Args    []string `json:"args" doc:"its arguments"`
	Pid     int      `json:"pid" doc:"its process id (deskhub addition)"`
}

// AbcProcess is setAudioQuality's data, as abcdesktop's server answers it: the command it ran.
type AbcProcess struct {
	Command string   `json:"command" doc:"the program run"`
	Args    []string `json:"args" doc:"its arguments"`
}

// AbcConfigurePulse is configurePulse's body; abcdesktop's port is numeric (a number or a string).
type AbcConfigurePulse struct {
	DestinationIP string          `json:"destinationIp" required:"true" doc:"IPv4 address the RTP stream is sent to"`
	Port          json.RawMessage `json:"port" required:"true" types:"string,integer" doc:"UDP port, a number or a decimal string"`
}

// PortText is the port as text.
func (r *AbcConfigurePulse) PortText() string {
	var s string
	if json.Unmarshal(r.Port, &s) == nil {
		return s
	}
	return string(r.Port)
}

// AbcPulseConfigured is configurePulse's data.
type AbcPulseConfigured struct {
	PulseAudioIsConfigured bool `json:"pulseAudioIsConfigured" doc:"the RTP sender is set up"`
	PulseAudioIsAvailable  bool `json:"pulseAudioIsAvailable" doc:"the desktop's PulseAudio answers"`
}

// AbcGenerateDesktopFiles is generateDesktopFiles' body as abcdesktop sends it (mimetype an array).
type AbcGenerateDesktopFiles struct {
	List []AbcDesktopFile `json:"list" required:"true" doc:"desktop entries to write"`
}

// AbcDesktopFile is an application of abcdesktop's list (members beyond these are its own and ignored
// by deskhub: icondata, execmode, desktopfile…).
type AbcDesktopFile struct {
	Mimetype           StringOrList `json:"mimetype,omitempty" doc:"MIME types the application opens (an array, or ; separated)"`
	Path               string       `json:"path,omitempty" doc:"where the application is found"`
	ExecutableFilename string       `json:"executablefilename,omitempty" doc:"file name of the executable"`
	Icon               string       `json:"icon,omitempty" doc:"icon of the application"`
	Name               string       `json:"name,omitempty" doc:"display name"`
	Launch             string       `json:"launch,omitempty" doc:"launch key (window class)"`
}

// UnmarshalJSON takes abcdesktop's application objects, whose other members (icondata, execmode,
// desktopfile, icon_url, …) deskhub does not use.
func (f *AbcDesktopFile) UnmarshalJSON(b []byte) error {
	type plain AbcDesktopFile
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = AbcDesktopFile(p)
	return nil
}

// AbcAppForFile is getappforfile's data: the application that opens the file.
type AbcAppForFile struct {
	Command string   `json:"command" doc:"the application"`
	Args    []string `json:"args" doc:"its arguments before the file"`
}

// AbcAbout is about's answer, the object itself, as abcdesktop's server answers it.
type AbcAbout struct {
	Hostname     string `json:"hostname" doc:"hostname of the desktop"`
	IPAddr       string `json:"ipaddr" doc:"address of the desktop"`
	Platform     string `json:"platform" doc:"operating system"`
	Arch         string `json:"arch" doc:"CPU architecture"`
	Release      string `json:"release" doc:"kernel release"`
	CPU          string `json:"cpu" doc:"CPU model"`
	ClientIPAddr string `json:"clientipaddr" doc:"address the caller came from"`
	Country      string `json:"country" doc:"country of the caller's language"`
	Language     string `json:"language" doc:"language of the desktop's locale"`
	Build        string `json:"build" doc:"build of the agent"`
	PodNamespace string `json:"POD_NAMESPACE" doc:"orchestrator namespace (empty: deskhub has none)"`
	PodName      string `json:"POD_NAME" doc:"orchestrator pod (empty)"`
	NodeName     string `json:"NODE_NAME" doc:"orchestrator node (empty)"`
}

// AbcWindow is a window as abcdesktop lists it: wm_class is "instance.Class" (xterm.XTerm).
type AbcWindow struct {
	ID          int64  `json:"id" doc:"X window id"`
	Pid         int    `json:"pid" doc:"process id owning the window"`
	WMClass     string `json:"wm_class" doc:"WM_CLASS as instance.Class"`
	Title       string `json:"title" doc:"window title"`
	MachineName string `json:"machine_name" doc:"host the client runs on"`
}

// AbcEnv is getenv's answer: an allowlist of the desktop's environment, never secrets.
type AbcEnv struct {
	Env map[string]string `json:"env" doc:"ABCDESKTOP_SERVICE_filer, ACCEPTCUTTEXT, SENDCUTTEXT, LANG, LANGUAGE, TZ, when set"`
}

// GetenvAllowlist are the variables getenv may reveal.
var GetenvAllowlist = []string{"ABCDESKTOP_SERVICE_filer", "ACCEPTCUTTEXT", "SENDCUTTEXT", "LANG", "LANGUAGE", "TZ"}

// AbcPulseAvailable is isPulseAvailable's answer.
type AbcPulseAvailable struct {
	Status  int    `json:"status" doc:"200: the desktop's PulseAudio answers; 500: it does not"`
	Message string `json:"message" doc:"OK or error"`
}

// SetTheme is setTheme's body.
type SetTheme struct {
	Theme string `json:"theme" required:"true" doc:"name of the theme"`
}

// Validate checks the theme is a plain name.
func (r *SetTheme) Validate() error { return checkName("theme", r.Theme) }
