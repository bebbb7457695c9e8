// Package config holds deskhub's configuration as plain data. Only cmd/ reads flags and environment and
// fills it in; every component takes what it needs from here.
package config

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"time"
)

// Config is the whole configuration of `deskhub serve`.
type Config struct {
	// Listen is the HTTP listen address (host:port).
	Listen string
	// DataDir holds the SQLite database, the outbox, keys and other state.
	DataDir string
	// DB is empty for SQLite in DataDir, or a postgres:// URL.
	DB string
	// ShutdownGrace bounds how long in-flight requests may take after SIGTERM.
	ShutdownGrace time.Duration
	// MaxBody limits API request bodies in bytes.
	MaxBody int64
	// Hostname is reported by /v3/api (default: the OS hostname).
	Hostname string

	Features Features
	SSH      SSHLogin
	Display  DisplayDefaults
}

// Features are the switches config.get reports.
type Features struct {
	DisableUserRegistration bool
	DisableUserRecovery     bool
	DisableServerAdd        bool
	DisableSSHKeyAdd        bool
	WebAuthnEnabled         bool
	SimplestreamEnabled     bool
}

// SSHLogin is what the session surface's login page should offer (/v3/api "ssh").
type SSHLogin struct {
	Basic             bool
	PublicKey         bool
	HidePasswordField bool
}

// DisplayDefaults are the display settings new sessions get (/v3/api/xrdp/config).
type DisplayDefaults struct {
	Geometry   string
	ColorDepth int
	FrameRate  int
	Clipboard  string // "both", "to-client", "to-server", "none"
}

// Default returns the configuration deskhub runs with when nothing is set.
func Default() Config {
	return Config{
		Listen:        "127.0.0.1:8080",
		DataDir:       "./var",
		ShutdownGrace: 15 * time.Second,
		MaxBody:       1 << 20,
		Features:      Features{WebAuthnEnabled: true, SimplestreamEnabled: true},
		SSH:           SSHLogin{PublicKey: true},
		Display:       DisplayDefaults{Geometry: "1280x800", ColorDepth: 24, FrameRate: 30, Clipboard: "both"},
	}
}

var geometryRE = regexp.MustCompile(`^([1-9][0-9]{1,4})x([1-9][0-9]{1,4})$`)

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen address %q: %v (want host:port, e.g. 127.0.0.1:8080)", c.Listen, err)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("listen address %q: bad port %q", c.Listen, port)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data dir must not be empty")
	}
	if c.ShutdownGrace <= 0 {
		return fmt.Errorf("shutdown grace must be positive, not %s", c.ShutdownGrace)
	}
	if c.MaxBody < 1024 {
		return fmt.Errorf("max body must be at least 1024 bytes, not %d", c.MaxBody)
	}
	if !geometryRE.MatchString(c.Display.Geometry) {
		return fmt.Errorf("display geometry %q: want WIDTHxHEIGHT, e.g. 1280x800", c.Display.Geometry)
	}
	switch c.Display.ColorDepth {
	case 8, 16, 24, 32:
	default:
		return fmt.Errorf("display colour depth %d: want 8, 16, 24 or 32", c.Display.ColorDepth)
	}
	if c.Display.FrameRate < 1 || c.Display.FrameRate > 240 {
		return fmt.Errorf("display frame rate %d: want 1 to 240", c.Display.FrameRate)
	}
	switch c.Display.Clipboard {
	case "both", "to-client", "to-server", "none":
	default:
		return fmt.Errorf("display clipboard %q: want both, to-client, to-server or none", c.Display.Clipboard)
	}
	return nil
}

// Port is the TCP port of the listen address (0 if it has none).
func (c Config) Port() int {
	_, port, _ := net.SplitHostPort(c.Listen)
	n, _ := strconv.Atoi(port)
	return n
}
