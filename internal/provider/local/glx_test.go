package local

import (
	"testing"
	"time"

	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/xtest"
)

// TestGLXOption: a desktop's X server has no GLX extension by default (Xvnc then does not load Mesa,
// ~50 MiB per desktop), and has it with Options.GLX; RENDER, which X clients draw with, is there either way.
func TestGLXOption(t *testing.T) {
	xtest.Ensure(t)
	as := xtest.User(t)
	for _, glx := range []bool{false, true} {
		p, err := New(Options{StateDir: xtest.StateDir(t), GLX: glx, StopGrace: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		id := "glxoff"
		if glx {
			id = "glxon"
		}
		startDesktop(t, p, provider.Spec{ID: id, Login: "glx", RunAs: as, Command: []string{"xterm"}, Width: 640, Height: 480})
		x := xconnTo(t, p, id)
		for _, ext := range []struct {
			name string
			want bool
		}{{"GLX", glx}, {"RENDER", true}} {
			r, err := xproto.QueryExtension(x, uint16(len(ext.name)), ext.name).Reply()
			if err != nil {
				t.Fatal(err)
			}
			if r.Present != ext.want {
				t.Errorf("Options.GLX %v: extension %s present %v, want %v", glx, ext.name, r.Present, ext.want)
			}
		}
		x.Close()
		if err := p.Stop(t.Context(), id); err != nil {
			t.Fatal(err)
		}
		p.Close()
	}
}
