package spawner

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// DefaultMaxFile is how many files filesearch answers when maxfile is absent.
const DefaultMaxFile = 64

// Version is the answer of GET /version.
type Version struct {
	Date    *time.Time `json:"date" doc:"build date (RFC 3339; null: unknown)"`
	Commit  string     `json:"commit" doc:"source commit of the agent"`
	Version string     `json:"version" doc:"agent version"`
}

// Launch is the body of POST /launch.
type Launch struct {
	Command string   `json:"command" required:"true" doc:"application to run, from the desktop's known applications"`
	Args    []string `json:"args,omitempty" doc:"arguments of the application"`
}

// LaunchResult is the answer of POST /launch.
type LaunchResult struct {
	Pid     int    `json:"pid" doc:"process id of the started application"`
	Command string `json:"command" doc:"the command that was started"`
}

// ProcessResult is the answer of /setAudioQuality and /playAudioSample: how the helper process ended.
type ProcessResult struct {
	ExitCode int    `json:"exitCode" doc:"exit status of the process"`
	Output   string `json:"output,omitempty" doc:"what the process printed, trimmed"`
}

// SetAudioQuality is the body of POST /setAudioQuality.
type SetAudioQuality struct {
	Sink string `json:"sink" required:"true" doc:"PulseAudio sink to make the default"`
}

// ConfigurePulse is the body of PUT /configurePulse. Port is a string as in the seed; the agent
// validates both members (IP literal, port 1–65535).
type ConfigurePulse struct {
	DestinationIP string `json:"destinationIp" required:"true" doc:"IP address the RTP audio stream is sent to"`
	Port          string `json:"port" required:"true" doc:"UDP port the RTP audio stream is sent to (decimal string)"`
}

// SetDesktop is the body of POST /setDesktop.
type SetDesktop struct {
	Key   string          `json:"key" required:"true" doc:"name of the stored value (a plain name, no path)"`
	Value json.RawMessage `json:"value" required:"true" doc:"any JSON value to store under key"`
}

// Validate checks that key is a plain name.
func (r *SetDesktop) Validate() error { return checkName("key", r.Key) }

// GetDesktop is the query of GET /getDesktop; the answer is the stored JSON value.
type GetDesktop struct {
	Key string `json:"key" required:"true" doc:"name of the stored value"`
}

// Validate checks that key is a plain name.
func (r *GetDesktop) Validate() error { return checkName("key", r.Key) }

// GetMimeForFile is the query of GET /getmimeforfile.
type GetMimeForFile struct {
	Filename string `json:"filename" required:"true" doc:"file name (or path in the home directory) to type"`
}

// FileSearch is the query of GET /filesearch.
type FileSearch struct {
	Keywords string `json:"keywords" required:"true" doc:"plain text matched case-insensitively, accents folded"`
	MaxFile  *int   `json:"maxfile,omitempty" doc:"most files to answer (default 64)"`
}

// Validate checks maxfile.
func (r *FileSearch) Validate() error {
	if r.MaxFile != nil && *r.MaxFile < 1 {
		return field.Errorf("maxfile", "must be at least 1")
	}
	return nil
}

// FileMatch is one file of /filesearch, and the answer of /getmimeforfile.
type FileMatch struct {
	File string `json:"file" doc:"path of the file"`
	Mime string `json:"mime" doc:"MIME type of the file"`
}

// GenerateDesktopFiles is the body of POST /generateDesktopFiles.
type GenerateDesktopFiles struct {
	List []DesktopFile `json:"list" required:"true" doc:"desktop entries to write"`
}

// DesktopFile is one desktop entry of /generateDesktopFiles.
type DesktopFile struct {
	Mimetype           string `json:"mimetype" doc:"MIME types the application opens, ; separated"`
	Path               string `json:"path" doc:"where the application is found"`
	ExecutableFilename string `json:"executablefilename" doc:"file name of the desktop entry / executable"`
	Icon               string `json:"icon" doc:"icon of the application"`
	Name               string `json:"name" doc:"display name of the application"`
	Launch             string `json:"launch" doc:"launch name (window class) of the application"`
}

// GetAppForFile is the query of GET /getappforfile (the seed lists no parameters).
type GetAppForFile struct {
	Filename string `json:"filename" required:"true" doc:"file to find applications for"`
}

// AppForFile is one application that opens a file.
type AppForFile struct {
	Command string `json:"command" doc:"application to launch"`
	Args    string `json:"args" doc:"its arguments, as one string as the seed gives it"`
}

