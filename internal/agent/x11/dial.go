package x11

import (
	"github.com/deskhub/deskhub/internal/xauth"

	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jezek/xgb"
)

// parseDisplay splits "[host]:N[.S]" into host and display number.
func parseDisplay(display string) (host string, n int, err error) {
	i := strings.LastIndexByte(display, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("x11: bad display %q", display)
	}
	host = display[:i]
	num := display[i+1:]
	if j := strings.IndexByte(num, '.'); j >= 0 {
		num = num[:j]
	}
	n, err = strconv.Atoi(num)
	if err != nil || n < 0 || n > 65535-6000 {
		return "", 0, fmt.Errorf("x11: bad display %q", display)
	}
	return host, n, nil
}

// dialRaw opens an xgb connection to display with the MIT cookie found in xauthorityPath (when given).
func dialRaw(display, xauthorityPath string) (*xgb.Conn, error) {
	if xauthorityPath == "" {
		return xgb.NewConnDisplay(display)
	}
	cookie, err := xauth.ReadCookie(xauthorityPath)
	if err != nil {
		return nil, fmt.Errorf("x11: %w", err)
	}
	host, n, err := parseDisplay(display)
	if err != nil {
		return nil, err
	}
	var nc net.Conn
	if host == "" || host == "unix" {
		nc, err = net.DialTimeout("unix", "/tmp/.X11-unix/X"+strconv.Itoa(n), 5*time.Second)
	} else {
		nc, err = net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(6000+n)), 5*time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("x11: %w", err)
	}
	x, err := xauth.Connect(nc, cookie, time.Now().Add(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("x11: connect %s: %w", display, err)
	}
	return x, nil
}
