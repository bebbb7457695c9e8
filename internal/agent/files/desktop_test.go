package files

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseRealDesktopFiles(t *testing.T) {
	ensurePackage(t, "/usr/share/applications/debian-xterm.desktop", "xterm")
	f, err := os.Open("/usr/share/applications/debian-xterm.desktop")
	must(t, err)
	defer f.Close()
	e, err := ParseDesktopEntry(f)
	must(t, err)
	if e.Name != "XTerm" || e.Exec != "xterm" || e.Icon != "mini.xterm" || e.Terminal || e.NoDisplay {
		t.Errorf("xterm entry = %+v", e)
	}
	args, err := ExecArgs(e, []string{"/tmp/x"})
	if err != nil || !reflect.DeepEqual(args, []string{"xterm"}) {
		t.Errorf("ExecArgs(xterm) = %q, %v", args, err)
	}
	all, err := LoadEntries("/usr/share")
	must(t, err)
	ids := map[string]Entry{}
	for _, e := range all {
		ids[e.ID] = e
		if e.File == "" || e.Name == "" || e.Exec == "" {
			t.Errorf("incomplete entry %+v", e)
		}
	}
	if _, ok := ids["debian-xterm.desktop"]; !ok {
		t.Errorf("debian-xterm.desktop not loaded; have %d entries", len(all))
	}
}

func TestParseDesktopEntry(t *testing.T) {
	src := `# comment
[Desktop Entry]
Type=Application
Name=My \sEditor\\x
Name[fr]=Mon éditeur
Exec = "/opt/my app/bin/ed" --title "a \\"quoted\\" \\$x" %F
Icon=ed
Path=/srv/work
MimeType=text/plain;text/x-c\;weird;;
NoDisplay=true
Terminal=true
Name=ignored duplicate

[Desktop Action new]
Name=New
Exec=evil
Type=Link
`
	e, err := ParseDesktopEntry(strings.NewReader(src))
	must(t, err)
	want := Entry{Name: `My  Editor\x`, Exec: `"/opt/my app/bin/ed" --title "a \"quoted\" \$x" %F`, Icon: "ed", Path: "/srv/work",
		MimeTypes: []string{"text/plain", "text/x-c;weird"}, NoDisplay: true, Terminal: true}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("got  %#v\nwant %#v", e, want)
	}
	args, err := ExecArgs(e, []string{"/h/a b.txt", "/h/c"})
	must(t, err)
	if w := []string{"/opt/my app/bin/ed", "--title", `a "quoted" $x`, "/h/a b.txt", "/h/c"}; !reflect.DeepEqual(args, w) {
		t.Errorf("ExecArgs = %q, want %q", args, w)
	}
	for _, bad := range []string{
		"[Desktop Entry]\nType=Link\nName=x\nURL=http://x\n",
		"[Desktop Entry]\nName=x\nExec=y\n",
		"Name=x\n[Desktop Entry]\nType=Application\n",
		"[Other]\n[Desktop Entry]\nType=Application\nName=x\nExec=y\n",
		"[Desktop Entry]\nType=Application\nName=x\n",
		"[Desktop Entry]\nType=Application\nExec=x\n",
		"[Desktop Entry\nType=Application\n",
		"[Desktop Entry]\ngarbage\n",
		"",
	} {
		if e, err := ParseDesktopEntry(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q: %+v", bad, e)
		}
	}
	if _, err := ParseDesktopEntry(strings.NewReader("[Desktop Entry]\nType=Link\n")); !errors.Is(err, ErrNotApplication) {
		t.Errorf("Type=Link: %v", err)
	}
}

