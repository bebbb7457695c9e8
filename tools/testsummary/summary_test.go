package main

import (
	"encoding/json"
	"strings"
	"testing"
)

const pkg = "example.com/m/p"

// ev is one JSON event line.
func ev(action, pkg, test, output string) string {
	b, err := json.Marshal(Event{Action: action, Package: pkg, Test: test, Output: output})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// test is the lines go test -json writes for one test that ends with result (pass, fail, skip) after
// writing the lines of out.
func test(pkg, name, result string, out ...string) []string {
	lines := []string{ev("run", pkg, name, ""), ev("output", pkg, name, "=== RUN   "+name+"\n")}
	for _, o := range out {
		lines = append(lines, ev("output", pkg, name, o+"\n"))
	}
	word := map[string]string{"pass": "PASS", "fail": "FAIL", "skip": "SKIP"}[result]
	return append(lines, ev("output", pkg, name, "--- "+word+": "+name+" (0.00s)\n"), ev(result, pkg, name, ""))
}

// pkgEnd is the lines that end a package: its result line and event.
func pkgEnd(pkg, result string) []string {
	line := "ok  \t" + pkg + "\t0.01s\n"
	if result == "fail" {
		line = "FAIL\t" + pkg + "\t0.01s\n"
	}
	return []string{ev("output", pkg, "", line), ev(result, pkg, "", "")}
}

func lines(parts ...[]string) []string {
	var all []string
	for _, p := range parts {
		all = append(all, p...)
	}
	return all
}

func TestSummary(t *testing.T) {
	const allow = `# comment
internal/audio TestIPv6   no IPv6 loopback on this CI host
` + pkg + ` TestListedNotSkipped  kept for other hosts
`
	for _, tc := range []struct {
		name  string
		in    []string
		code  int
		last  string   // the closing line
		want  []string // in the output
		avoid []string // not in the output
	}{{
		name: "pass",
		in:   lines(test(pkg, "TestA", "pass"), test(pkg, "TestB", "pass"), pkgEnd(pkg, "pass")),
		last: "tests: 2 passed, 0 failed, 0 skipped",
		want: []string{"ok  \t" + pkg, "counted: 2 top-level tests + 0 subtests"},
	}, {
		name: "failure output and panic shown",
		in: lines(test(pkg, "TestA", "pass", "    a_test.go:1: quiet log"),
			test(pkg, "TestB", "fail", "    b_test.go:9: want 1, got 2", "panic: boom [recovered]", "goroutine 7 [running]:"),
			pkgEnd(pkg, "fail")),
		code:  1,
		last:  "tests: 1 passed, 1 failed, 0 skipped",
		want:  []string{"b_test.go:9: want 1, got 2", "panic: boom", "goroutine 7", "FAIL\t" + pkg, "failed tests:\n  " + pkg + " TestB"},
		avoid: []string{"quiet log", "outside its tests"},
	}, {
		name: "subtests counted apart",
		in: lines(test(pkg, "TestA/one", "pass"), test(pkg, "TestA/two", "fail"), test(pkg, "TestA", "fail"),
			pkgEnd(pkg, "fail")),
		code: 1,
		last: "tests: 1 passed, 2 failed, 0 skipped",
		want: []string{"counted: 1 top-level tests + 2 subtests"},
	}, {
		name: "fuzz seed inputs not counted",
		in: lines(test(pkg, "FuzzX/seed#0", "pass"), test(pkg, "FuzzX/seed#1", "pass"), test(pkg, "FuzzX/582528ddfad69eb5", "pass"),
			test(pkg, "FuzzX", "pass"), test(pkg, "TestA/sub", "pass"), test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass")),
		last: "tests: 3 passed, 0 failed, 0 skipped",
		want: []string{"counted: 2 top-level tests + 1 subtests (not counted: 3 fuzz seed inputs"},
	}, {
		name: "a failing fuzz seed fails, and shows",
		in:   lines(test(pkg, "FuzzX/seed#0", "fail", "    x_test.go:3: bad input"), test(pkg, "FuzzX", "fail"), pkgEnd(pkg, "fail")),
		code: 1,
		last: "tests: 0 passed, 1 failed, 0 skipped",
		want: []string{"bad input"},
	}, {
		name: "benchmarks not counted",
		in:   lines(test(pkg, "TestA", "pass"), test(pkg, "BenchmarkA", "pass"), pkgEnd(pkg, "pass")),
		last: "tests: 1 passed, 0 failed, 0 skipped",
	}, {
		name: "race rerun counts once",
		in: lines([]string{"testsummary: run all"}, test(pkg, "TestA", "pass"), test(pkg, "TestB", "pass"), pkgEnd(pkg, "pass"),
			[]string{"testsummary: exit 0", "testsummary: run race"}, test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"),
			[]string{"testsummary: exit 0"}),
		last: "tests: 2 passed, 0 failed, 0 skipped",
		want: []string{"1 repeated results"},
	}, {
		name: "same stream without markers counts once too",
		in:   lines(test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"), test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass")),
		last: "tests: 1 passed, 0 failed, 0 skipped",
	}, {
		name: "race rerun failing is a failure",
		in: lines([]string{"testsummary: run all"}, test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"), []string{"testsummary: exit 0"},
			[]string{"testsummary: run race"}, test(pkg, "TestA", "fail", "WARNING: DATA RACE"), pkgEnd(pkg, "fail"),
			[]string{"testsummary: exit 1"}),
		code:  1,
		last:  "tests: 0 passed, 1 failed, 0 skipped",
		want:  []string{"WARNING: DATA RACE", "failed tests:\n  " + pkg + " TestA"},
		avoid: []string{"exited with status"},
	}, {
		name: "build failure",
		in: lines(test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"), []string{
			`{"ImportPath":"example.com/m/q [example.com/m/q.test]","Action":"build-output","Output":"q_test.go:3:28: undefined: x\n"}`,
			`{"ImportPath":"example.com/m/q [example.com/m/q.test]","Action":"build-fail"}`,
			ev("output", "example.com/m/q", "", "FAIL\texample.com/m/q [build failed]\n"),
			`{"Action":"fail","Package":"example.com/m/q","FailedBuild":"example.com/m/q [example.com/m/q.test]"}`,
		}),
		code:  1,
		last:  "tests: 1 passed, 0 failed, 0 skipped",
		want:  []string{"undefined: x", "FAIL\texample.com/m/q [build failed]", "FAIL: build failed: example.com/m/q"},
		avoid: []string{"outside its tests"},
	}, {
		name: "no test at all",
		in:   []string{"go: warning: \"./nothing/...\" matched no packages"},
		code: 1,
		last: "tests: 0 passed, 0 failed, 0 skipped",
		want: []string{"matched no packages", "FAIL: no test ran"},
	}, {
		name: "packages without tests",
		in:   lines([]string{ev("output", pkg, "", "?   \t"+pkg+"\t[no test files]\n"), ev("skip", pkg, "", "")}),
		code: 1,
		last: "tests: 0 passed, 0 failed, 0 skipped",
		want: []string{"[no test files]", `FAIL: no test ran in "go test"`},
	}, {
		name: "a run that matched no test",
		in: lines([]string{"testsummary: run all"}, test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"), []string{"testsummary: exit 0"},
			[]string{"testsummary: run race: TestLXD", ev("output", pkg, "", "testing: warning: no tests to run\n")}, pkgEnd(pkg, "pass"),
			[]string{"testsummary: exit 0"}),
		code: 1,
		last: "tests: 1 passed, 0 failed, 0 skipped",
		want: []string{`FAIL: no test ran in "race: TestLXD"`},
	}, {
		name: "allowlisted skip",
		in: lines(test(pkg, "TestA", "pass"), test("example.com/m/internal/audio", "TestIPv6", "skip", "    a_test.go:5: no IPv6 loopback: bind failed"),
			pkgEnd(pkg, "pass")),
		last: "tests: 1 passed, 0 failed, 1 skipped",
		want: []string{"allowed skips (listed in allow.txt):\n  example.com/m/internal/audio TestIPv6: no IPv6 loopback on this CI host (skip message: a_test.go:5: no IPv6 loopback: bind failed)",
			"listed in allow.txt but not skipped:\n  " + pkg + " TestListedNotSkipped: kept for other hosts"},
		avoid: []string{"FAIL"},
	}, {
		name: "unlisted skip fails",
		in:   lines(test(pkg, "TestA", "pass"), test(pkg, "TestB", "skip", "    b_test.go:5: DESKHUB_TEST_POSTGRES not set"), pkgEnd(pkg, "pass")),
		code: 1,
		last: "tests: 1 passed, 0 failed, 1 skipped",
		want: []string{"FAIL: skipped but not listed in allow.txt", "  " + pkg + " TestB: b_test.go:5: DESKHUB_TEST_POSTGRES not set"},
	}, {
		name: "skipped under -race only is still a skip",
		in: lines([]string{"testsummary: run all"}, test(pkg, "TestA", "pass"), test(pkg, "TestB", "pass"), pkgEnd(pkg, "pass"),
			[]string{"testsummary: run race"}, test(pkg, "TestA", "pass"), test(pkg, "TestB", "skip", "not under race"), pkgEnd(pkg, "pass")),
		code: 1,
		last: "tests: 1 passed, 0 failed, 1 skipped",
		want: []string{pkg + " TestB: not under race"},
	}, {
		name: "timeout: a test without result fails",
		in: lines(test(pkg, "TestA", "pass"), []string{ev("run", pkg, "TestSlow", ""), ev("output", pkg, "TestSlow", "=== RUN   TestSlow\n"),
			ev("output", pkg, "TestSlow", "panic: test timed out after 1s\n")}, pkgEnd(pkg, "fail")),
		code:  1,
		last:  "tests: 1 passed, 1 failed, 0 skipped",
		want:  []string{"panic: test timed out after 1s", "--- FAIL: TestSlow (did not finish: package " + pkg + " failed)"},
		avoid: []string{"outside its tests"},
	}, {
		name: "input ends in a test",
		in:   lines(test(pkg, "TestA", "pass"), []string{ev("run", pkg, "TestB", "")}),
		code: 1,
		last: "tests: 1 passed, 1 failed, 0 skipped",
		want: []string{"did not finish: the input ended"},
	}, {
		name: "package fails outside its tests",
		in: lines(test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"),
			[]string{ev("output", "example.com/m/q", "", "setup: tools unavailable\n")}, pkgEnd("example.com/m/q", "fail")),
		code: 1,
		last: "tests: 1 passed, 0 failed, 0 skipped",
		want: []string{"setup: tools unavailable", "FAIL: package example.com/m/q failed outside its tests"},
	}, {
		name: "go test failed without saying so",
		in: lines([]string{"testsummary: run all"}, test(pkg, "TestA", "pass"), pkgEnd(pkg, "pass"),
			[]string{"go: updates to go.mod needed", "testsummary: exit 1"}),
		code: 1,
		last: "tests: 1 passed, 0 failed, 0 skipped",
		want: []string{"go: updates to go.mod needed", `FAIL: go test (all) exited with status 1`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAllowlist("allow.txt", strings.NewReader(allow))
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			s := NewSummary(&out, a)
			if err := s.Read(strings.NewReader(strings.Join(tc.in, "\n") + "\n")); err != nil {
				t.Fatal(err)
			}
			code := s.Report()
			got := out.String()
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			if all := strings.Split(strings.TrimSuffix(got, "\n"), "\n"); all[len(all)-1] != tc.last {
				t.Errorf("last line %q, want %q", all[len(all)-1], tc.last)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, w := range tc.avoid {
				if strings.Contains(got, w) {
					t.Errorf("output has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", got)
			}
		})
	}
}

func TestParseAllowlist(t *testing.T) {
	a, err := ParseAllowlist("a", strings.NewReader("\n# c\n./internal/x TestA/sub  needs  a GPU\ngithub.com/o/r/y TestB why\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		k      key
		reason string
	}{
		{key{"github.com/o/r/internal/x", "TestA/sub"}, "needs a GPU"},
		{key{"github.com/o/r/y", "TestB"}, "why"},
		{key{"github.com/o/r/internal/x", "TestA"}, ""},
		{key{"github.com/o/r/notinternal/x", "TestA/sub"}, ""},
		{key{"github.com/o/r/internal/y", "TestB"}, ""},
	} {
		if reason, _ := a.Allowed(tc.k); reason != tc.reason {
			t.Errorf("Allowed(%v) = %q, want %q", tc.k, reason, tc.reason)
		}
	}
	if _, err := ParseAllowlist("a", strings.NewReader("internal/x TestA\n")); err == nil {
		t.Error("an entry without reason parsed")
	}
}
