package cli

import (
	"os"
	"testing"

	"github.com/deskhub/deskhub/internal/servetest"
)

// TestMain removes the deskhub binary the client-command tests built (remote_test.go).
func TestMain(m *testing.M) {
	code := m.Run()
	servetest.Cleanup()
	os.Exit(code)
}
