package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// runBridge is `deskhub agent bridge SOCKET`, a hidden subcommand run inside a desktop container
// through LXD's exec API: it connects to the unix socket SOCKET (/run/deskhub/rfb.sock or agent.sock)
// and copies standard input to it and what it answers to standard output, so that the broker reaches
// the desktop's RFB server or agent over the exec API's websockets alone, with no network device in
// the container and no socket on the LXD host (docs/LXD-DESKTOPS.md). It ends, closing the socket, as
// soon as either side ends: the broker closing its end (standard input at EOF) or the desktop closing
// the connection.
func runBridge(ctx context.Context, e *Env, args []string) error {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") || !strings.HasPrefix(args[0], "/") {
		fmt.Fprintln(e.Stderr, "usage: deskhub agent bridge /PATH/OF/UNIX.SOCKET")
		return errUsage
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", args[0])
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	defer conn.Close()
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, e.Stdin)
		done <- err
	}()
	go func() {
		_, err := io.Copy(e.Stdout, conn)
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
	}
	if err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("bridge: %w", err)
	}
	return nil
}
