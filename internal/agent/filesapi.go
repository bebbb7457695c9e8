package agent

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/text/language"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/files"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// The file, store and application endpoints, all confined to the desktop user's home.

// filesErr maps the files package's input errors to 4xx.
func filesErr(member string, err error) error {
	var ke *files.KeyError
	var pe *files.PathError
	var ie *files.InputError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ke):
		return fault.Memberf(member, ": %v", err)
	case errors.As(err, &pe):
		return fault.Memberf(member, ": %v", err)
	case errors.As(err, &ie):
		return fault.Memberf(member, ": %v", err)
	case errors.Is(err, files.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		return httpapi.NotFound("%s: not found", member)
	}
	return err
}

func (a *Agent) store() (files.Store, error) { return files.HomeStore(a.o.Home) }

func (a *Agent) setDesktop(_ *httpapi.Call, r *spawner.SetDesktop) (string, error) {
	st, err := a.store()
	if err != nil {
		return "", err
	}
	return "ok", filesErr("key", st.Set(r.Key, r.Value))
}

func (a *Agent) getDesktop(_ *httpapi.Call, r *spawner.GetDesktop) (any, error) {
	st, err := a.store()
	if err != nil {
		return nil, err
	}
	v, err := st.Get(r.Key)
	if errors.Is(err, files.ErrNotFound) {
		return nil, httpapi.NotFound("no value stored under %q", r.Key)
	}
	return v, filesErr("key", err)
}

// mime loads the shared-mime-info database once.
func (a *Agent) mime() (*files.MIME, error) {
	a.mimeOnce.Do(func() { a.mimeDB, a.mimeErr = files.LoadMIME(files.DefaultMIMEDirs()...) })
	return a.mimeDB, a.mimeErr
}

func (a *Agent) mimeForFile(_ *httpapi.Call, r *spawner.GetMimeForFile) (spawner.FileMatch, error) {
	path, err := files.Confine(a.o.Home, r.Filename)
	if err != nil {
		return spawner.FileMatch{}, filesErr("filename", err)
	}
	m, err := a.mime()
	if err != nil {
		return spawner.FileMatch{}, err
	}
	t, err := m.TypeOf(path)
	if err != nil {
		return spawner.FileMatch{}, filesErr("filename", err)
	}
	return spawner.FileMatch{File: r.Filename, Mime: t}, nil
}

func (a *Agent) appsForFile(c *httpapi.Call, r *spawner.GetAppForFile) ([]spawner.AppForFile, error) {
	fm, err := a.mimeForFile(c, &spawner.GetMimeForFile{Filename: r.Filename})
	if err != nil {
		return nil, err
	}
	m, _ := a.mime()
	entries, err := files.LoadEntries(a.entryDirs()...)
	if err != nil {
		return nil, err
	}
	out := []spawner.AppForFile{}
	for _, e := range files.AppsForMIME(entries, m, fm.Mime) {
		args, err := files.ExecArgs(e, []string{filepath.Join(a.o.Home, r.Filename)})
		if err != nil || len(args) == 0 {
			continue
		}
		out = append(out, spawner.AppForFile{Command: e.ID, Args: strings.Join(args[1:], " ")})
	}
	return out, nil
}

func (a *Agent) entryDirs() []string {
	return append(files.DefaultEntryDirs(), filepath.Join(a.o.Home, ".local", "share", "applications"))
}

func (a *Agent) fileSearch(c *httpapi.Call, r *spawner.FileSearch) ([]spawner.FileMatch, error) {
	m, err := a.mime()
	if err != nil {
		return nil, err
	}
	max := 0
	if r.MaxFile != nil {
		max = *r.MaxFile
	}
	found, err := files.Search(c.Ctx, a.o.Home, r.Keywords, max, m)
	if err != nil {
		return nil, filesErr("keywords", err)
	}
	out := make([]spawner.FileMatch, 0, len(found))
	for _, f := range found {
		out = append(out, spawner.FileMatch{File: f.File, Mime: f.Mime})
	}
	return out, nil
}

