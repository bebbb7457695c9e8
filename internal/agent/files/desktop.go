package files

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Entry is a parsed desktop entry of Type=Application.
type Entry struct {
	ID        string // desktop-file id (set by LoadEntries), e.g. "org.gnome.gedit.desktop"
	Name      string
	Exec      string // unescaped Exec value (still in Exec quoting syntax)
	Icon      string
	Path      string // working directory
	MimeTypes []string
	NoDisplay bool
	Terminal  bool
	File      string // path of the .desktop file (set by LoadEntries)

	hidden bool
}

// maxDesktopEntrySize bounds what ParseDesktopEntry reads.
const maxDesktopEntrySize = 1 << 20

// ErrNotApplication is returned by ParseDesktopEntry for entries that are
// not Type=Application.
var ErrNotApplication = errors.New("files: desktop entry is not Type=Application")

// ParseDesktopEntry parses the [Desktop Entry] group of a desktop file.
// Localized keys (Key[locale]) are ignored; string escapes (\s \n \t \r \\,
// and \; in lists) are decoded. Only Type=Application entries are accepted;
// Name and Exec are required unless the entry is Hidden.
func ParseDesktopEntry(r io.Reader) (Entry, error) {
	var e Entry
	sc := bufio.NewScanner(io.LimitReader(r, maxDesktopEntrySize))
	sc.Buffer(make([]byte, 64*1024), maxDesktopEntrySize)
	inGroup, seenGroup := false, false
	var typ string
	seen := map[string]bool{}
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), " \t\r")
		trimmed := strings.TrimLeft(line, " \t")
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		if trimmed[0] == '[' {
			if !strings.HasSuffix(trimmed, "]") {
				return Entry{}, fmt.Errorf("line %d: bad group header", lineNo)
			}
			g := trimmed[1 : len(trimmed)-1]
			if g == "Desktop Entry" {
				if seenGroup {
					return Entry{}, fmt.Errorf("line %d: duplicate [Desktop Entry] group", lineNo)
				}
				seenGroup = true
				inGroup = true
			} else {
				if !seenGroup {
					return Entry{}, fmt.Errorf("line %d: [Desktop Entry] must be the first group", lineNo)
				}
				inGroup = false
			}
			continue
		}
		if !seenGroup {
			return Entry{}, fmt.Errorf("line %d: key outside any group", lineNo)
		}
		k, v, ok := strings.Cut(trimmed, "=")
		if !ok {
			return Entry{}, fmt.Errorf("line %d: expected key=value", lineNo)
		}
		if !inGroup {
			continue
		}
		k = strings.TrimRight(k, " \t")
		v = strings.TrimLeft(v, " \t")
		if strings.Contains(k, "[") { // localized
			continue
		}
		if seen[k] {
			continue // first one wins
		}
		seen[k] = true
		switch k {
		case "Type":
			typ = unescapeString(v)
		case "Name":
			e.Name = unescapeString(v)
		case "Exec":
			e.Exec = unescapeString(v)
		case "Icon":
			e.Icon = unescapeString(v)
		case "Path":
			e.Path = unescapeString(v)
		case "MimeType":
			e.MimeTypes = splitList(v)
		case "NoDisplay":
			e.NoDisplay = v == "true"
		case "Terminal":
			e.Terminal = v == "true"
		case "Hidden":
			e.hidden = v == "true"
		}
	}
	if err := sc.Err(); err != nil {
		return Entry{}, err
	}
	if !seenGroup {
		return Entry{}, errors.New("no [Desktop Entry] group")
	}
	if typ != "Application" {
		return Entry{}, ErrNotApplication
	}
	if !e.hidden && (e.Name == "" || e.Exec == "") {
		return Entry{}, errors.New("Name and Exec are required")
	}
	return e, nil
}

func unescapeString(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' || i+1 == len(v) {
			b.WriteByte(c)
			continue
		}
		i++
		switch v[i] {
		case 's':
			b.WriteByte(' ')
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// splitList splits a ';'-separated list value (with \; escapes), dropping
// empty items.
func splitList(v string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		if s := unescapeString(cur.String()); s != "" {
			out = append(out, s)
		}
		cur.Reset()
	}
	for i := 0; i < len(v); i++ {
		switch {
		case v[i] == '\\' && i+1 < len(v) && v[i+1] == ';':
			cur.WriteByte(';')
			i++
		case v[i] == '\\' && i+1 < len(v):
			cur.WriteByte('\\')
			cur.WriteByte(v[i+1])
			i++
		case v[i] == ';':
			flush()
		default:
			cur.WriteByte(v[i])
		}
	}
	flush()
	return out
}

// DefaultEntryDirs returns the data directories LoadEntries uses when none
// are given (same as DefaultMIMEDirs: least important first).
func DefaultEntryDirs() []string { return DefaultMIMEDirs() }

// LoadEntries reads <dir>/applications/**/*.desktop of each data directory.
// Later directories override earlier ones by desktop-file id (the path below
// applications/ with '/' replaced by '-'); a Hidden=true entry removes the
// id. Files that do not parse or are not applications are skipped. The result
// is sorted by ID.
func LoadEntries(dirs ...string) ([]Entry, error) {
	if len(dirs) == 0 {
		dirs = DefaultEntryDirs()
	}
	byID := map[string]Entry{}
	for _, d := range dirs {
		if err := loadAppsDir(filepath.Join(d, "applications"), byID); err != nil {
			return nil, err
		}
	}
	return sortedEntries(byID), nil
}

