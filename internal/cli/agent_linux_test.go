package cli

import (
	"strings"
	"testing"
)

// TestDropExecutablePages: the executable's read-only mappings are found and advised, and the process
// runs on (its code and read-only data come back from the page cache).
func TestDropExecutablePages(t *testing.T) {
	if n := dropExecutablePages(); n == 0 {
		t.Fatal("no executable mapping dropped")
	}
	if got := strings.Repeat("ab", 3); got != "ababab" {
		t.Fatal(got)
	}
	if n := dropExecutablePages(); n == 0 {
		t.Fatal("second drop found nothing")
	}
}
