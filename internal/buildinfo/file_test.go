package buildinfo

import (
	"os"
	"runtime"
	"testing"
)

func TestFromFile(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	info, err := FromFile(self)
	if err != nil {
		t.Fatalf("FromFile(the test binary): %v", err)
	}
	if info.Go != runtime.Version() {
		t.Errorf("Go = %q, want %q", info.Go, runtime.Version())
	}
	for _, p := range []string{"/nonexistent/deskhub", "/etc/passwd"} {
		if _, err := FromFile(p); err == nil {
			t.Errorf("FromFile(%s): no error", p)
		}
	}
}