func sortedEntries(byID map[string]Entry) []Entry {
	out := make([]Entry, 0, len(byID))
	for _, e := range byID {
		if !e.hidden {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func loadAppsDir(root string, byID map[string]Entry) error {
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			if d != nil && d.IsDir() && p != root {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".desktop") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil
		}
		id := strings.ReplaceAll(filepath.ToSlash(rel), "/", "-")
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		e, err := ParseDesktopEntry(f)
		f.Close()
		if err != nil {
			if errors.Is(err, ErrNotApplication) {
				delete(byID, id) // a later non-application file still shadows the id
			}
			return nil
		}
		e.ID, e.File = id, p
		byID[id] = e
		return nil
	})
	return err
}

// AppsFor returns the entries whose MimeType lists mime (case-insensitive),
// in input order.
func AppsFor(entries []Entry, mime string) []Entry {
	var out []Entry
	for _, e := range entries {
		if e.hidden {
			continue
		}
		for _, t := range e.MimeTypes {
			if strings.EqualFold(t, mime) {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// SplitExec splits an (already string-unescaped) Exec value into arguments
// following the desktop entry spec: arguments are separated by spaces, and
// an argument may be enclosed in double quotes, inside which \" \` \$ and \\
// are escapes. Field codes are left as they are.
func SplitExec(exec string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inArg, inQuote := false, false
	for i := 0; i < len(exec); i++ {
		c := exec[i]
		switch {
		case inQuote:
			if c == '\\' && i+1 < len(exec) && strings.IndexByte("\"`$\\", exec[i+1]) >= 0 {
				cur.WriteByte(exec[i+1])
				i++
			} else if c == '"' {
				inQuote = false
			} else {
				cur.WriteByte(c)
			}
		case c == '"':
			inQuote, inArg = true, true
		case c == ' ' || c == '\t' || c == '\n':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(c)
			inArg = true
		}
	}
	if inQuote {
		return nil, &InputError{"Exec", "unterminated quote"}
	}
	if inArg {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, &InputError{"Exec", "empty command"}
	}
	return args, nil
}

// ExecArgs builds the argv to launch e with files (no shell involved).
// Field codes: %f/%u → the file (only one file allowed), %F/%U → all files
// (must be a whole argument), %i → "--icon" <Icon> (if Icon is set),
// %c → Name, %k → the desktop file's location, %% → %. The deprecated
// %d %D %n %N %v %m are removed. Files given to an entry without a file
// field code are ignored, as the spec says.
func ExecArgs(e Entry, files []string) ([]string, error) {
	raw, err := SplitExec(e.Exec)
	if err != nil {
		return nil, err
	}
	var out []string
	for ai, a := range raw {
		if a == "%F" || a == "%U" {
			out = append(out, files...)
			continue
		}
		if a == "%i" {
			if e.Icon != "" {
				out = append(out, "--icon", e.Icon)
			}
			continue
		}
		var b strings.Builder
		dropped := false
		for i := 0; i < len(a); i++ {
			if a[i] != '%' {
				b.WriteByte(a[i])
				continue
			}
			if i+1 == len(a) {
				return nil, &InputError{"Exec", "dangling %"}
			}
			i++
			switch a[i] {
			case '%':
				b.WriteByte('%')
			case 'f', 'u':
				if len(files) > 1 {
					return nil, &InputError{"files", "this application takes a single file per launch"}
				}
				if len(files) == 1 {
					b.WriteString(files[0])
				} else if len(a) == 2 {
					dropped = true
				}
			case 'c':
				b.WriteString(e.Name)
			case 'k':
				b.WriteString(e.File)
			case 'd', 'D', 'n', 'N', 'v', 'm':
				if len(a) == 2 {
					dropped = true
				}
			case 'F', 'U', 'i':
				return nil, &InputError{"Exec", fmt.Sprintf("%%%c must be a whole argument", a[i])}
			default:
				return nil, &InputError{"Exec", fmt.Sprintf("unknown field code %%%c", a[i])}
			}
		}
		if dropped {
			continue
		}
		if ai == 0 && b.Len() == 0 {
			return nil, &InputError{"Exec", "empty program"}
		}
		out = append(out, b.String())
	}
	if len(out) == 0 || out[0] == "" {
		return nil, &InputError{"Exec", "empty program"}
	}
	return out, nil
}

// AppsForMIME is AppsFor that also considers the type's aliases and parent
// types (nearest first, e.g. text/x-readme → text/plain); each entry
// appears once, at its best match. application/octet-stream handlers are
// only used when asked for that type directly.
func AppsForMIME(entries []Entry, m *MIME, mime string) []Entry {
	var out []Entry
	seen := map[string]bool{}
	for i, t := range m.Ancestors(mime) {
		if i > 0 && t == "application/octet-stream" {
			continue
		}
		for _, e := range AppsFor(entries, t) {
			key := e.ID + "\x00" + e.File
			if !seen[key] {
				seen[key] = true
				out = append(out, e)
			}
		}
	}
	return out
}
