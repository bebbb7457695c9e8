package fastx

import (
	"fmt"
	"time"

	"github.com/deskhub/deskhub/api/field"
)

// Window modes of a session.
const (
	WindowModeDesktop  = "desktop"
	WindowModeRootless = "rootless"
)

// Session states (deskhub's addition to the seed's session object).
const (
	StateStarting = "starting"
	StateRunning  = "running"
	StateStopping = "stopping"
	StateStopped  = "stopped"
)

// LogTailBytes is the most of a session log that session/log answers.
const LogTailBytes = 64 << 10

// SessionRef names one session (disconnect, log, terminate, share/list).
type SessionRef struct {
	ID string `json:"id" required:"true" doc:"session id"`
}

// ConnectRequest is the body of /v3/api/session/connect.
type ConnectRequest struct {
	ID     string `json:"id" required:"true" doc:"session id"`
	Params Params `json:"params,omitempty" doc:"user parameters to set"`
}

// Validate checks the parameters.
func (r *ConnectRequest) Validate() error { return checkParams("params", r.Params) }

// Connect is the connect object: what a client needs to open a session's screen.
type Connect struct {
	Geometry   string `json:"geometry" doc:"geometry of the session, WIDTHxHEIGHT"`
	ID         string `json:"id" doc:"session id"`
	Login      string `json:"login" doc:"username who started the session"`
	Params     Params `json:"params" doc:"user parameters that have been set"`
	Password   string `json:"password" doc:"one-time password that opens the session's screen once"`
	Port       int    `json:"port" doc:"broker port to connect to (sessions never listen where clients reach)"`
	WindowMode string `json:"windowMode" doc:"window mode of the session: rootless or desktop"`
	URL        string `json:"url" doc:"deskhub: websocket URL, relative to the broker, relaying the session's RFB stream; authenticate with password"`
}

// ExecRequest is the body of /v3/api/session/exec (not described by the seed).
type ExecRequest struct {
	ID      string   `json:"id" required:"true" doc:"session id to run the program in"`
	Command string   `json:"command" required:"true" doc:"program to run in the session's display, without a shell"`
	Args    []string `json:"args,omitempty" doc:"arguments of the program"`
}

// ExecResult is the answer of /v3/api/session/exec.
type ExecResult struct {
	Pid int `json:"pid" doc:"process id of the started program"`
}

// ListRequest is the body of /v3/api/session/list and /v3/system/session/list.
type ListRequest struct {
	Start       int      `json:"start,omitempty" doc:"index of the first session object to return"`
	SortBy      string   `json:"sortBy,omitempty" doc:"member to sort by (members of params too)"`
	SortReverse bool     `json:"sortReverse,omitempty" doc:"return session objects in reverse sort order"`
	Limit       *int     `json:"limit,omitempty" doc:"maximum number of session objects to return (absent: no limit)"`
	Filter      []string `json:"filter,omitempty" doc:"filters name==value1,value2: values OR, filters AND"`
}

// Validate checks start, limit and the filters.
func (r *ListRequest) Validate() error {
	if r.Start < 0 {
		return field.Errorf("start", "must not be negative")
	}
	if r.Limit != nil && *r.Limit < 0 {
		return field.Errorf("limit", "must not be negative")
	}
	return checkFilters(r.Filter)
}

func checkFilters(filters []string) error {
	for i, f := range filters {
		if _, _, err := ParseFilter(f); err != nil {
			return field.Wrap(fmt.Sprintf("filter[%d]", i), err)
		}
	}
	return nil
}

