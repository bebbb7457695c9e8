package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "./var" || c.DB != "" || c.Port() != 8080 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestValidateNamesTheSetting(t *testing.T) {
	cases := map[string]func(*Config){
		"listen address":       func(c *Config) { c.Listen = "8080" },
		"bad port":             func(c *Config) { c.Listen = "127.0.0.1:99999" },
		"data dir":             func(c *Config) { c.DataDir = "" },
		"shutdown grace":       func(c *Config) { c.ShutdownGrace = -time.Second },
		"max body":             func(c *Config) { c.MaxBody = 10 },
		"body timeout":         func(c *Config) { c.BodyTimeout = 0 },
		"display geometry":     func(c *Config) { c.Display.Geometry = "1280*800" },
		"display colour depth": func(c *Config) { c.Display.ColorDepth = 12 },
		"display frame rate":   func(c *Config) { c.Display.FrameRate = 0 },
		"display clipboard":    func(c *Config) { c.Display.Clipboard = "sometimes" },
		"image max size":       func(c *Config) { c.Images.MaxSize = 1000 },
		"image upload timeout": func(c *Config) { c.Images.UploadTimeout = 0 },
		"image keep versions":  func(c *Config) { c.Images.KeepVersions = -1 },
		"image max age":        func(c *Config) { c.Images.MaxAge = -time.Hour },
		"image retention":      func(c *Config) { c.Images.RetentionInterval = time.Millisecond },
	}
	for want, mutate := range cases {
		c := Default()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v", want, err)
		}
	}
}

func TestImageServerURL(t *testing.T) {
	c := Default()
	if got := c.ImageServer(); got != "" {
		t.Fatalf("no HTTPS listener: %q, want empty", got)
	}
	c.TLS.Listen = "127.0.0.1:8443"
	if got := c.ImageServer(); got != "https://127.0.0.1:8443/simplestreams" {
		t.Fatalf("loopback: %q", got)
	}
	c.TLS.Listen, c.Hostname = "0.0.0.0:8443", "desk.example"
	if got := c.ImageServer(); got != "https://desk.example:8443/simplestreams" {
		t.Fatalf("unspecified address: %q", got)
	}
	c.ImageServerURL = "https://images.example/ss/"
	if got := c.ImageServer(); got != "https://images.example/ss" {
		t.Fatalf("configured: %q", got)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.TLS.Listen = "8443" },
		func(c *Config) { c.TLS.CertFile = "c.pem" },
		func(c *Config) { c.ImageServerURL = "http://images.example/" },
	} {
		c := Default()
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("accepted %+v", c.TLS)
		}
	}
}
