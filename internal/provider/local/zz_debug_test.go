package local

import (
	"bytes"
	"context"
	"image/png"
	"os/exec"
	"testing"
	"time"

	"github.com/deskhub/deskhub/internal/provider"
)

func TestZZDebugShot(t *testing.T) {
	p, as := newProvider(t)
	for k := 0; k < 6; k++ {
		id := "dbg" + string(rune('a'+k))
		d := startDesktop(t, p, provider.Spec{ID: id, RunAs: as, Command: []string{"xterm"}, Width: 1024, Height: 768})
		dt, _ := p.get(id)
		t0 := time.Now()
		for i := 0; i < 60; i++ {
			b, _ := p.Screenshot(context.Background(), id, provider.ScreenshotOptions{Format: "png"})
			img, _ := png.Decode(bytes.NewReader(b))
			nz := false
			for y := 0; y < 768 && !nz; y += 5 {
				for x := 0; x < 1024; x += 5 {
					if r, g, bb, _ := img.At(x, y).RGBA(); r+g+bb > 0 {
						nz = true
						break
					}
				}
			}
			if nz {
				t.Logf("%s drawn after %v", id, time.Since(t0))
				break
			}
			if i == 20 {
				out, _ := exec.Command("sh", "-c", "DISPLAY="+d.Display+" XAUTHORITY="+dt.xauthPath()+" xwininfo -root -children | head; DISPLAY="+d.Display+" XAUTHORITY="+dt.xauthPath()+" xwininfo -root -tree | grep -i xterm").CombinedOutput()
				t.Logf("%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.Stop(context.Background(), id)
	}
}