func TestExecArgs(t *testing.T) {
	e := Entry{Name: "App Name", Icon: "app-icon", File: "/usr/share/applications/app.desktop"}
	cases := []struct {
		exec  string
		files []string
		want  []string
	}{
		{"app %f", []string{"/a b"}, []string{"app", "/a b"}},
		{"app %f", nil, []string{"app"}},
		{"app %u", []string{"/x"}, []string{"app", "/x"}},
		{"app %U", []string{"/x", "/y"}, []string{"app", "/x", "/y"}},
		{"app %F", nil, []string{"app"}},
		{"app --file=%f", []string{"/x"}, []string{"app", "--file=/x"}},
		{"app %i %c %k", nil, []string{"app", "--icon", "app-icon", "App Name", "/usr/share/applications/app.desktop"}},
		{"app %d %D %n %N %v %m 100%%", nil, []string{"app", "100%"}},
		{`"app with space" "" "x\\y" "\` + "`" + `"`, nil, []string{"app with space", "", `x\y`, "`"}},
		{`app "%f"`, []string{"/x"}, []string{"app", "/x"}},
		{"app  a\tb", nil, []string{"app", "a", "b"}},
		{"app 'single' $HOME;rm", nil, []string{"app", "'single'", "$HOME;rm"}}, // no shell: passed literally
		{"app %f", []string{"/x;rm -rf ~"}, []string{"app", "/x;rm -rf ~"}},
	}
	for _, c := range cases {
		e.Exec = c.exec
		got, err := ExecArgs(e, c.files)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ExecArgs(%q, %q) = %q, %v; want %q", c.exec, c.files, got, err, c.want)
		}
	}
	e.Icon = ""
	e.Exec = "app %i"
	if got, _ := ExecArgs(e, nil); !reflect.DeepEqual(got, []string{"app"}) {
		t.Errorf("%%i without icon: %q", got)
	}
	for _, c := range []struct {
		exec  string
		files []string
	}{
		{`app "unterminated`, nil},
		{"", nil},
		{"   ", nil},
		{"app %x", nil},
		{"app %", nil},
		{"app --a=%F", nil},
		{"app %f", []string{"/a", "/b"}},
		{"%f", nil},
	} {
		e.Exec = c.exec
		if got, err := ExecArgs(e, c.files); err == nil {
			t.Errorf("ExecArgs(%q, %q) = %q, want error", c.exec, c.files, got)
		}
	}
}

func TestLoadEntriesOverride(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(d1, "applications", "a.desktop"), []byte("[Desktop Entry]\nType=Application\nName=A1\nExec=a\nMimeType=text/plain;\n"))
	writeFile(t, filepath.Join(d1, "applications", "b.desktop"), []byte("[Desktop Entry]\nType=Application\nName=B\nExec=b\n"))
	writeFile(t, filepath.Join(d1, "applications", "kde", "c.desktop"), []byte("[Desktop Entry]\nType=Application\nName=C\nExec=c\nMimeType=image/png;Text/Plain\n"))
	writeFile(t, filepath.Join(d1, "applications", "bad.desktop"), []byte("nonsense"))
	writeFile(t, filepath.Join(d2, "applications", "a.desktop"), []byte("[Desktop Entry]\nType=Application\nName=A2\nExec=a2\n"))
	writeFile(t, filepath.Join(d2, "applications", "b.desktop"), []byte("[Desktop Entry]\nType=Application\nHidden=true\n"))
	es, err := LoadEntries(d1, d2)
	must(t, err)
	var got []string
	for _, e := range es {
		got = append(got, e.ID+"="+e.Name)
	}
	if w := []string{"a.desktop=A2", "kde-c.desktop=C"}; !reflect.DeepEqual(got, w) {
		t.Errorf("entries %q, want %q", got, w)
	}
	apps := AppsFor(es, "text/plain")
	if len(apps) != 1 || apps[0].ID != "kde-c.desktop" {
		t.Errorf("AppsFor = %+v", apps)
	}
	if _, err := LoadEntries(filepath.Join(d1, "nope")); err != nil {
		t.Errorf("missing dir: %v", err)
	}
}

func FuzzDesktopEntry(f *testing.F) {
	f.Add("[Desktop Entry]\nType=Application\nName=x\nExec=\"a b\" %F %i\nMimeType=a/b;c\\;d;\n")
	f.Add("[Desktop Entry]\nType=Application\nName=x\\\nExec=x %")
	f.Add("\xff[Desktop Entry]\n=\n[")
	if b, err := os.ReadFile("/usr/share/applications/debian-xterm.desktop"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseDesktopEntry(strings.NewReader(s))
		if err != nil {
			return
		}
		args, err := ExecArgs(e, []string{"/f1", "/f2"})
		if err == nil && (len(args) == 0 || args[0] == "") {
			t.Fatalf("ExecArgs returned empty program for %q", e.Exec)
		}
		ExecArgs(e, nil)
		SplitExec(e.Exec)
	})
}
