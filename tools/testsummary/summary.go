package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Event is one line of `go test -json` (cmd/test2json), plus the build events of `go test -json`.
type Event struct {
	Action      string
	Package     string
	Test        string
	Output      string
	ImportPath  string // build-output, build-fail
	FailedBuild string // package fail caused by a build failure (already reported by build-fail)
}

// Marker lines, written by scripts/test.sh between the JSON of its go test runs:
//
//	testsummary: run <label>   a go test run starts
//	testsummary: exit <code>   it ended with this exit status
const marker = "testsummary: "

type outcome int

// Ordered: when one test has several results (a rerun under -race), the highest wins.
const (
	none outcome = iota
	passed
	skipped
	failed
)

type key struct{ pkg, test string }

func (k key) String() string { return k.pkg + " " + k.test }

// run is one go test invocation of the stream.
type run struct {
	label     string
	executed  int             // counted tests that passed or failed in it
	failed    map[string]bool // packages with a failed test in it
	anyFailed bool            // something failed in it: a test, a package, a build
}

// Summary counts distinct tests from a stream of events and prints what a person needs as it goes: each
// package's result line, build errors and the output of failed tests. Report closes it.
type Summary struct {
	out      io.Writer
	allow    *Allowlist
	runs     []*run
	results  map[key]outcome
	order    []key // counted tests, first seen first
	skipMsg  map[key]string
	output   map[key][]string // output of tests and packages that have not ended
	running  map[key]bool
	seeds    map[key]bool // fuzz seed inputs: seen, not counted
	reruns   int          // results of counted tests seen before (the -race run), not counted again
	problems []string     // failures outside any test
}

// NewSummary returns a Summary that prints to out; skips not in allow fail the summary.
func NewSummary(out io.Writer, allow *Allowlist) *Summary {
	if allow == nil {
		allow = &Allowlist{}
	}
	return &Summary{out: out, allow: allow, results: map[key]outcome{}, skipMsg: map[key]string{},
		output: map[key][]string{}, running: map[key]bool{}, seeds: map[key]bool{}}
}

// Read feeds every line of r to Line.
func (s *Summary) Read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		s.Line(sc.Text())
	}
	return sc.Err()
}

// Line takes one line of input: a marker, a JSON event, or plain text (printed as is).
func (s *Summary) Line(line string) {
	if rest, ok := strings.CutPrefix(line, marker); ok {
		s.marker(rest)
		return
	}
	var ev Event
	if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Action == "" {
		fmt.Fprintln(s.out, line) // go command errors and other plain text
		if strings.HasPrefix(line, "FAIL") || strings.Contains(line, "[build failed]") ||
			strings.Contains(line, "[setup failed]") {
			s.problem(s.cur(), "%s", line)
		}
		return
	}
	s.Event(ev)
}

func (s *Summary) marker(m string) {
	if label, ok := strings.CutPrefix(m, "run "); ok {
		s.endTests("", "the run ended")
		s.runs = append(s.runs, &run{label: label, failed: map[string]bool{}})
		return
	}
	if code, ok := strings.CutPrefix(m, "exit "); ok && code != "0" && !s.cur().anyFailed {
		s.problem(s.cur(), "go test (%s) exited with status %s, yet no failure showed in its output", s.cur().label, code)
	}
}

// cur returns the current run; a stream without markers is one run.
func (s *Summary) cur() *run {
	if len(s.runs) == 0 {
		s.runs = append(s.runs, &run{label: "go test", failed: map[string]bool{}})
	}
	return s.runs[len(s.runs)-1]
}

func (s *Summary) problem(r *run, format string, args ...any) {
	r.anyFailed = true
	s.problems = append(s.problems, fmt.Sprintf(format, args...))
}

// Event takes one event.
func (s *Summary) Event(ev Event) {
	r := s.cur()
	k := key{ev.Package, ev.Test}
	switch ev.Action {
	case "build-output":
		fmt.Fprint(s.out, ev.Output)
	case "build-fail":
		s.problem(r, "build failed: %s", ev.ImportPath)
	case "run":
		s.running[k] = true
	case "output":
		if out := strings.TrimRight(ev.Output, "\n"); ev.Test == "" && packageLine(out) {
			fmt.Fprintln(s.out, out)
		} else {
			s.output[k] = append(s.output[k], out)
		}
	case "pass", "skip", "fail":
		o := map[string]outcome{"pass": passed, "skip": skipped, "fail": failed}[ev.Action]
		if ev.Test != "" {
			s.testEnd(r, k, o)
			return
		}
		if o == failed {
			s.endTests(ev.Package, "package "+ev.Package+" failed")
			s.printLines(s.output[k])
			if ev.FailedBuild == "" && !r.failed[ev.Package] {
				s.problem(r, "package %s failed outside its tests (output above)", ev.Package)
			}
			r.anyFailed = true
		}
		delete(s.output, k)
	}
}

