package files

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// NewApp is one item of the generateDesktopFiles list.
type NewApp struct {
	Mimetype           string `json:"mimetype"`           // ';' or ',' separated MIME types
	Path               string `json:"path"`               // working directory (Path=), absolute, optional
	Executablefilename string `json:"executablefilename"` // base for the file name (else Name)
	Icon               string `json:"icon"`
	Name               string `json:"name"`
	Launch             string `json:"launch"` // Exec command line (desktop-entry quoting)
}

var mimeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)
})

// SanitizeName maps s to a desktop file base name made of [a-z0-9-]
// (accents folded, runs of other characters become one '-', trimmed), at
// most 64 bytes; "" if nothing is left.
func SanitizeName(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range Fold(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 64 {
			break
		}
	}
	return strings.Trim(b.String(), "-")
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// escapeValue escapes a string for a desktop entry value.
func escapeValue(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`)
	s = r.Replace(s)
	if strings.HasPrefix(s, " ") {
		s = `\s` + s[1:]
	}
	return s
}

type validatedApp struct {
	file, id string
	text     string
}

func validateApp(i int, a NewApp) (validatedApp, error) {
	field := func(f string) string { return fmt.Sprintf("list[%d].%s", i, f) }
	for f, v := range map[string]string{"name": a.Name, "launch": a.Launch, "icon": a.Icon, "path": a.Path, "mimetype": a.Mimetype, "executablefilename": a.Executablefilename} {
		if hasControl(v) {
			return validatedApp{}, &InputError{field(f), "contains control characters"}
		}
		if len(v) > 4096 {
			return validatedApp{}, &InputError{field(f), "too long"}
		}
	}
	name := strings.TrimSpace(a.Name)
	if name == "" {
		return validatedApp{}, &InputError{field("name"), "required"}
	}
	launch := strings.TrimSpace(a.Launch)
	if launch == "" {
		return validatedApp{}, &InputError{field("launch"), "required"}
	}
	base := SanitizeName(a.Executablefilename)
	if base == "" {
		base = SanitizeName(a.Name)
	}
	if base == "" {
		return validatedApp{}, &InputError{field("executablefilename"), "no usable file name"}
	}
	var mimes []string
	for _, t := range strings.FieldsFunc(a.Mimetype, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
		if !mimeRE().MatchString(t) {
			return validatedApp{}, &InputError{field("mimetype"), fmt.Sprintf("%q is not a MIME type", t)}
		}
		mimes = append(mimes, t)
	}
	if a.Path != "" && (!filepath.IsAbs(a.Path) || strings.Contains(a.Path, "\x00")) {
		return validatedApp{}, &InputError{field("path"), "must be an absolute directory"}
	}
	exec := launch
	if len(mimes) > 0 && !hasFileCode(exec) {
		exec += " %F" // registered for MIME types: it must receive the files
	}
	// The command line must be valid Exec syntax with valid field codes.
	probe := Entry{Name: name, Exec: exec, Icon: a.Icon}
	if _, err := ExecArgs(probe, []string{"/probe"}); err != nil {
		return validatedApp{}, &InputError{field("launch"), err.Error()}
	}
	var b strings.Builder
	b.WriteString("[Desktop Entry]\nType=Application\nVersion=1.5\n")
	fmt.Fprintf(&b, "Name=%s\n", escapeValue(name))
	fmt.Fprintf(&b, "Exec=%s\n", escapeValue(exec))
	if a.Icon != "" {
		fmt.Fprintf(&b, "Icon=%s\n", escapeValue(a.Icon))
	}
	if a.Path != "" {
		fmt.Fprintf(&b, "Path=%s\n", escapeValue(a.Path))
	}
	if len(mimes) > 0 {
		fmt.Fprintf(&b, "MimeType=%s;\n", strings.Join(mimes, ";"))
	}
	b.WriteString("Terminal=false\n")
	return validatedApp{file: base + ".desktop", id: base + ".desktop", text: b.String()}, nil
}

// WriteDesktopFiles validates every app, then writes <appsDir>/<name>.desktop
// for each (atomically, 0644) and regenerates <appsDir>/mimeinfo.cache. File
// names are sanitised to [a-z0-9-]; nothing is written outside appsDir. If
// any app is invalid nothing is written. Returns the written paths.
func WriteDesktopFiles(appsDir string, apps []NewApp) ([]string, error) {
	if appsDir == "" || !filepath.IsAbs(appsDir) {
		return nil, &InputError{"appsDir", "must be an absolute path"}
	}
	if len(apps) == 0 {
		return nil, &InputError{"list", "empty"}
	}
	if len(apps) > 1000 {
		return nil, &InputError{"list", "too many entries"}
	}
	var vs []validatedApp
	names := map[string]int{}
	for i, a := range apps {
		v, err := validateApp(i, a)
		if err != nil {
			return nil, err
		}
		if j, dup := names[v.file]; dup {
			return nil, &InputError{fmt.Sprintf("list[%d]", i), fmt.Sprintf("same file name %q as list[%d]", v.file, j)}
		}
		names[v.file] = i
		vs = append(vs, v)
	}
	if err := os.MkdirAll(appsDir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	for _, v := range vs {
		p := filepath.Join(appsDir, v.file)
		if filepath.Dir(p) != filepath.Clean(appsDir) { // belt and braces
			return written, &InputError{"name", "escapes the applications directory"}
		}
		if err := writeAtomic(p, []byte(v.text), 0o644); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, UpdateMIMECache(appsDir)
}

// UpdateMIMECache rewrites <appsDir>/mimeinfo.cache from the desktop files
// below appsDir, like update-desktop-database.
func UpdateMIMECache(appsDir string) error {
	byID := map[string]Entry{}
	if err := loadAppsDir(appsDir, byID); err != nil {
		return err
	}
	cache := map[string][]string{}
	for _, e := range sortedEntries(byID) {
		for _, t := range e.MimeTypes {
			if mimeRE().MatchString(t) {
				cache[t] = append(cache[t], e.ID)
			}
		}
	}
	types := make([]string, 0, len(cache))
	for t := range cache {
		types = append(types, t)
	}
	sort.Strings(types)
	var b strings.Builder
	b.WriteString("[MIME Cache]\n")
	for _, t := range types {
		fmt.Fprintf(&b, "%s=%s;\n", t, strings.Join(cache[t], ";"))
	}
	return writeAtomic(filepath.Join(appsDir, "mimeinfo.cache"), []byte(b.String()), 0o644)
}

func hasFileCode(exec string) bool {
	for _, c := range []string{"%f", "%F", "%u", "%U"} {
		if strings.Contains(exec, c) {
			return true
		}
	}
	return false
}
