package files

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// SniffSize is how much of a file TypeOf reads for magic sniffing.
const SniffSize = 4096

// MIME is a loaded freedesktop shared-mime-info database (globs2, magic,
// subclasses, aliases).
type MIME struct {
	literal    map[string][]glob // lower-cased (or exact for cs) full names
	suffix     map[string][]glob // "*<literal>" patterns keyed by the literal
	literalCS  map[string][]glob
	suffixCS   map[string][]glob
	other      []glob // patterns needing path.Match
	magic      []magicSection
	parents    map[string][]string
	aliases    map[string]string
	maxSuffix  int
	hasEntries bool
}

type glob struct {
	weight  int
	typ     string
	pattern string
	cs      bool
	seq     int // load order, for stable ties
}

type magicSection struct {
	priority int
	typ      string
	matches  []*magicMatch // top-level (indent 0)
}

type magicMatch struct {
	offset   int
	value    []byte
	mask     []byte
	rng      int
	children []*magicMatch
}

// DefaultMIMEDirs returns the data directories LoadMIME uses when none are
// given: $XDG_DATA_DIRS (default /usr/local/share:/usr/share, least important
// last, so they are returned reversed) and then $XDG_DATA_HOME
// (~/.local/share). Later directories override earlier ones.
func DefaultMIMEDirs() []string {
	var dirs []string
	xdd := os.Getenv("XDG_DATA_DIRS")
	if xdd == "" {
		xdd = "/usr/local/share:/usr/share"
	}
	parts := filepath.SplitList(xdd)
	for i := len(parts) - 1; i >= 0; i-- {
		if filepath.IsAbs(parts[i]) {
			dirs = append(dirs, parts[i])
		}
	}
	if h := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(h) {
		dirs = append(dirs, h)
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".local", "share"))
	}
	return dirs
}

// LoadMIME parses <dir>/mime/{globs2,magic,subclasses,aliases} of each data
// directory; later directories take precedence (__NOGLOBS__ / __NOMAGIC__ in a
// later directory remove a type's earlier globs / magic). Missing files are
// skipped; it is an error if no directory had a globs2 or magic file.
func LoadMIME(dirs ...string) (*MIME, error) {
	if len(dirs) == 0 {
		dirs = DefaultMIMEDirs()
	}
	m := &MIME{
		literal: map[string][]glob{}, suffix: map[string][]glob{},
		literalCS: map[string][]glob{}, suffixCS: map[string][]glob{},
		parents: map[string][]string{}, aliases: map[string]string{},
	}
	var globs []glob
	seq := 0
	for _, d := range dirs {
		md := filepath.Join(d, "mime")
		if b, err := os.ReadFile(filepath.Join(md, "globs2")); err == nil {
			m.hasEntries = true
			g, noglobs := parseGlobs2(b, &seq)
			if len(noglobs) > 0 {
				kept := globs[:0]
				for _, x := range globs {
					if !noglobs[x.typ] {
						kept = append(kept, x)
					}
				}
				globs = kept
			}
			globs = append(globs, g...)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if b, err := os.ReadFile(filepath.Join(md, "magic")); err == nil {
			m.hasEntries = true
			secs, nomagic, err := parseMagic(b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(md, "magic"), err)
			}
			if len(nomagic) > 0 {
				kept := m.magic[:0]
				for _, s := range m.magic {
					if !nomagic[s.typ] {
						kept = append(kept, s)
					}
				}
				m.magic = kept
			}
			m.magic = append(m.magic, secs...)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		readPairs(filepath.Join(md, "subclasses"), func(a, b string) { m.parents[a] = append(m.parents[a], b) })
		readPairs(filepath.Join(md, "aliases"), func(a, b string) { m.aliases[a] = b })
	}
	if !m.hasEntries {
		return nil, fmt.Errorf("files: no shared-mime-info database found in %v", dirs)
	}
	for _, g := range globs {
		m.addGlob(g)
	}
	// Highest priority first; stable so that later dirs win among equals
	// only by order of appearance (ties are resolved by first match).
	sort.SliceStable(m.magic, func(i, j int) bool { return m.magic[i].priority > m.magic[j].priority })
	return m, nil
}

func readPairs(name string, f func(a, b string)) {
	b, err := os.ReadFile(name)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) == 2 {
			f(fs[0], fs[1])
		}
	}
}