// packageLine tells the package-level lines printed as they come (result lines, panics).
func packageLine(out string) bool {
	for _, p := range []string{"ok ", "FAIL", "?", "---", "panic", "#"} {
		if strings.HasPrefix(out, p) {
			return true
		}
	}
	return false
}

func (s *Summary) printLines(lines []string) {
	for _, l := range lines {
		fmt.Fprintln(s.out, l)
	}
}

// endTests fails the tests of pkg ("": of every package) that started and have no result: a timeout
// or a crash ended them, or the input stopped.
func (s *Summary) endTests(pkg, why string) {
	var open []key
	for k := range s.running {
		if pkg == "" || k.pkg == pkg {
			open = append(open, k)
		}
	}
	sort.Slice(open, func(i, j int) bool { return open[i].String() < open[j].String() })
	for _, k := range open {
		s.output[k] = append(s.output[k], fmt.Sprintf("--- FAIL: %s (did not finish: %s)", k.test, why))
		s.testEnd(s.cur(), k, failed)
	}
}

func (s *Summary) testEnd(r *run, k key, o outcome) {
	delete(s.running, k)
	lines := s.output[k]
	delete(s.output, k)
	if o == failed {
		s.printLines(lines)
		r.failed[k.pkg] = true
		r.anyFailed = true
	}
	top, _, sub := strings.Cut(k.test, "/")
	switch {
	case strings.HasPrefix(top, "Benchmark"):
		return // not a test
	case sub && strings.HasPrefix(top, "Fuzz"):
		s.seeds[k] = true // the Fuzz function counts, not each input
		return
	}
	if o != skipped {
		r.executed++
	}
	if prev, seen := s.results[k]; seen {
		s.reruns++
		o = max(o, prev)
	} else {
		s.order = append(s.order, k)
	}
	s.results[k] = o
	if o == skipped && s.skipMsg[k] == "" {
		s.skipMsg[k] = skipMessage(lines)
	}
}

// skipMessage is what the test said when it skipped (t.Skip's arguments, its logs).
func skipMessage(lines []string) string {
	var msg []string
	for _, l := range lines {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "=== ") && !strings.HasPrefix(t, "--- ") {
			msg = append(msg, t)
		}
	}
	if len(msg) == 0 {
		return "(no message)"
	}
	return strings.Join(msg, " / ")
}

// Report ends the input, prints skips, failures and the counts, and returns the exit status: 1 when a
// test failed, a test skipped without being in the allowlist, something failed outside the tests, or a
// run executed no test.
func (s *Summary) Report() int {
	s.endTests("", "the input ended")
	var n [failed + 1]int
	var top, sub int
	var allowed, unlisted, failures []string
	for _, k := range s.order {
		o := s.results[k]
		n[o]++
		if strings.Contains(k.test, "/") {
			sub++
		} else {
			top++
		}
		if o == failed {
			failures = append(failures, "  "+k.String())
		}
		if o != skipped {
			continue
		}
		if reason, ok := s.allow.Allowed(k); ok {
			allowed = append(allowed, fmt.Sprintf("  %s: %s (skip message: %s)", k, reason, s.skipMsg[k]))
		} else {
			unlisted = append(unlisted, fmt.Sprintf("  %s: %s", k, s.skipMsg[k]))
		}
	}
	problems := s.problems
	for _, r := range s.runs {
		if r.executed == 0 {
			problems = append(problems, fmt.Sprintf("no test ran in %q: a go test run must execute tests", r.label))
		}
	}
	if len(s.runs) == 0 {
		problems = append(problems, "no test ran: the input held no go test run")
	}

	fmt.Fprintln(s.out)
	s.section("allowed skips (listed in "+s.allow.Path()+"):", allowed)
	s.section("listed in "+s.allow.Path()+" but not skipped:", s.allow.Unused())
	s.section("FAIL: skipped but not listed in "+s.allow.Path()+" (list it there with a reason, or make it run):", unlisted)
	s.section("FAIL: failed tests:", failures)
	for _, p := range problems {
		fmt.Fprintln(s.out, "FAIL:", p)
	}
	fmt.Fprintf(s.out, "counted: %d top-level tests + %d subtests (not counted: %d fuzz seed inputs, %d repeated results such as -race reruns)\n",
		top, sub, len(s.seeds), s.reruns)
	fmt.Fprintf(s.out, "tests: %d passed, %d failed, %d skipped\n", n[passed], n[failed], n[skipped])
	if len(failures) > 0 || len(unlisted) > 0 || len(problems) > 0 {
		return 1
	}
	return 0
}

func (s *Summary) section(title string, lines []string) {
	if len(lines) > 0 {
		fmt.Fprintln(s.out, title)
		s.printLines(lines)
	}
}
