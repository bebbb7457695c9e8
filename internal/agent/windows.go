package agent

import (
	"context"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // wallpapers
	_ "image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/deskhub/deskhub/api/spawner"
	"github.com/deskhub/deskhub/internal/agent/x11"
	"github.com/deskhub/deskhub/internal/fault"
	"github.com/deskhub/deskhub/internal/httpapi"
)

// The X11 endpoints: window list, activate, close, tile, clipboard, background.

// xconn is the agent's X connection, opened on first use and again after it breaks.
type xconn struct {
	mu      sync.Mutex
	display string
	xauth   string
	c       *x11.Conn
}

func (x *xconn) get() (*x11.Conn, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.c != nil {
		return x.c, nil
	}
	c, err := x11.Dial(x.display, x.xauth)
	if err != nil {
		return nil, &httpapi.Error{Status: http.StatusServiceUnavailable, Msg: "the desktop's display does not answer", Err: err}
	}
	x.c = c
	return c, nil
}

// do runs fn on the connection, dropping the connection when it broke (the next call reconnects).
func (x *xconn) do(fn func(c *x11.Conn) error) error {
	c, err := x.get()
	if err != nil {
		return err
	}
	err = fn(c)
	if errors.Is(err, x11.ErrClosed) {
		x.mu.Lock()
		if x.c == c {
			x.c = nil
		}
		x.mu.Unlock()
	}
	return err
}

func (x *xconn) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.c != nil {
		x.c.Close()
		x.c = nil
	}
}

func windowsOut(ws []x11.Window) []spawner.Window {
	out := make([]spawner.Window, 0, len(ws))
	for _, w := range ws {
		out = append(out, spawner.Window{ID: int64(w.ID), Pid: w.PID, WMClass: w.WMClass, Title: w.Title, MachineName: w.MachineName})
	}
	return out
}

func (a *Agent) windows(*httpapi.Call, *spawner.Empty) ([]spawner.Window, error) {
	var out []spawner.Window
	err := a.x.do(func(c *x11.Conn) error {
		ws, err := c.Windows()
		out = windowsOut(ws)
		return err
	})
	return out, err
}

func windowIDs(ids []int64) ([]uint32, error) {
	out := make([]uint32, 0, len(ids))
	for i, id := range ids {
		if id <= 0 || id > 0xffffffff {
			return nil, fault.Memberf(fmt.Sprintf("windowsid[%d]", i), ": %d is not an X window id", id)
		}
		out = append(out, uint32(id))
	}
	if len(out) == 0 {
		return nil, fault.Memberf("windowsid", "must list at least one window")
	}
	return out, nil
}

// windowErr turns unknown window ids into a 404 naming them.
func windowErr(err error) error {
	var unknown *x11.UnknownWindowsError
	if errors.As(err, &unknown) {
		return httpapi.NotFound("no such windows: %v", unknown.IDs)
	}
	return err
}

func (a *Agent) activate(_ *httpapi.Call, r *spawner.WindowIDs) (string, error) {
	ids, err := windowIDs(r.WindowsID)
	if err != nil {
		return "", err
	}
	return "ok", windowErr(a.x.do(func(c *x11.Conn) error { return c.Activate(ids) }))
}

func (a *Agent) closeWindows(_ *httpapi.Call, r *spawner.WindowIDs) (string, error) {
	ids, err := windowIDs(r.WindowsID)
	if err != nil {
		return "", err
	}
	return "ok", windowErr(a.x.do(func(c *x11.Conn) error { return c.CloseWindows(ids) }))
}

func (a *Agent) tile(*httpapi.Call, *spawner.Empty) (string, error) {
	var n int
	err := a.x.do(func(c *x11.Conn) error {
		rects, err := c.Tile()
		n = len(rects)
		return err
	})
	return fmt.Sprintf("%d windows placed", n), err
}

// clipboardSync copies PRIMARY into CLIPBOARD; the agent keeps serving CLIPBOARD until another client
// takes it.
func (a *Agent) clipboardSync(*httpapi.Call, *spawner.Empty) (string, error) {
	var text string
	err := a.x.do(func(c *x11.Conn) error {
		var err error
		text, err = c.SyncClipboard(a.ctx)
		return err
	})
	if errors.Is(err, x11.ErrNoSelection) {
		return "", httpapi.Errorf(http.StatusConflict, "the PRIMARY selection holds no text to copy")
	}
	return fmt.Sprintf("%d characters copied", len([]rune(text))), err
}

