package spawner

import (
	"net/http"
	"reflect"
)

// Empty is the request of endpoints that take no parameters; any JSON object is accepted.
type Empty struct{}

// Spec is what an endpoint of the surface is, whatever its types: the seed's method and path (relative
// to where the surface is served: "/" in the agent, /spawner/{session_id} in the broker), the tag that
// groups it and its summary.
type Spec struct {
	Method  string
	Path    string
	Tag     string
	Summary string
}

// Seed names the seed endpoint, e.g. "GET /version".
func (s Spec) Seed() string { return s.Method + " " + s.Path }

// Endpoint is one endpoint of the Spawner surface with its request (Req) and result (Resp) types, so
// that whoever serves or calls it is checked by the compiler against the table.
type Endpoint[Req, Resp any] struct{ Spec }

// Describe answers the endpoint's method, path, tag and summary.
func (e Endpoint[Req, Resp]) Describe() Spec { return e.Spec }

// Types answers the request and result types.
func (e Endpoint[Req, Resp]) Types() (req, resp reflect.Type) {
	return reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
}

// AnyEndpoint is an Endpoint of any types, for code that walks the table (route tables, documents).
type AnyEndpoint interface {
	Describe() Spec
	Types() (req, resp reflect.Type)
}

func endpoint[Req, Resp any](method, path, tag, summary string) Endpoint[Req, Resp] {
	return Endpoint[Req, Resp]{Spec{Method: method, Path: path, Tag: tag, Summary: summary}}
}

const (
	get  = http.MethodGet
	post = http.MethodPost
	put  = http.MethodPut
)

// The Spawner seed's 22 endpoints. Endpoints lists them in the seed's order.
var (
	VersionEndpoint = endpoint[Empty, Version](get, "/version", "system",
		"Get User container version")
	LaunchEndpoint = endpoint[Launch, LaunchResult](post, "/launch", "apps",
		"Used to run builtin application process")
	SetAudioQualityEndpoint = endpoint[SetAudioQuality, ProcessResult](post, "/setAudioQuality", "audio",
		"Set the audio quality")
	PlayAudioSampleEndpoint = endpoint[Empty, ProcessResult](post, "/playAudioSample", "audio",
		"Play a sample audio")
	ConfigurePulseEndpoint = endpoint[ConfigurePulse, string](put, "/configurePulse", "audio",
		"Configure pulse audio for Janus")
	BroadcastWindowsListEndpoint = endpoint[Empty, string](post, "/broadcastwindowslist", "windows",
		"Emit a broadcast with window list as data")
	ClipboardSyncEndpoint = endpoint[Empty, string](post, "/clipboardsync", "clipboard",
		"Synchronize X11 and gtk clipboard")
	SetDesktopEndpoint = endpoint[SetDesktop, string](post, "/setDesktop", "store",
		"Store a data as json file in desktop")
	// GetDesktopEndpoint answers the JSON value stored under the key, whatever it is.
	GetDesktopEndpoint = endpoint[GetDesktop, any](get, "/getDesktop", "store",
		"Get a data stored as json file")
	GetMimeForFileEndpoint = endpoint[GetMimeForFile, FileMatch](get, "/getmimeforfile", "files",
		"Get a mime for a given filename")
	FileSearchEndpoint = endpoint[FileSearch, []FileMatch](get, "/filesearch", "files",
		"Used for list files by dock")
	GenerateDesktopFilesEndpoint = endpoint[GenerateDesktopFiles, string](post, "/generateDesktopFiles", "apps",
		"Build desktop files to run containerized applications")
	GetAppForFileEndpoint = endpoint[GetAppForFile, []AppForFile](get, "/getappforfile", "apps",
		"Allow to get the app necessary")
	AboutEndpoint = endpoint[Empty, About](get, "/about", "system",
		"Get system informations")
	GetSettingsEndpoint = endpoint[Empty, []SettingTab](get, "/getSettings", "system",
		"Get configuration for settings window")
	SetBackgroundColorEndpoint = endpoint[SetBackgroundColor, string](post, "/setBackgroundColor", "background",
		"Change the background color")
	SetBackgroundImageEndpoint = endpoint[SetBackgroundImage, BackgroundImage](post, "/setBackgroundImage", "background",
		"Set the background image")
	SetDefaultImageEndpoint = endpoint[Empty, string](post, "/setDefaultImage", "background",
		"Set the default image as background")
	GetWindowsListEndpoint = endpoint[Empty, []Window](get, "/getwindowslist", "windows",
		"Get window list")
	ActivateWindowsEndpoint = endpoint[WindowIDs, string](post, "/activatewindows", "windows",
		"Activate windows")
	CloseWindowsEndpoint = endpoint[WindowIDs, string](post, "/closewindows", "windows",
		"Close windows")
	PlaceAllWindowsEndpoint = endpoint[Empty, string](post, "/placeAllWindows", "windows",
		"Place and resize all windows")
)

// Endpoints lists the surface's endpoints in the seed's order.
func Endpoints() []AnyEndpoint {
	return []AnyEndpoint{
		VersionEndpoint, LaunchEndpoint, SetAudioQualityEndpoint, PlayAudioSampleEndpoint,
		ConfigurePulseEndpoint, BroadcastWindowsListEndpoint, ClipboardSyncEndpoint, SetDesktopEndpoint,
		GetDesktopEndpoint, GetMimeForFileEndpoint, FileSearchEndpoint, GenerateDesktopFilesEndpoint,
		GetAppForFileEndpoint, AboutEndpoint, GetSettingsEndpoint, SetBackgroundColorEndpoint,
		SetBackgroundImageEndpoint, SetDefaultImageEndpoint, GetWindowsListEndpoint, ActivateWindowsEndpoint,
		CloseWindowsEndpoint, PlaceAllWindowsEndpoint,
	}
}

// EventsPath is deskhub's addition to the surface: GET upgrades to a websocket of Event messages.
const EventsPath = "/events"

// Event is one message of the events websocket: window.list, proc.started, proc.killed,
// display.setBackgroundBorderColor, speaker.available.
type Event struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// AudioPath is deskhub's addition for the desktop's sound: GET upgrades to a websocket whose first
// message is an AudioHeader (text, JSON) and whose next messages are binary frames of raw PCM in that
// format, captured from the monitor of the desktop's default PulseAudio sink while the websocket is open.
// Frames of pure silence are not sent: an idle desktop costs nothing.
const AudioPath = "/audio"

// Audio stream format (see AudioPath): signed 16-bit little-endian samples, interleaved channels.
const (
	AudioFormat   = "s16le"
	AudioRate     = 24000 // samples per second per channel
	AudioChannels = 2
	AudioFrameMs  = 20 // one binary message: AudioRate*AudioFrameMs/1000 samples per channel
)

// AudioHeader is the first message of the audio websocket: the format of the binary frames that follow.
type AudioHeader struct {
	Format   string `json:"format"`   // "s16le"
	Rate     int    `json:"rate"`     // samples per second per channel
	Channels int    `json:"channels"` // interleaved
	FrameMs  int    `json:"frameMs"`  // duration of one binary message
	// SkipsSilence says frames of pure silence are left out: a gap is silence, not loss.
	SkipsSilence bool `json:"skipsSilence"`
}

// AudioFrameBytes is the size of one binary message of the audio websocket.
func AudioFrameBytes() int { return AudioRate * AudioFrameMs / 1000 * AudioChannels * 2 }