// Session is the session object.
type Session struct {
	AppPid            int        `json:"appPid" doc:"pid of the process started from command"`
	Clients           int        `json:"clients" doc:"number of clients currently connected"`
	Command           string     `json:"command" doc:"command run when the session was launched"`
	CPUPercentage     int        `json:"cpuPercentage" doc:"CPU percentage parameter when the session was started"`
	DisconnectTimeout int        `json:"disconnectTimeout" doc:"seconds a disconnected session is kept (0: forever)"`
	Display           string     `json:"display" doc:"X DISPLAY of the session, e.g. :100"`
	Geometry          string     `json:"geometry" doc:"WIDTHxHEIGHT of the session"`
	Hostname          string     `json:"hostname" doc:"hostname of the machine the session runs on"`
	ID                string     `json:"id" doc:"session id"`
	LastConnect       *time.Time `json:"lastConnect" doc:"when a client last connected (RFC 3339; null: never)"`
	LastDisconnect    *time.Time `json:"lastDisconnect" doc:"when a client last disconnected (RFC 3339; null: never)"`
	Login             string     `json:"login" doc:"name of the user who started the session"`
	Params            Params     `json:"params" doc:"user parameters that have been set"`
	ServerID          string     `json:"serverId" doc:"id of the server running the session"`
	ServerPid         int        `json:"serverPid" doc:"pid of the session's display server process"`
	Sharing           bool       `json:"sharing" doc:"sharing parameter when the session was started"`
	Started           time.Time  `json:"started" doc:"when the session was started (RFC 3339)"`
	VideoRAM          int        `json:"videoRam" doc:"video RAM parameter when the session was started, in KiB"`
	WindowMode        string     `json:"windowMode" doc:"window mode of the session: rootless or desktop"`
	Name              string     `json:"name" doc:"deskhub: display name of the session (the name parameter)"`
	State             string     `json:"state" doc:"deskhub: starting, running, stopping or stopped"`
	Frozen            bool       `json:"frozen" doc:"deskhub: the desktop is frozen, idle (--freeze-idle); its state stays running and session/connect thaws it"`
}

// SessionLog is the answer of /v3/api/session/log (the seed leaves it TODO).
type SessionLog struct {
	ID        string `json:"id" doc:"session id"`
	Log       string `json:"log" doc:"the end of the session's log (display server, window manager, command), UTF-8"`
	Size      int64  `json:"size" doc:"size of the whole log in bytes"`
	Truncated bool   `json:"truncated" doc:"log holds only the last LogTailBytes bytes"`
}

// ParamsRequest is the body of /v3/api/session/params.
type ParamsRequest struct {
	ID     string `json:"id" required:"true" doc:"session id"`
	Params Params `json:"params,omitempty" doc:"key/value pairs to set; an empty value deletes the key"`
}

// Validate checks the parameters.
func (r *ParamsRequest) Validate() error { return checkParams("params", r.Params) }

// ScheduleRequest is the body of /v3/api/session/schedule (not described by the seed).
type ScheduleRequest struct {
	Command  string    `json:"command" required:"true" doc:"command to run"`
	Geometry string    `json:"geometry,omitempty" doc:"geometry of the session: WIDTHxHEIGHT or rootless"`
	Name     string    `json:"name,omitempty" doc:"name parameter of the session"`
	Params   Params    `json:"params,omitempty" doc:"user defined parameters"`
	At       time.Time `json:"at" required:"true" doc:"when to start the session (RFC 3339; in the past: at once)"`
	ServerID string    `json:"serverId,omitempty" doc:"deskhub: the server to start on, as in session/start; empty: the placement strategy chooses at start time"`
}

// Validate checks geometry and parameters.
func (r *ScheduleRequest) Validate() error {
	if err := checkGeometry("geometry", r.Geometry); err != nil {
		return err
	}
	return checkParams("params", r.Params)
}

// Schedule is a session to be started later: the answer of /v3/api/session/schedule.
type Schedule struct {
	ID       string    `json:"id" doc:"schedule id; the started session gets this id"`
	At       time.Time `json:"at" doc:"when the session starts (RFC 3339)"`
	Command  string    `json:"command" doc:"command to run"`
	Geometry string    `json:"geometry" doc:"geometry of the session: WIDTHxHEIGHT or rootless"`
	Name     string    `json:"name,omitempty" doc:"name parameter of the session"`
	Params   Params    `json:"params,omitempty" doc:"user defined parameters"`
}