func (a *Agent) setBackgroundColor(_ *httpapi.Call, r *spawner.SetBackgroundColor) (string, error) {
	err := a.x.do(func(c *x11.Conn) error { return c.SetBackgroundColor(r.Color) })
	var bad *x11.BadColorError
	if errors.As(err, &bad) {
		return "", fault.Memberf("color", "must be #RRGGBB or #RRGGBBAA, not %q", r.Color)
	}
	if err == nil {
		a.events.publish(spawner.Event{Type: "display.setBackgroundBorderColor", Data: r.Color})
	}
	return "ok", err
}

// wallpaper loads an image from the wallpapers directory (plain names only).
func (a *Agent) wallpaper(name string) (image.Image, error) {
	if name == "" || strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		return nil, fault.Memberf("imgName", "must be a file name in the wallpapers folder")
	}
	f, err := os.Open(filepath.Join(a.o.Wallpapers, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, httpapi.NotFound("no wallpaper %q", name)
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, httpapi.Errorf(http.StatusUnprocessableEntity, "wallpaper %q is not a PNG or JPEG image", name)
	}
	return img, nil
}

func (a *Agent) setBackgroundImage(_ *httpapi.Call, r *spawner.SetBackgroundImage) (spawner.BackgroundImage, error) {
	img, err := a.wallpaper(r.ImgName)
	if err != nil {
		return spawner.BackgroundImage{}, err
	}
	var color string
	err = a.x.do(func(c *x11.Conn) error {
		var err error
		color, err = c.SetBackgroundImage(img)
		return err
	})
	if err != nil {
		return spawner.BackgroundImage{}, err
	}
	a.events.publish(spawner.Event{Type: "display.setBackgroundBorderColor", Data: color})
	return spawner.BackgroundImage{Color: color, SubData: spawner.Success{Code: 200, Data: "ok"}}, nil
}

// DefaultWallpaper is the image setDefaultImage uses, in the wallpapers folder.
const DefaultWallpaper = "default.png"

// setDefaultImage puts the default wallpaper (default.png in the wallpapers folder, else deskhub's own
// gradient) on the desktop and answers its dominant colour.
func (a *Agent) setDefaultImage(c *httpapi.Call, _ *spawner.Empty) (string, error) {
	img, err := a.wallpaper(DefaultWallpaper)
	var he *httpapi.Error
	if errors.As(err, &he) && he.Status == http.StatusNotFound {
		img, err = builtinWallpaper(), nil
	}
	if err != nil {
		return "", err
	}
	var color string
	err = a.x.do(func(c *x11.Conn) error {
		var err error
		color, err = c.SetBackgroundImage(img)
		return err
	})
	if err == nil {
		a.events.publish(spawner.Event{Type: "display.setBackgroundBorderColor", Data: color})
	}
	return color, err
}

// builtinWallpaper is deskhub's default background: a dark blue vertical gradient.
func builtinWallpaper() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 64, 256))
	for y := range 256 {
		for x := range 64 {
			img.Pix[(y*64+x)*4+0] = uint8(20 + y/16)
			img.Pix[(y*64+x)*4+1] = uint8(40 + y/8)
			img.Pix[(y*64+x)*4+2] = uint8(90 + y/4)
			img.Pix[(y*64+x)*4+3] = 255
		}
	}
	return img
}

// broadcast pushes the window list to the event subscribers.
func (a *Agent) broadcast(*httpapi.Call, *spawner.Empty) (string, error) {
	var ws []x11.Window
	if err := a.x.do(func(c *x11.Conn) error {
		var err error
		ws, err = c.Windows()
		return err
	}); err != nil {
		return "", err
	}
	n := a.events.publish(spawner.Event{Type: "window.list", Data: windowsOut(ws)})
	return fmt.Sprintf("sent to %d listeners", n), nil
}

// watchWindows relays window list changes to the event subscribers until ctx ends.
func (a *Agent) watchWindows(ctx context.Context) {
	for ctx.Err() == nil {
		err := a.x.do(func(c *x11.Conn) error {
			c.Watch(ctx, func(e x11.Event) {
				a.events.publish(spawner.Event{Type: e.Type, Data: windowsOut(e.Windows)})
			})
			return nil
		})
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
			}
		}
	}
}
