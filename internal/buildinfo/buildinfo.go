// Package buildinfo tells which deskhub this is: version, commit and build date. The release build sets
// the variables with -ldflags "-X"; otherwise the values come from the Go toolchain's VCS stamp.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"time"
)

// Set at link time: -X github.com/deskhub/deskhub/internal/buildinfo.version=… (and commit, date).
var (
	version = ""
	commit  = ""
	date    = ""
)

// Info is the build's identity, as `deskhub version` and the agent's GET /version give it.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
	Go      string `json:"go"`
}

// Get returns this binary's build information.
func Get() Info {
	info := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				if s.Value == "true" && info.Commit != "" && commit == "" {
					info.Commit += "-dirty"
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = "0.1.0-dev"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = time.Time{}.Format(time.RFC3339)
	}
	return info
}
