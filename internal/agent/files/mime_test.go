package files

import (
	"github.com/deskhub/deskhub/internal/provider/xtest"

	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"image"
	"image/png"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

var (
	realMIMEOnce sync.Once
	realMIME     *MIME
	realMIMEErr  error
)

// systemMIME loads the real shared-mime-info database from /usr/share; xtest.Ensure installs it (and
// xterm, whose desktop entry the tests read) when missing, and fails loudly if it cannot.
func systemMIME(t testing.TB) *MIME {
	t.Helper()
	ensurePackage(t, "/usr/share/mime/globs2", "shared-mime-info")
	realMIMEOnce.Do(func() { realMIME, realMIMEErr = LoadMIME("/usr/share") })
	if realMIMEErr != nil {
		t.Fatal(realMIMEErr)
	}
	return realMIME
}

func ensurePackage(t testing.TB, file, pkg string) {
	t.Helper()
	if _, err := os.Stat(file); err == nil {
		return
	}
	xtest.Ensure(t)
	if _, err := os.Stat(file); err != nil {
		t.Fatalf("%s still missing after installing %s", file, pkg)
	}
}

func writeFile(t testing.TB, p string, b []byte) string {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, b, 0o644))
	return p
}

func pngBytes(t testing.TB) []byte {
	var buf bytes.Buffer
	must(t, png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 2, 2))))
	return buf.Bytes()
}

func tarGz(t testing.TB) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	must(t, tw.WriteHeader(&tar.Header{Name: "a.txt", Mode: 0o644, Size: 2}))
	tw.Write([]byte("hi"))
	must(t, tw.Close())
	must(t, gz.Close())
	return buf.Bytes()
}

