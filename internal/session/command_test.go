package session

import (
	"reflect"
	"strings"
	"testing"

	"github.com/deskhub/deskhub/api/fastx"
)

func TestSplitCommand(t *testing.T) {
	for in, want := range map[string][]string{
		"xterm":                        {"xterm"},
		"  xterm   -fg  white ":        {"xterm", "-fg", "white"},
		`xterm -title "my term"`:       {"xterm", "-title", "my term"},
		`echo 'a "b" c'`:               {"echo", `a "b" c`},
		`echo "a \"b\" \\ c"`:          {"echo", `a "b" \ c`},
		`echo a\ b`:                    {"echo", "a b"},
		`echo ''`:                      {"echo", ""},
		`sh -c 'rm -rf /; echo $HOME'`: {"sh", "-c", "rm -rf /; echo $HOME"}, // one literal argument, no shell involved
	} {
		got, err := SplitCommand(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "   ", `xterm "open`, `xterm 'open`, `xterm \`, "a\x00b", strings.Repeat("x", MaxCommandLen+1)} {
		if _, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) accepted", bad)
		}
	}
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{"xterm -fg white", `a "b c" 'd e' f\ g`, `"`, `\`, "\x00", "a\tb\nc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		args, err := SplitCommand(s)
		if err != nil {
			return
		}
		if len(args) == 0 {
			t.Fatal("accepted with no words")
		}
		for _, a := range args {
			if strings.ContainsRune(a, 0) {
				t.Fatal("a word holds NUL")
			}
		}
		// Quoting each word and splitting again gives the same words.
		var b strings.Builder
		for _, a := range args {
			b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "' ")
		}
		if b.Len() > MaxCommandLen {
			return // quoting made it longer than a command may be
		}
		again, err := SplitCommand(b.String())
		if err != nil || !reflect.DeepEqual(again, args) {
			t.Fatalf("round trip %q → %q → %q (%v)", s, args, again, err)
		}
	})
}

func TestPageFiltersSortsAndPages(t *testing.T) {
	objs := []fastx.Session{
		{ID: "a", Login: "ann", Geometry: "800x600", Params: map[string]string{"team": "red", "rank": "10"}},
		{ID: "b", Login: "bob", Geometry: "1024x768", Params: map[string]string{"team": "blue", "rank": "9"}},
		{ID: "c", Login: "ann", Geometry: "1024x768", Params: map[string]string{"team": "blue", "rank": "100"}},
	}
	ids := func(o ListOptions) string {
		out, err := Page(objs, o)
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, x := range out {
			s = append(s, x.ID)
		}
		return strings.Join(s, ",")
	}
	two := 2
	cases := map[string]ListOptions{
		"a,b,c": {},
		"a,c":   {Filter: []string{"login==ann"}},
		"b,c":   {Filter: []string{"team==blue,green"}},
		"c":     {Filter: []string{"team==blue", "login==ann"}},
		"b,a,c": {SortBy: "rank"}, // numeric, from params
		"c,a,b": {SortBy: "rank", SortReverse: true},
		"a,b":   {SortBy: "rank", SortReverse: true, Start: 1, Limit: &two},
		"":      {Filter: []string{"nosuch==x"}},
	}
	for want, o := range cases {
		if got := ids(o); got != want {
			t.Errorf("%+v: got %q, want %q", o, got, want)
		}
	}
	if _, err := Page(objs, ListOptions{Filter: []string{"no-equals"}}); err == nil {
		t.Error("bad filter accepted")
	}
}
