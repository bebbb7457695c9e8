package imagebuild

import (
	"bufio"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Source is one entry of apt's sources: the one-line format of sources.list and *.list files, or a
// paragraph of a deb822 *.sources file.
type Source struct {
	Types      []string // deb, deb-src
	URIs       []string
	Suites     []string
	Components []string
}

// ParseSourcesList parses the one-line format: "deb [opt=value …] URI SUITE [COMPONENT…]". Comments
// (from # to the end of the line) and blank lines are ignored, so are malformed lines.
func ParseSourcesList(r io.Reader) ([]Source, error) {
	var out []Source
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		typ, rest, _ := strings.Cut(line, " ")
		if typ != "deb" && typ != "deb-src" {
			continue
		}
		rest = strings.TrimSpace(rest)
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 2 {
			continue
		}
		out = append(out, Source{Types: []string{typ}, URIs: []string{f[0]}, Suites: []string{f[1]}, Components: f[2:]})
	}
	return out, sc.Err()
}

// ParseDeb822Sources parses the deb822 format of *.sources files: paragraphs of "Field: value" lines
// separated by blank lines, continuation lines starting with white space, # comment lines. Field names
// are case-insensitive; a paragraph with "Enabled: no" is left out.
func ParseDeb822Sources(r io.Reader) ([]Source, error) {
	var out []Source
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			s := Source{
				Types:      strings.Fields(fields["types"]),
				URIs:       strings.Fields(fields["uris"]),
				Suites:     strings.Fields(fields["suites"]),
				Components: strings.Fields(fields["components"]),
			}
			if len(s.Types) > 0 && len(s.URIs) > 0 && len(s.Suites) > 0 {
				out = append(out, s)
			}
		}
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
			continue
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out, sc.Err()
}

// MirrorFor picks the Debian mirror for suite among sources: the first URI of a "deb" source that
// lists suite itself, else of one that lists suite-something (bookworm-updates; not -security), else
// the first whose path ends in /debian. It answers "" when none fits.
func MirrorFor(sources []Source, suite string) string {
	usable := func(u string) bool {
		p, err := url.Parse(u)
		if err != nil {
			return false
		}
		switch p.Scheme {
		case "http", "https", "ftp", "file":
			return true
		}
		return false
	}
	pick := func(match func(Source) bool) string {
		for _, s := range sources {
			if !slices.Contains(s.Types, "deb") || !match(s) {
				continue
			}
			for _, u := range s.URIs {
				if usable(u) && !strings.Contains(u, "security") {
					return strings.TrimSuffix(u, "/")
				}
			}
		}
		return ""
	}
	if m := pick(func(s Source) bool { return slices.Contains(s.Suites, suite) }); m != "" {
		return m
	}
	if m := pick(func(s Source) bool {
		for _, x := range s.Suites {
			if strings.HasPrefix(x, suite+"-") && !strings.HasSuffix(x, "-security") {
				return true
			}
		}
		return false
	}); m != "" {
		return m
	}
	return pick(func(s Source) bool {
		for _, u := range s.URIs {
			if strings.HasSuffix(strings.TrimSuffix(u, "/"), "/debian") {
				return true
			}
		}
		return false
	})
}

// ReadSources reads the apt sources of the system whose root is root: etc/apt/sources.list, then
// etc/apt/sources.list.d/*.list and *.sources in name order (apt's order). Missing files are skipped.
func ReadSources(root string) ([]Source, error) {
	dir := filepath.Join(root, "etc", "apt")
	files := []string{filepath.Join(dir, "sources.list")}
	entries, _ := os.ReadDir(filepath.Join(dir, "sources.list.d"))
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".list") || strings.HasSuffix(n, ".sources")) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, filepath.Join(dir, "sources.list.d", n))
	}
	var out []Source
	for _, p := range files {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var s []Source
		if strings.HasSuffix(p, ".sources") {
			s, err = ParseDeb822Sources(f)
		} else {
			s, err = ParseSourcesList(f)
		}
		f.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	return out, nil
}

// DetectMirror is the Debian mirror the apt sources under root name for suite (MirrorFor), or
// DefaultMirror when they name none.
func DetectMirror(root, suite string) string {
	sources, err := ReadSources(root)
	if err == nil {
		if m := MirrorFor(sources, suite); m != "" {
			return m
		}
	}
	return DefaultMirror
}