// About is the answer of GET /about. It carries no secrets; the orchestrator members stay empty.
type About struct {
	Hostname              string `json:"hostname" doc:"hostname of the desktop"`
	IPAddr                string `json:"ipaddr" doc:"address of the desktop"`
	Plateform             string `json:"plateform" doc:"operating system (the seed's spelling)"`
	Arch                  string `json:"arch" doc:"CPU architecture"`
	Release               string `json:"release" doc:"kernel release"`
	CPU                   string `json:"cpu" doc:"CPU model"`
	ClientIPAddr          string `json:"clientipaddr" doc:"address the caller came from"`
	Country               string `json:"country" doc:"country of the desktop's locale"`
	Language              string `json:"language" doc:"language of the desktop's locale"`
	Build                 string `json:"build" doc:"build of the agent"`
	PodNamespace          string `json:"POD_NAMESPACE,omitempty" doc:"orchestrator namespace (not set by deskhub)"`
	PodName               string `json:"POD_NAME,omitempty" doc:"orchestrator pod name (not set by deskhub)"`
	NodeName              string `json:"NODE_NAME,omitempty" doc:"orchestrator node name (not set by deskhub)"`
	PodIP                 string `json:"POD_IP,omitempty" doc:"orchestrator pod address (not set by deskhub)"`
	KubernetesServiceHost string `json:"KUBERNETES_SERVICE_HOST,omitempty" doc:"orchestrator API host (not set by deskhub)"`
}

// SettingTab is one tab of the settings window, from GET /getSettings.
type SettingTab struct {
	Tab     string `json:"tab" doc:"tab name, e.g. audio, printers"`
	Enabled bool   `json:"enabled" doc:"the tab works on this desktop"`
}

// SetBackgroundColor is the body of POST /setBackgroundColor.
type SetBackgroundColor struct {
	Color string `json:"color" required:"true" doc:"colour as #RRGGBB or #RRGGBBAA"`
}

// Validate checks the colour.
func (r *SetBackgroundColor) Validate() error {
	c := r.Color
	if (len(c) != 7 && len(c) != 9) || c[0] != '#' || strings.Trim(c[1:], "0123456789abcdefABCDEF") != "" {
		return field.Errorf("color", "must be #RRGGBB or #RRGGBBAA, not %.20q", c)
	}
	return nil
}

// SetBackgroundImage is the body of POST /setBackgroundImage.
type SetBackgroundImage struct {
	ImgName string `json:"imgName" required:"true" doc:"file name of an image in the wallpapers folder"`
}

// Validate checks that imgName is a plain file name.
func (r *SetBackgroundImage) Validate() error { return checkName("imgName", r.ImgName) }

// BackgroundImage is the answer of POST /setBackgroundImage.
type BackgroundImage struct {
	Color   string  `json:"color" doc:"dominant colour of the image, #RRGGBB"`
	SubData Success `json:"subData" doc:"outcome of setting the image"`
}

// Success is the seed's Success object, nested in BackgroundImage.
type Success struct {
	Code int    `json:"code" doc:"status of the operation"`
	Data string `json:"data" doc:"message"`
}

// Window is one window of GET /getwindowslist (from EWMH _NET_CLIENT_LIST).
type Window struct {
	ID          int64  `json:"id" doc:"X window id"`
	Pid         int    `json:"pid" doc:"process id owning the window (_NET_WM_PID)"`
	WMClass     string `json:"wm_class" doc:"window class (WM_CLASS)"`
	Title       string `json:"title" doc:"window title"`
	MachineName string `json:"machine_name" doc:"host the client runs on (WM_CLIENT_MACHINE)"`
}

// WindowIDs is the body of POST /activatewindows and POST /closewindows.
type WindowIDs struct {
	WindowsID []int64 `json:"windowsid" required:"true" doc:"X window ids"`
}

// maxNameLen bounds a plain name (a desktop key, an image file name) in bytes.
const maxNameLen = 255

// checkName accepts a plain file name: not empty, no path separators (/ or \), no "..", no NUL, at
// most maxNameLen bytes. Such a name can be joined to a directory without leaving it.
func checkName(member, s string) error {
	switch {
	case s == "":
		return field.Errorf(member, "must not be empty")
	case s == "." || strings.Contains(s, "..") || strings.ContainsAny(s, "/\\\x00"):
		return field.Errorf(member, "must be a plain name, without / or \\ or .. and not .")
	case len(s) > maxNameLen:
		return field.Errorf(member, "must be at most %d bytes", maxNameLen)
	}
	return nil
}
