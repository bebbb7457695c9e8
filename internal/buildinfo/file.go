package buildinfo

import (
	"debug/buildinfo"
	"strings"
)

// FromFile reads the build information of another deskhub binary without running it (it may be built
// for another architecture): the -X values of its -ldflags, else its Go VCS stamp, as Get does for
// this binary. Version is "" when the file is a Go binary that says nothing.
func FromFile(path string) (Info, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return Info{}, err
	}
	info := Info{Go: bi.GoVersion}
	const pkg = "github.com/deskhub/deskhub/internal/buildinfo."
	for _, s := range bi.Settings {
		switch s.Key {
		case "-ldflags":
			for _, f := range strings.Fields(s.Value) {
				kv, ok := strings.CutPrefix(f, pkg)
				if !ok {
					continue
				}
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "version":
					info.Version = v
				case "commit":
					info.Commit = v
				case "date":
					info.Date = v
				}
			}
		}
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
		}
	}
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	return info, nil
}