func TestTypeOfRealDatabase(t *testing.T) {
	m := systemMIME(t)
	dir := t.TempDir()
	rnd := make([]byte, 3000)
	rand.New(rand.NewSource(1)).Read(rnd)
	rnd[0], rnd[1], rnd[100] = 0, 0xff, 0
	tgzWant := "application/gzip"
	if g := m.Globs("foo.tar.gz"); len(g) > 0 {
		tgzWant = g[0] // application/x-compressed-tar in current databases
	}
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"picture.txt", "image/png", pngBytes(t)},
		{"picture.png", "image/png", pngBytes(t)},
		{"doc.pdf", "application/pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")},
		{"doc", "application/pdf", []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")},
		{"NOTES", "text/plain", []byte("just some notes\nwith ünïcode\n")},
		{"random.bin.xyz", "application/octet-stream", rnd},
		{"noext", "application/octet-stream", rnd},
		{"foo.tar.gz", tgzWant, tarGz(t)},
		{"FOO.TAR.GZ", tgzWant, tarGz(t)},
		{"script", "application/x-shellscript", []byte("#!/bin/sh\necho hi\n")},
		{"notes.txt", "text/plain", []byte("plain text\n")},
		{"empty.txt", "text/plain", nil},
		{"percent.txt", "text/plain", []byte("% not matlab, just a note\n")}, // weak text magic vs text glob
		{"page.html.txt", "text/plain", []byte("<html><body>hi</body></html>\n")},
		{"shot.jpg", "image/png", pngBytes(t)}, // content beats a conflicting non-text name
	}
	for _, c := range cases {
		p := writeFile(t, filepath.Join(dir, c.name), c.data)
		got, err := m.TypeOf(p)
		if err != nil || got != c.want {
			t.Errorf("TypeOf(%s) = %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	// README: the database maps readme* to text/x-readme, a subclass of
	// text/plain (weight 10); accept that or plain text.
	p := writeFile(t, filepath.Join(dir, "README"), []byte("Read me first.\n"))
	got, err := m.TypeOf(p)
	if err != nil || !m.IsSubclass(got, "text/plain") {
		t.Errorf("TypeOf(README) = %q, %v; want text/plain or a subclass", got, err)
	}
	if got, err := m.TypeOf(dir); err != nil || got != "inode/directory" {
		t.Errorf("TypeOf(dir) = %q, %v", got, err)
	}
	if _, err := m.TypeOf(filepath.Join(dir, "nope")); err == nil {
		t.Error("TypeOf(missing) succeeded")
	}
	if len(m.magic) < 100 || len(m.literal)+len(m.suffix)+len(m.other) < 500 {
		t.Errorf("database looks truncated: %d magic sections", len(m.magic))
	}
	if !m.IsSubclass("application/x-compressed-tar", "application/gzip") {
		t.Error("subclasses not loaded")
	}
}

// magicFile builds a binary magic file; each line is given raw after the
// indent/offset prefix.
type magicLine struct {
	indent, offset int
	value, mask    []byte
	word, rng      int
}

func buildMagic(sections map[string][]magicLine, order []string) []byte {
	var b bytes.Buffer
	b.WriteString("MIME-Magic\x00\n")
	for _, h := range order {
		b.WriteString("[" + h + "]\n")
		for _, l := range sections[h] {
			if l.indent > 0 {
				b.WriteString(itoa(l.indent))
			}
			b.WriteString(">" + itoa(l.offset) + "=")
			binary.Write(&b, binary.BigEndian, uint16(len(l.value)))
			b.Write(l.value)
			if l.mask != nil {
				b.WriteByte('&')
				b.Write(l.mask)
			}
			if l.word > 0 {
				b.WriteString("~" + itoa(l.word))
			}
			if l.rng > 0 {
				b.WriteString("+" + itoa(l.rng))
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func itoa(i int) string { return string(bytesItoa(i)) }
func bytesItoa(i int) []byte {
	if i == 0 {
		return []byte("0")
	}
	var out []byte
	for ; i > 0; i /= 10 {
		out = append([]byte{byte('0' + i%10)}, out...)
	}
	return out
}

func TestMagicSynthetic(t *testing.T) {
	secs := map[string][]magicLine{
		"80:x/nested": {
			{offset: 0, value: []byte("ABCD")},
			{indent: 1, offset: 10, value: []byte("\n"), rng: 5},
			{indent: 2, offset: 20, value: []byte("Z")},
			{indent: 1, offset: 4, value: []byte("!")},
		},
		"50:x/masked": {
			{offset: 2, value: []byte{0x10, 0x00}, mask: []byte{0xf0, 0x00}},
		},
		"60:x/word": { // 16-bit host-order 0x1234 at offset 0
			{offset: 0, value: []byte{0x12, 0x34}, word: 2},
		},
		"90:x/newline-value": {
			{offset: 0, value: []byte("\n[\n"), rng: 3},
		},
	}
	order := []string{"90:x/newline-value", "80:x/nested", "60:x/word", "50:x/masked"}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "mime", "magic"), buildMagic(secs, order))
	writeFile(t, filepath.Join(dir, "mime", "globs2"), []byte("# comment\n50:x/lower:*.foo\n60:x/cs:*.FOO:cs\n40:x/readme:read*\n50:x/tgz:*.t.gz\n"))
	writeFile(t, filepath.Join(dir, "mime", "subclasses"), []byte("x/tgz x/masked\n"))
	m, err := LoadMIME(dir)
	if err != nil {
		t.Fatal(err)
	}
	le := make([]byte, 2)
	binary.NativeEndian.PutUint16(le, 0x1234)
	cases := []struct {
		data []byte
		want string
	}{
		{[]byte("ABCD!"), "x/nested"},
		{[]byte("ABCD.....x\n"), ""},                     // level-1 at range 10..14 ok but no level-2 → falls to sibling "!" (absent)
		{[]byte("ABCD......\n.........Z"), "x/nested"},   // full chain
		{[]byte("ABCD........\n.......Z"), "x/nested"},   // range hit at 12
		{[]byte("ABCD...............\nZ"), ""},           // outside range
		{[]byte{0, 0, 0x1f, 0x55}, "x/masked"},           // high nibble 1
		{[]byte{0, 0, 0x2f, 0x55}, ""},                   // high nibble 2
		{append(append([]byte{}, le...), 'q'), "x/word"}, // host order
		{[]byte("..\n[\n"), "x/newline-value"},           // value with newlines, range 3
		{nil, ""},
	}
	for _, c := range cases {
		got, _ := m.Magic(c.data)
		if got != c.want {
			t.Errorf("Magic(%q) = %q, want %q", c.data, got, c.want)
		}
	}
	for name, want := range map[string]string{"a.foo": "x/lower", "a.FOO": "x/cs", "A.Foo": "x/lower", "readme.foo": "x/lower", "README": "x/readme", "x.t.gz": "x/tgz"} {
		if g := m.Globs(name); len(g) == 0 || g[0] != want {
			t.Errorf("Globs(%q) = %v, want %s first", name, g, want)
		}
	}
	// glob that is a subclass of the magic type wins; otherwise magic wins.
	if got := m.TypeOfData("x.t.gz", []byte{0, 0, 0x10, 0}); got != "x/tgz" {
		t.Errorf("subclass rule: %q", got)
	}
	if got := m.TypeOfData("x.foo", []byte("ABCD!")); got != "x/nested" {
		t.Errorf("magic over glob: %q", got)
	}
	if got := m.TypeOfData("x.foo", []byte("text")); got != "x/lower" {
		t.Errorf("glob without magic: %q", got)
	}

	// A later directory's __NOGLOBS__ removes earlier globs.
	dir2 := t.TempDir()
	writeFile(t, filepath.Join(dir2, "mime", "globs2"), []byte("0:x/lower:__NOGLOBS__\n50:x/other:*.bar\n"))
	m2, err := LoadMIME(dir, dir2)
	if err != nil {
		t.Fatal(err)
	}
	if g := m2.Globs("a.foo"); len(g) != 0 {
		t.Errorf("__NOGLOBS__ ignored: %v", g)
	}
	if g := m2.Globs("a.bar"); len(g) != 1 || g[0] != "x/other" {
		t.Errorf("second dir: %v", g)
	}
	if _, err := LoadMIME(t.TempDir()); err == nil {
		t.Error("empty dir accepted")
	}
}

func TestMagicParseErrors(t *testing.T) {
	for _, b := range []string{"", "junk", "MIME-Magic\x00\n>0=\x00\x01A\n", "MIME-Magic\x00\n[50:x/y]\n1>0=\x00\x01A\n",
		"MIME-Magic\x00\n[50:x/y]\n>0=\x00\x05A\n", "MIME-Magic\x00\n[50x/y]\n", "MIME-Magic\x00\n[50:x/y]\n>99999999999=\x00\x01A\n"} {
		if _, _, err := parseMagic([]byte(b)); err == nil {
			t.Errorf("parseMagic(%q) accepted", b)
		}
	}
}

func FuzzMagic(f *testing.F) {
	m := systemMIME(f)
	f.Add([]byte("\x89PNG\r\n\x1a\n"), []byte{})
	f.Add([]byte("%PDF-1.4"), []byte("MIME-Magic\x00\n[50:x/y]\n>0=\x00\x01A&\xff~2+3\n1>4=\x00\x00\n"))
	f.Add(tarGz(f), buildMagic(map[string][]magicLine{"50:a/b": {{offset: 1, value: []byte("xy"), mask: []byte{1, 2}, word: 2, rng: 4}}}, []string{"50:a/b"}))
	f.Fuzz(func(t *testing.T, content, magicDB []byte) {
		if len(content) > SniffSize {
			content = content[:SniffSize]
		}
		_ = m.TypeOfData("file", content)
		_ = m.TypeOfData("file.txt", content)
		secs, _, err := parseMagic(magicDB)
		if err != nil {
			return
		}
		for i := range secs {
			secs[i].match(content)
		}
	})
}