func parseGlobs2(b []byte, seq *int) ([]glob, map[string]bool) {
	var out []glob
	noglobs := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.SplitN(line, ":", 4)
		if len(f) < 3 {
			continue
		}
		w, err := strconv.Atoi(f[0])
		if err != nil || f[1] == "" || f[2] == "" {
			continue
		}
		if f[2] == "__NOGLOBS__" {
			noglobs[f[1]] = true
			continue
		}
		g := glob{weight: w, typ: f[1], pattern: f[2], seq: *seq}
		*seq++
		if len(f) == 4 {
			for _, flag := range strings.Split(f[3], ",") {
				if flag == "cs" {
					g.cs = true
				}
			}
		}
		out = append(out, g)
	}
	return out, noglobs
}

func (m *MIME) addGlob(g glob) {
	p := g.pattern
	if !g.cs {
		p = strings.ToLower(p)
	}
	lit, suf := m.literal, m.suffix
	if g.cs {
		lit, suf = m.literalCS, m.suffixCS
	}
	switch {
	case !strings.ContainsAny(p, `*?[\`):
		lit[p] = append(lit[p], g)
	case strings.HasPrefix(p, "*") && !strings.ContainsAny(p[1:], `*?[\`):
		suf[p[1:]] = append(suf[p[1:]], g)
		if len(p)-1 > m.maxSuffix {
			m.maxSuffix = len(p) - 1
		}
	default:
		g.pattern = p
		m.other = append(m.other, g)
	}
}

// Globs returns the MIME types whose glob patterns match the base name of
// name, best first: highest weight, then longest pattern.
func (m *MIME) Globs(name string) []string {
	base := filepath.Base(name)
	lower := strings.ToLower(base)
	var hits []glob
	hits = append(hits, m.literalCS[base]...)
	hits = append(hits, m.literal[lower]...)
	for i := 0; i < len(base); i++ {
		if len(base)-i > m.maxSuffix {
			continue
		}
		hits = append(hits, m.suffixCS[base[i:]]...)
	}
	for i := 0; i < len(lower); i++ {
		if len(lower)-i > m.maxSuffix {
			continue
		}
		hits = append(hits, m.suffix[lower[i:]]...)
	}
	for _, g := range m.other { // pattern already lower-cased unless cs
		n := lower
		if g.cs {
			n = base
		}
		if ok, _ := filepath.Match(g.pattern, n); ok {
			hits = append(hits, g)
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, b := hits[i], hits[j]
		if a.weight != b.weight {
			return a.weight > b.weight
		}
		if len(a.pattern) != len(b.pattern) {
			return len(a.pattern) > len(b.pattern)
		}
		return a.seq > b.seq // later directories/lines win ties
	})
	var out []string
	seen := map[string]bool{}
	for _, h := range hits {
		if !seen[h.typ] {
			seen[h.typ] = true
			out = append(out, h.typ)
		}
	}
	return out
}

// Unalias returns the canonical name of a MIME type.
func (m *MIME) Unalias(t string) string {
	if c, ok := m.aliases[t]; ok {
		return c
	}
	return t
}

// IsSubclass reports whether t equals or is a (transitive) subclass of
// parent, with the implicit rules text/* ⊂ text/plain and every non-inode
// type ⊂ application/octet-stream.
func (m *MIME) IsSubclass(t, parent string) bool {
	t, parent = m.Unalias(t), m.Unalias(parent)
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(x string) bool {
		if x == parent {
			return true
		}
		if seen[x] {
			return false
		}
		seen[x] = true
		if parent == "text/plain" && strings.HasPrefix(x, "text/") {
			return true
		}
		if parent == "application/octet-stream" && !strings.HasPrefix(x, "inode/") {
			return true
		}
		for _, p := range m.parents[x] {
			if walk(m.Unalias(p)) {
				return true
			}
		}
		return false
	}
	return walk(t)
}

// Magic returns the MIME type of the highest-priority magic section matching
// data, and its priority; "" if none matches.
func (m *MIME) Magic(data []byte) (string, int) {
	for _, s := range m.magic {
		if s.match(data) {
			return s.typ, s.priority
		}
	}
	return "", 0
}

// TypeOf returns the MIME type of the file at path (following symlinks; the
// caller confines path). Non-regular files map to inode/* types without being
// opened. For regular files: magic sniffing of the first SniffSize bytes; if
// a glob match for the name is the magic type or a subclass of it, the glob
// type wins (foo.tar.gz → application/x-compressed-tar, not
// application/gzip); if both the magic type and the best glob are text
// types, the glob wins; otherwise a magic match wins over the name (a PNG
// called x.txt is image/png). Without magic: the best glob, then text/plain for
// valid UTF-8 text, else application/octet-stream.
func (m *MIME) TypeOf(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	switch mode := fi.Mode(); {
	case mode.IsDir():
		return "inode/directory", nil
	case mode&fs.ModeNamedPipe != 0:
		return "inode/fifo", nil
	case mode&fs.ModeSocket != 0:
		return "inode/socket", nil
	case mode&fs.ModeCharDevice != 0:
		return "inode/chardevice", nil
	case mode&fs.ModeDevice != 0:
		return "inode/blockdevice", nil
	case !mode.IsRegular():
		return "application/octet-stream", nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	buf := make([]byte, SniffSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return "", err
	}
	return m.TypeOfData(filepath.Base(path), buf[:n]), nil
}

// TypeOfData applies TypeOf's rules to a file name and its leading bytes.
func (m *MIME) TypeOfData(name string, data []byte) string {
	globs := m.Globs(name)
	magic, _ := m.Magic(data)
	if magic != "" {
		for _, g := range globs {
			if m.IsSubclass(g, magic) {
				return m.Unalias(g)
			}
		}
		// Text-ish magic (e.g. "%" → text/x-matlab) is weak evidence: a
		// textual name keeps its textual glob type. Otherwise the content
		// wins over the name (a PNG called x.txt is image/png).
		if len(globs) > 0 && m.IsSubclass(magic, "text/plain") && m.IsSubclass(globs[0], "text/plain") {
			return m.Unalias(globs[0])
		}
		return magic
	}
	if len(globs) > 0 {
		return m.Unalias(globs[0])
	}
	if looksText(data) {
		return "text/plain"
	}
	return "application/octet-stream"
}

func looksText(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	// A multi-byte sequence may have been cut at the sniff boundary.
	if len(b) == SniffSize {
		for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
			if utf8.Valid(b) {
				break
			}
			b = b[:len(b)-1]
		}
	}
	if !utf8.Valid(b) {
		return false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\f' && r != 0x1b && r != '\b' {
			return false
		}
	}
	return true
}

func (s *magicSection) match(data []byte) bool {
	for _, mm := range s.matches {
		if mm.match(data) {
			return true
		}
	}
	return false
}

func (mm *magicMatch) match(data []byte) bool {
	if !mm.test(data) {
		return false
	}
	if len(mm.children) == 0 {
		return true
	}
	for _, c := range mm.children {
		if c.match(data) {
			return true
		}
	}
	return false
}

func (mm *magicMatch) test(data []byte) bool {
	n := len(mm.value)
	for i := 0; i < mm.rng; i++ {
		start := mm.offset + i
		if start < 0 || start > len(data) || n > len(data)-start {
			return false
		}
		d := data[start : start+n]
		if mm.mask == nil {
			if bytes.Equal(d, mm.value) {
				return true
			}
			continue
		}
		ok := true
		for k := 0; k < n; k++ {
			if d[k]&mm.mask[k] != mm.value[k]&mm.mask[k] {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// Limits applied while parsing a magic file, so that hostile input cannot
// make matching expensive.
const (
	maxMagicOffset = 1 << 24
	maxMagicRange  = 1 << 20
	maxMagicIndent = 64
)

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// parseMagic parses a shared-mime-info binary "magic" file. It returns the
// sections and the set of types marked __NOMAGIC__.
func parseMagic(b []byte) ([]magicSection, map[string]bool, error) {
	const header = "MIME-Magic\x00\n"
	if !bytes.HasPrefix(b, []byte(header)) {
		return nil, nil, errors.New("not a MIME-Magic file")
	}
	r := bufio.NewReader(bytes.NewReader(b[len(header):]))
	var secs []magicSection
	nomagic := map[string]bool{}
	var cur *magicSection
	var stack []*magicMatch // stack[i] = last match at indent i
	for {
		c, err := r.ReadByte()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if c == '[' {
			line, err := r.ReadString('\n')
			if err != nil {
				return nil, nil, errors.New("truncated section header")
			}
			line = strings.TrimSuffix(line, "\n")
			if !strings.HasSuffix(line, "]") {
				return nil, nil, fmt.Errorf("bad section header %q", line)
			}
			pr, typ, ok := strings.Cut(line[:len(line)-1], ":")
			p, err := strconv.Atoi(pr)
			if !ok || err != nil || typ == "" {
				return nil, nil, fmt.Errorf("bad section header %q", line)
			}
			secs = append(secs, magicSection{priority: p, typ: typ})
			cur = &secs[len(secs)-1]
			stack = stack[:0]
			continue
		}
		if cur == nil {
			return nil, nil, errors.New("match line outside a section")
		}
		r.UnreadByte()
		if peek, _ := r.Peek(len("__NOMAGIC__\n")); string(peek) == "__NOMAGIC__\n" {
			r.Discard(len(peek))
			nomagic[cur.typ] = true
			continue
		}
		indent, err := readNum(r, '>')
		if err != nil {
			return nil, nil, err
		}
		if indent > maxMagicIndent {
			return nil, nil, errors.New("magic indent too deep")
		}
		off, err := readNum(r, '=')
		if err != nil || off < 0 {
			return nil, nil, errors.New("bad offset")
		}
		var lb [2]byte
		if _, err := io.ReadFull(r, lb[:]); err != nil {
			return nil, nil, errors.New("truncated value length")
		}
		vl := int(binary.BigEndian.Uint16(lb[:]))
		mm := &magicMatch{offset: off, rng: 1, value: make([]byte, vl)}
		if _, err := io.ReadFull(r, mm.value); err != nil {
			return nil, nil, errors.New("truncated value")
		}
		word := 1
	opts:
		for {
			c, err := r.ReadByte()
			if err != nil {
				return nil, nil, errors.New("truncated match line")
			}
			switch c {
			case '&':
				mm.mask = make([]byte, vl)
				if _, err := io.ReadFull(r, mm.mask); err != nil {
					return nil, nil, errors.New("truncated mask")
				}
			case '~':
				word, err = readNum(r, 0)
				if err != nil {
					return nil, nil, err
				}
			case '+':
				mm.rng, err = readNum(r, 0)
				if err != nil || mm.rng < 1 || mm.rng > maxMagicRange {
					return nil, nil, errors.New("bad range length")
				}
			case '\n':
				break opts
			default:
				// Unknown extension: ignore the rest of the line.
				if _, err := r.ReadString('\n'); err != nil {
					return nil, nil, errors.New("truncated match line")
				}
				break opts
			}
		}
		if off > maxMagicOffset {
			return nil, nil, errors.New("magic offset too large")
		}
		if word > 1 && littleEndian && vl%word == 0 {
			swapWords(mm.value, word)
			if mm.mask != nil {
				swapWords(mm.mask, word)
			}
		}
		if indent == 0 {
			cur.matches = append(cur.matches, mm)
		} else {
			if indent > len(stack) {
				return nil, nil, errors.New("magic indent without parent")
			}
			p := stack[indent-1]
			p.children = append(p.children, mm)
		}
		stack = append(stack[:indent], mm)
	}
	return secs, nomagic, nil
}

func swapWords(b []byte, w int) {
	for i := 0; i+w <= len(b); i += w {
		for a, z := i, i+w-1; a < z; a, z = a+1, z-1 {
			b[a], b[z] = b[z], b[a]
		}
	}
}

// readNum reads an optional decimal number terminated by term (consumed).
// With term == 0 the number ends at the first non-digit, which is left unread.
// An absent number is 0.
func readNum(r *bufio.Reader, term byte) (int, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, errors.New("truncated number")
		}
		if c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
			digits++
			if digits > 9 {
				return 0, errors.New("number too long")
			}
			continue
		}
		if term == 0 {
			r.UnreadByte()
			return n, nil
		}
		if c != term {
			return 0, fmt.Errorf("unexpected byte %q, want %q", c, term)
		}
		return n, nil
	}
}

// Ancestors returns t (unaliased) followed by its parent types, nearest
// first (breadth-first over subclasses, then text/plain for text/* and
// application/octet-stream for non-inode types).
func (m *MIME) Ancestors(t string) []string {
	t = m.Unalias(t)
	out := []string{t}
	seen := map[string]bool{t: true}
	for i := 0; i < len(out); i++ {
		for _, p := range m.parents[out[i]] {
			if p = m.Unalias(p); !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	if strings.HasPrefix(t, "text/") && !seen["text/plain"] {
		out = append(out, "text/plain")
		seen["text/plain"] = true
	}
	if !strings.HasPrefix(t, "inode/") && !seen["application/octet-stream"] {
		out = append(out, "application/octet-stream")
	}
	return out
}
