package files

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteDesktopFiles(t *testing.T) {
	base := t.TempDir()
	data := filepath.Join(base, "share")
	apps := filepath.Join(data, "applications")
	paths, err := WriteDesktopFiles(apps, []NewApp{
		{Mimetype: "text/plain;text/x-csrc", Executablefilename: "../../evil", Name: "My Editor", Icon: "accessories-text-editor", Launch: `/usr/bin/ed "--title=a b" --x=\y`, Path: "/tmp"},
		{Mimetype: "image/png", Executablefilename: "", Name: "Viewer/../../Ö", Launch: "viewer %f"},
		{Name: "NoMime", Launch: "nomime"},
	})
	must(t, err)
	want := []string{filepath.Join(apps, "evil.desktop"), filepath.Join(apps, "viewer-o.desktop"), filepath.Join(apps, "nomime.desktop")}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("paths %q, want %q", paths, want)
	}
	assertOnlyUnder(t, base, data)

	f, err := os.Open(paths[0])
	must(t, err)
	e, err := ParseDesktopEntry(f)
	f.Close()
	must(t, err)
	if e.Name != "My Editor" || e.Icon != "accessories-text-editor" || e.Path != "/tmp" || !reflect.DeepEqual(e.MimeTypes, []string{"text/plain", "text/x-csrc"}) {
		t.Errorf("parsed back %+v", e)
	}
	args, err := ExecArgs(e, []string{"/h/f.txt"})
	if w := []string{"/usr/bin/ed", "--title=a b", `--x=\y`, "/h/f.txt"}; err != nil || !reflect.DeepEqual(args, w) {
		t.Errorf("ExecArgs = %q, %v; want %q", args, err, w)
	}

	cache, err := os.ReadFile(filepath.Join(apps, "mimeinfo.cache"))
	must(t, err)
	wantCache := "[MIME Cache]\nimage/png=viewer-o.desktop;\ntext/plain=evil.desktop;\ntext/x-csrc=evil.desktop;\n"
	if string(cache) != wantCache {
		t.Errorf("mimeinfo.cache:\n%s\nwant\n%s", cache, wantCache)
	}

	es, err := LoadEntries(data)
	must(t, err)
	if got := AppsFor(es, "text/plain"); len(got) != 1 || got[0].ID != "evil.desktop" {
		t.Errorf("AppsFor(text/plain) = %+v", got)
	}
	// Subclasses of text/plain find it too (through the real database).
	if m := systemMIME(t); m != nil {
		got := AppsForMIME(es, m, "text/x-readme")
		if len(got) != 1 || got[0].ID != "evil.desktop" {
			t.Errorf("AppsForMIME(text/x-readme) = %+v", got)
		}
		if a := m.Ancestors("application/x-compressed-tar"); len(a) < 3 || a[0] != "application/x-compressed-tar" || a[1] != "application/gzip" || a[len(a)-1] != "application/octet-stream" {
			t.Errorf("Ancestors = %q", a)
		}
		if got := AppsForMIME(es, m, "application/x-nothing"); len(got) != 0 {
			t.Errorf("AppsForMIME(unknown) = %+v", got)
		}
	}
	// Together with the system entries, still found.
	if _, err := os.Stat("/usr/share/applications"); err == nil {
		es, err := LoadEntries("/usr/share", data)
		must(t, err)
		found := false
		for _, a := range AppsFor(es, "text/plain") {
			found = found || a.ID == "evil.desktop"
		}
		if !found {
			t.Error("generated app not among AppsFor(text/plain) with system entries")
		}
	}
}

func TestWriteDesktopFilesRejects(t *testing.T) {
	base := t.TempDir()
	apps := filepath.Join(base, "applications")
	bad := []NewApp{
		{Name: "x", Launch: "x\nExec=evil"},
		{Name: "x", Launch: "x\x00"},
		{Name: "x", Launch: "x\x1b[31m"},
		{Name: "x\nExec=evil", Launch: "x"},
		{Name: "x", Launch: "x", Icon: "i\r\nMimeType=text/plain;"},
		{Name: "x", Launch: "x", Mimetype: "text/plain\nExec=y"},
		{Name: "x", Launch: "x", Mimetype: "not a mime"},
		{Name: "x", Launch: ""},
		{Name: "", Launch: "x"},
		{Name: "x", Launch: `x "unterminated`},
		{Name: "x", Launch: "x %z"},
		{Name: "../..", Executablefilename: "/", Launch: "x"},
		{Name: "x", Launch: "x", Path: "relative"},
	}
	for _, a := range bad {
		_, err := WriteDesktopFiles(apps, []NewApp{{Name: "ok", Launch: "ok"}, a})
		var ie *InputError
		if !errors.As(err, &ie) {
			t.Errorf("WriteDesktopFiles(%+v) = %v, want *InputError", a, err)
		}
	}
	if _, err := WriteDesktopFiles(apps, []NewApp{{Name: "a", Launch: "a"}, {Name: "A", Launch: "b"}}); err == nil {
		t.Error("duplicate names accepted")
	}
	if _, err := WriteDesktopFiles(apps, nil); err == nil {
		t.Error("empty list accepted")
	}
	if _, err := WriteDesktopFiles("relative", []NewApp{{Name: "a", Launch: "a"}}); err == nil {
		t.Error("relative dir accepted")
	}
	if ents, _ := os.ReadDir(base); len(ents) != 0 {
		t.Errorf("rejected batches wrote files: %v", ents)
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{"../../evil": "evil", "My App 2": "my-app-2", "Ünïcode": "unicode", "Viewer/../../Ö": "viewer-o", "a--b": "a-b", "": "", "...": "", strings.Repeat("a", 100): strings.Repeat("a", 64)} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}
