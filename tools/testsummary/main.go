// Command testsummary reads `go test -json` events on standard input and prints what a person needs:
// each package's result line, the output of failed tests, and a closing line
// "tests: N passed, N failed, N skipped". It exits 1 when anything failed, or when no test ran.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

func main() {
	var passed, failed, skipped, buildFailed, pkgFailed int
	outputs := map[string][]string{} // package/test → output lines
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Action == "" {
			fmt.Println(string(line)) // build errors and other plain text
			if strings.HasPrefix(string(line), "FAIL") || strings.Contains(string(line), "[build failed]") {
				buildFailed++
			}
			continue
		}
		key := ev.Package + "\x00" + ev.Test
		switch ev.Action {
		case "build-output":
			fmt.Print(ev.Output)
		case "build-fail":
			buildFailed++
		case "output":
			if ev.Test == "" {
				out := strings.TrimRight(ev.Output, "\n")
				if strings.HasPrefix(out, "ok ") || strings.HasPrefix(out, "FAIL") || strings.HasPrefix(out, "?") ||
					strings.HasPrefix(out, "---") || strings.HasPrefix(out, "panic") || strings.HasPrefix(out, "#") {
					fmt.Println(out)
				} else {
					outputs[key] = append(outputs[key], out)
				}
				continue
			}
			outputs[key] = append(outputs[key], strings.TrimRight(ev.Output, "\n"))
		case "pass":
			if ev.Test != "" {
				passed++
			}
			delete(outputs, key)
		case "skip":
			if ev.Test != "" {
				skipped++
				for _, l := range outputs[key] {
					if strings.Contains(l, "SKIP") || strings.Contains(l, "_test.go") {
						fmt.Println(l)
					}
				}
			}
			delete(outputs, key)
		case "fail":
			if ev.Test != "" {
				failed++
				for _, l := range outputs[key] {
					fmt.Println(l)
				}
			} else {
				pkgFailed++
				for _, l := range outputs[key] {
					fmt.Println(l)
				}
			}
			delete(outputs, key)
		}
	}
	fmt.Printf("tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped)
	switch {
	case failed > 0 || buildFailed > 0 || pkgFailed > 0:
		os.Exit(1)
	case passed == 0:
		fmt.Println("testsummary: no test ran")
		os.Exit(1)
	}
}
