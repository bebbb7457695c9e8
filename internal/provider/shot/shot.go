// Package shot turns a desktop's screen, as an RGBA image, into the screenshot session/screenshot
// answers: scaled to the asked size (keeping the aspect or not) and encoded as PNG or JPEG. The local
// provider (X GetImage) and the LXD provider (an RFB frame) share it.
package shot

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"

	"github.com/deskhub/deskhub/api/fastx"
	"github.com/deskhub/deskhub/internal/provider"
)

// MaxSide bounds screenshot dimensions (the broker refuses larger ones with a 400 before asking).
const MaxSide = fastx.MaxScreenshotSide

// Encode scales src to the size o asks for (see TargetSize) and encodes it as PNG or JPEG.
func Encode(src *image.RGBA, o provider.ScreenshotOptions) ([]byte, error) {
	format := o.Format
	if format == "" {
		format = "png"
	}
	if format == "jpg" {
		format = "jpeg"
	}
	if format != "png" && format != "jpeg" {
		return nil, fmt.Errorf("screenshot format %q: want png or jpeg", o.Format)
	}
	if o.Width < 0 || o.Height < 0 || o.Width > MaxSide || o.Height > MaxSide {
		return nil, fmt.Errorf("screenshot size %dx%d out of range (0..%d)", o.Width, o.Height, MaxSide)
	}
	sw, sh := src.Bounds().Dx(), src.Bounds().Dy()
	w, h := TargetSize(sw, sh, o.Width, o.Height, o.KeepAspect)
	var img image.Image = src
	if w != sw || h != sh {
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		var kernel draw.Interpolator = draw.CatmullRom
		if w > sw || h > sh || sw*sh > 4096*2160 {
			kernel = draw.ApproxBiLinear
		}
		kernel.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		img = dst
	}
	var buf bytes.Buffer
	var err error
	if format == "png" {
		err = (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// TargetSize computes the output size: 0 means "the desktop's" (or, with the other side given and
// keepAspect or not, the proportional value); keepAspect fits inside w×h.
func TargetSize(sw, sh, w, h int, keepAspect bool) (int, int) {
	switch {
	case w == 0 && h == 0:
		return sw, sh
	case w == 0:
		w = max(1, (sw*h+sh/2)/sh)
		return w, h
	case h == 0:
		h = max(1, (sh*w+sw/2)/sw)
		return w, h
	}
	if !keepAspect {
		return w, h
	}
	// Fit inside w×h.
	if sw*h > sh*w { // source wider than the box
		return w, max(1, (sh*w+sw/2)/sw)
	}
	return max(1, (sw*h+sh/2)/sh), h
}
