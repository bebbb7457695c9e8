package cli

import (
	"os"
	"testing"

	"github.com/deskhub/deskhub/internal/infra/lxdtest"
	"github.com/deskhub/deskhub/internal/servetest"
)

// TestMain runs the tests under lxdtest.Main (remote_lxd_test.go uses the real LXD daemon: Main
// serialises the test binaries that use LXD and deletes what the run created there), then removes the
// deskhub binary the client-command tests built (remote_test.go).
func TestMain(m *testing.M) {
	code := lxdtest.Main(m)
	servetest.Cleanup()
	os.Exit(code)
}