func (a *Agent) generateDesktopFiles(_ *httpapi.Call, r *spawner.GenerateDesktopFiles) (string, error) {
	apps := make([]files.NewApp, 0, len(r.List))
	for _, d := range r.List {
		apps = append(apps, files.NewApp{Mimetype: d.Mimetype, Path: d.Path, Executablefilename: d.ExecutableFilename,
			Icon: d.Icon, Name: d.Name, Launch: d.Launch})
	}
	dir := filepath.Join(a.o.Home, ".local", "share", "applications")
	written, err := files.WriteDesktopFiles(dir, apps)
	if err != nil {
		return "", filesErr("list", err)
	}
	return strings.Join(written, " "), nil
}

// launch starts an application of the allowlist: the desktop's entries (by id, e.g. "xterm" for
// xterm.desktop, or their program name) plus Options.Apps. No shell; cwd HOME; LANG from
// Accept-Language.
func (a *Agent) launch(c *httpapi.Call, r *spawner.Launch) (spawner.LaunchResult, error) {
	pid, _, err := a.start(c, r.Command, r.Args)
	if err != nil {
		return spawner.LaunchResult{}, err
	}
	return spawner.LaunchResult{Pid: pid, Command: r.Command}, nil
}

// resolve finds the program line of an application of the allowlist by name (nil: none).
func (a *Agent) resolve(entries []files.Entry, name string) []string {
	for _, e := range entries {
		exec0, _ := files.ExecArgs(e, nil)
		if e.ID == name || strings.TrimSuffix(e.ID, ".desktop") == name || len(exec0) > 0 && filepath.Base(exec0[0]) == name {
			return exec0
		}
	}
	if slices.Contains(a.o.Apps, name) {
		return []string{name}
	}
	return nil
}

// start runs an application of the allowlist named command with args; it answers its pid and its
// command line.
func (a *Agent) start(c *httpapi.Call, command string, args []string) (int, []string, error) {
	entries, err := files.LoadEntries(a.entryDirs()...)
	if err != nil {
		return 0, nil, err
	}
	argv := a.resolve(entries, command)
	if argv == nil {
		// abcdesktop names applications by their window class, instance.Class (xterm.XTerm): the
		// instance, else the class in lower case, names the program.
		if inst, class, ok := strings.Cut(command, "."); ok {
			if argv = a.resolve(entries, inst); argv == nil {
				argv = a.resolve(entries, strings.ToLower(class))
			}
		}
	}
	if argv == nil {
		return 0, nil, fault.Memberf("command", ": %q is not an application of this desktop", command)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return 0, nil, fault.Memberf("command", ": %s is not installed", argv[0])
	}
	line := append(argv[1:len(argv):len(argv)], args...)
	cmd := exec.Command(path, line...)
	cmd.Dir = a.o.Home
	cmd.Env = append(os.Environ(), "DISPLAY="+a.o.Display, "HOME="+a.o.Home, "LANG="+langFrom(c.R))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, nil, fault.Memberf("command", ": %v", err)
	}
	go func() {
		_ = cmd.Wait()
		a.events.publish(spawner.Event{Type: "proc.killed", Data: map[string]any{"pid": cmd.Process.Pid, "command": command,
			"exitCode": cmd.ProcessState.ExitCode()}})
	}()
	a.events.publish(spawner.Event{Type: "proc.started", Data: map[string]any{"pid": cmd.Process.Pid, "command": command}})
	return cmd.Process.Pid, append([]string{path}, line...), nil
}

// langFrom is a POSIX locale from Accept-Language (en-US → en_US.UTF-8), default C.UTF-8.
func langFrom(r *http.Request) string {
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "C.UTF-8"
	}
	base, _ := tags[0].Base()
	region, conf := tags[0].Region()
	if conf == language.No || region.String() == "ZZ" {
		return base.String() + ".UTF-8"
	}
	return base.String() + "_" + region.String() + ".UTF-8"
}
