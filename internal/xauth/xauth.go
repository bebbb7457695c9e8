// Package xauth is the X authorization deskhub's processes share: MIT-MAGIC-COOKIE-1 cookies in
// Xauthority files, and xgb connections that present a given cookie (xgb itself only reads
// $XAUTHORITY). Used by the local provider (which makes the cookies) and the desktop agent.
package xauth

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jezek/xgb"
)

// CookieName is the authorization protocol deskhub uses.
const CookieName = "MIT-MAGIC-COOKIE-1"

func init() {
	// xgb logs when it finds no credentials in the environment; connections here carry their cookie.
	xgb.Logger = log.New(io.Discard, "", 0)
}

// Entry is one Xauthority file entry granting cookie for any display (FamilyWild).
func Entry(cookie []byte) []byte {
	var b bytes.Buffer
	put := func(s []byte) {
		_ = binary.Write(&b, binary.BigEndian, uint16(len(s)))
		b.Write(s)
	}
	_ = binary.Write(&b, binary.BigEndian, uint16(0xffff)) // FamilyWild
	put(nil)                                               // address
	put(nil)                                               // display number: any
	put([]byte(CookieName))
	put(cookie)
	return b.Bytes()
}

// ReadCookie reads the first MIT cookie of an Xauthority file, opened without following symlinks (the
// file may sit in a directory its user controls) and only if it is a regular file.
func ReadCookie(path string) ([]byte, error) {
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
		if string(fields[2]) == CookieName && len(fields[3]) == 16 {
			return fields[3], nil
		}
		b = p
	}
	return nil, fmt.Errorf("no %s in %s", CookieName, path)
}

// Connect sets up an xgb connection over nc presenting cookie; the setup must finish by deadline.
func Connect(nc net.Conn, cookie []byte, deadline time.Time) (*xgb.Conn, error) {
	_ = nc.SetDeadline(deadline)
	x, err := xgb.NewConnNet(&cookieConn{Conn: nc, cookie: cookie})
	if err != nil {
		nc.Close()
		return nil, err
	}
	_ = nc.SetDeadline(time.Time{})
	return x, nil
}

// cookieConn replaces the connection setup request xgb writes first (with whatever credentials xgb found
// in the environment, or none) by one carrying the cookie. The rest passes through.
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
	name := []byte(CookieName)
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