// Screenshot formats.
const (
	FormatPNG  = "png"
	FormatJPEG = "jpeg"
)

// MaxScreenshotSide bounds a screenshot's width and height in pixels (an 8192x8192 RGBA image is
// already 256 MiB to scale and encode).
const MaxScreenshotSide = 8192

// ScreenshotRequest is the body of /v3/api/session/screenshot.
type ScreenshotRequest struct {
	ID         string `json:"id" required:"true" doc:"session id"`
	Width      int    `json:"width,omitempty" doc:"screenshot width in pixels (at most 8192)"`
	Height     int    `json:"height,omitempty" doc:"screenshot height in pixels (at most 8192)"`
	Format     string `json:"format,omitempty" doc:"image format: png (default) or jpeg"`
	KeepAspect *int   `json:"keep_aspect,omitempty" doc:"1: keep the aspect ratio when reducing the image, 0: do not"`
	Geometry   string `json:"geometry,omitempty" doc:"WIDTHxHEIGHT in pixels, instead of width and height"`
}

// Validate checks size, format and keep_aspect.
func (r *ScreenshotRequest) Validate() error {
	switch r.Format {
	case "", FormatPNG, FormatJPEG:
	default:
		return field.Errorf("format", "must be %q or %q, not %q", FormatPNG, FormatJPEG, r.Format)
	}
	if r.KeepAspect != nil && *r.KeepAspect != 0 && *r.KeepAspect != 1 {
		return field.Errorf("keep_aspect", "must be 1 or 0")
	}
	for _, m := range []struct {
		name string
		v    int
	}{{"width", r.Width}, {"height", r.Height}} {
		if m.v < 0 || m.v > MaxScreenshotSide {
			return field.Errorf(m.name, "must be from 1 to %d (0 or absent: the session's size), not %d", MaxScreenshotSide, m.v)
		}
	}
	if r.Geometry == Rootless {
		return field.Errorf("geometry", "must be WIDTHxHEIGHT")
	}
	if err := checkGeometry("geometry", r.Geometry); err != nil {
		return err
	}
	if w, h, _, _ := ParseGeometry(r.Geometry); w > MaxScreenshotSide || h > MaxScreenshotSide {
		return field.Errorf("geometry", "must be at most %dx%d, not %q", MaxScreenshotSide, MaxScreenshotSide, r.Geometry)
	}
	return nil
}

// Screenshot is the answer of /v3/api/session/screenshot.
type Screenshot struct {
	Src string `json:"src" doc:"data URL of the image"`
}

// ShortcutRequest is the body of /v3/api/session/shortcut.
type ShortcutRequest struct {
	ID string `json:"id" required:"true" doc:"bookmark id to search for"`
}

// StartRequest is the body of /v3/api/session/start.
type StartRequest struct {
	Command  string `json:"command" required:"true" doc:"command to execute"`
	Geometry string `json:"geometry,omitempty" doc:"geometry of the session: WIDTHxHEIGHT or rootless"`
	ID       string `json:"id,omitempty" doc:"id to give the session"`
	Name     string `json:"name,omitempty" doc:"name parameter of the session"`
	Params   Params `json:"params,omitempty" doc:"user defined parameters"`
	ServerID string `json:"serverId,omitempty" doc:"deskhub: the server to start on (session/profile's servers: the host's id, or lxd-<server_id> for an LXD server); empty: the placement strategy chooses"`
}

// Validate checks geometry and parameters.
func (r *StartRequest) Validate() error {
	if err := checkGeometry("geometry", r.Geometry); err != nil {
		return err
	}
	return checkParams("params", r.Params)
}

// BookmarkRef names one bookmark (session/start/bookmark, bookmark/delete).
type BookmarkRef struct {
	ID string `json:"id" required:"true" doc:"bookmark id"`
}
