// Command testsummary reads `go test -json` events on standard input (one or more go test runs, see
// the markers in summary.go) and prints what a person needs: each package's result line, the output of
// failed tests, the allowed skips, and a closing line "tests: N passed, N failed, N skipped" that counts
// distinct tests — a test run again (under -race) counts once, and failed if it failed in any run; fuzz
// seed inputs and benchmarks are not counted. It exits 1 when a test failed, a test skipped without
// being listed in the allowlist (-skips), something failed outside the tests, or a run executed no test.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

func main() {
	path := flag.String("skips", ".ci/skip-allowlist", "the allowlist of skipped tests: lines `package TestName  reason`")
	flag.Parse()
	allow, err := LoadAllowlist(*path)
	if errors.Is(err, fs.ErrNotExist) && !flagSet("skips") {
		allow, err = &Allowlist{path: *path}, nil // run outside the repository root: no skip is allowed
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(2)
	}
	s := NewSummary(os.Stdout, allow)
	if err := s.Read(os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary: reading input:", err)
		s.problem(s.cur(), "reading input: %v", err)
	}
	os.Exit(s.Report())
}

func flagSet(name string) (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// Allowlist holds the tests allowed to skip, each with its reason.
type Allowlist struct {
	path    string
	entries []allowed
}

type allowed struct {
	pkg, test, reason string
	used              bool
}

// LoadAllowlist reads an allowlist file; see ParseAllowlist.
func LoadAllowlist(path string) (*Allowlist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseAllowlist(path, f)
}

// ParseAllowlist reads lines `package TestName  reason`: the package by import path, or by its path in
// the module (internal/agent/audio); the test by its full name (TestX or TestX/sub); a reason is
// required. Blank lines and lines starting with # are ignored.
func ParseAllowlist(path string, r io.Reader) (*Allowlist, error) {
	a := &Allowlist{path: path}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("%s:%d: want `package TestName  reason`, got %q", path, n, line)
		}
		a.entries = append(a.entries, allowed{pkg: strings.TrimPrefix(f[0], "./"), test: f[1], reason: strings.Join(f[2:], " ")})
	}
	return a, sc.Err()
}

// Path is where the allowlist lives.
func (a *Allowlist) Path() string {
	if a.path == "" {
		return "the skip allowlist"
	}
	return a.path
}

// Allowed returns why the test may skip, and marks its entry used.
func (a *Allowlist) Allowed(k key) (reason string, ok bool) {
	for i := range a.entries {
		e := &a.entries[i]
		if e.test == k.test && (e.pkg == k.pkg || strings.HasSuffix(k.pkg, "/"+e.pkg)) {
			e.used = true
			return e.reason, true
		}
	}
	return "", false
}

// Unused lists the entries no test used.
func (a *Allowlist) Unused() []string {
	var out []string
	for _, e := range a.entries {
		if !e.used {
			out = append(out, fmt.Sprintf("  %s %s: %s", e.pkg, e.test, e.reason))
		}
	}
	return out
}
