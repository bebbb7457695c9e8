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
			r, g, bb, _ := img.At(100, 100).RGBA()
			if r+g+bb > 0 {
				t.Logf("%s drawn after %v", id, time.Since(t0))
				break
			}
			if i == 5 {
				out, _ := exec.Command("sh", "-c", "DISPLAY="+d.Display+" XAUTHORITY="+dt.xauthPath()+" xwininfo -root -children | head; DISPLAY="+d.Display+" XAUTHORITY="+dt.xauthPath()+" xwininfo -root -tree | grep -i xterm").CombinedOutput()
				t.Logf("%s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		p.Stop(context.Background(), id)
	}
}
