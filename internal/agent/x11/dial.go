package x11

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jezek/xgb"
)

const cookieName = "MIT-MAGIC-COOKIE-1"

func init() {
	// xgb logs when it finds no credentials in the environment; Dial hands the cookie itself.
	xgb.Logger = log.New(io.Discard, "", 0)
}

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
	cookie, err := readCookie(xauthorityPath)
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
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	x, err := xgb.NewConnNet(&cookieConn{Conn: nc, cookie: cookie})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("x11: connect %s: %w", display, err)
	}
	_ = nc.SetDeadline(time.Time{})
	return x, nil
}

// readCookie reads the first MIT-MAGIC-COOKIE-1 of an Xauthority file (opened without following symlinks).
func readCookie(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return nil, err
	}
	for len(b) >= 10 {
		var fields [4][]byte
		p := b[2:]
		ok := true
		for i := range fields {
			if len(p) < 2 {
				ok = false
				break
			}
			n := int(binary.BigEndian.Uint16(p))
			if len(p) < 2+n {
				ok = false
				break
			}
			fields[i] = p[2 : 2+n]
			p = p[2+n:]
		}
		if !ok {
			break
		}
		if string(fields[2]) == cookieName && len(fields[3]) == 16 {
			return fields[3], nil
		}
		b = p
	}
	return nil, errors.New("no " + cookieName + " in " + path)
}

// cookieConn replaces the connection setup request xgb writes first by one carrying the cookie.
type cookieConn struct {
	net.Conn
	cookie []byte
	once   sync.Once
}

func (c *cookieConn) Write(b []byte) (int, error) {
	first := false
	c.once.Do(func() { first = true })
	if !first {
		return c.Conn.Write(b)
	}
	name := []byte(cookieName)
	pad := func(n int) int { return (n + 3) &^ 3 }
	buf := make([]byte, 12+pad(len(name))+pad(len(c.cookie)))
	buf[0] = 0x6c // little endian, as xgb
	binary.LittleEndian.PutUint16(buf[2:], 11)
	binary.LittleEndian.PutUint16(buf[4:], 0)
	binary.LittleEndian.PutUint16(buf[6:], uint16(len(name)))
	binary.LittleEndian.PutUint16(buf[8:], uint16(len(c.cookie)))
	copy(buf[12:], name)
	copy(buf[12+pad(len(name)):], c.cookie)
	if _, err := c.Conn.Write(buf); err != nil {
		return 0, err
	}
	return len(b), nil
}
