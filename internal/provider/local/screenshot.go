package local

import (
	"context"
	"fmt"
	"image"
	"time"

	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/deskhub/deskhub/internal/provider"
	"github.com/deskhub/deskhub/internal/provider/shot"
	"github.com/deskhub/deskhub/internal/xdesk"
)

// Screenshot implements provider.Provider.
func (p *Provider) Screenshot(ctx context.Context, id string, o provider.ScreenshotOptions) ([]byte, error) {
	d, err := p.running(id)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	x, err := xdesk.DialX(cctx, d.rt.Display, d.cookie)
	if err != nil {
		return nil, fmt.Errorf("local: screenshot %s: %w", id, err)
	}
	defer x.Close()
	img, err := grabRoot(x)
	if err != nil {
		return nil, fmt.Errorf("local: screenshot %s: %w", id, err)
	}
	return shot.Encode(img, o)
}

// grabRoot reads the root window into an RGBA image.
func grabRoot(x *xgb.Conn) (*image.RGBA, error) {
	setup := xproto.Setup(x)
	scr := setup.DefaultScreen(x)
	w, h := int(scr.WidthInPixels), int(scr.HeightInPixels)
	reply, err := xproto.GetImage(x, xproto.ImageFormatZPixmap, xproto.Drawable(scr.Root),
		0, 0, uint16(w), uint16(h), 0xffffffff).Reply()
	if err != nil {
		return nil, fmt.Errorf("GetImage: %w", err)
	}
	var format *xproto.Format
	for i := range setup.PixmapFormats {
		if setup.PixmapFormats[i].Depth == reply.Depth {
			format = &setup.PixmapFormats[i]
		}
	}
	if format == nil {
		return nil, fmt.Errorf("no pixmap format for depth %d", reply.Depth)
	}
	var vis *xproto.VisualInfo
	for _, d := range scr.AllowedDepths {
		for i := range d.Visuals {
			if d.Visuals[i].VisualId == reply.Visual {
				vis = &d.Visuals[i]
			}
		}
	}
	if vis == nil || (vis.Class != xproto.VisualClassTrueColor && vis.Class != xproto.VisualClassDirectColor) {
		return nil, fmt.Errorf("unsupported visual %d (only TrueColor)", reply.Visual)
	}
	return convertZPixmap(reply.Data, w, h, int(format.BitsPerPixel), int(format.ScanlinePad),
		setup.ImageByteOrder == xproto.ImageOrderMSBFirst, vis.RedMask, vis.GreenMask, vis.BlueMask)
}

// convertZPixmap turns a TrueColor ZPixmap into RGBA.
func convertZPixmap(data []byte, w, h, bpp, pad int, msb bool, rm, gm, bm uint32) (*image.RGBA, error) {
	if bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32 {
		return nil, fmt.Errorf("unsupported %d bits per pixel", bpp)
	}
	if pad <= 0 {
		pad = 32
	}
	stride := ((w*bpp + pad - 1) / pad) * pad / 8
	if len(data) < stride*(h-1)+w*bpp/8 {
		return nil, fmt.Errorf("short image: %d bytes for %dx%d", len(data), w, h)
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	bytesPP := bpp / 8
	// Fast path: 32 bpp BGRX in memory (LSB first, masks ff0000/ff00/ff), what Xvnc uses at depth 24/32.
	if bpp == 32 && !msb && rm == 0xff0000 && gm == 0xff00 && bm == 0xff {
		for y := 0; y < h; y++ {
			src := data[y*stride : y*stride+w*4]
			dst := img.Pix[y*img.Stride : y*img.Stride+w*4]
			for i := 0; i < len(src); i += 4 {
				dst[i+0] = src[i+2]
				dst[i+1] = src[i+1]
				dst[i+2] = src[i+0]
				dst[i+3] = 0xff
			}
		}
		return img, nil
	}
	type ch struct {
		shift uint
		max   uint32
	}
	mk := func(m uint32) ch {
		if m == 0 {
			return ch{}
		}
		s := uint(0)
		for m&1 == 0 {
			m >>= 1
			s++
		}
		return ch{shift: s, max: m}
	}
	r, g, b := mk(rm), mk(gm), mk(bm)
	scale := func(v uint32, c ch) uint8 {
		if c.max == 0 {
			return 0
		}
		return uint8(((v >> c.shift) & c.max) * 255 / c.max)
	}
	for y := 0; y < h; y++ {
		row := data[y*stride:]
		for xx := 0; xx < w; xx++ {
			p := row[xx*bytesPP : xx*bytesPP+bytesPP]
			var v uint32
			if msb {
				for _, c := range p {
					v = v<<8 | uint32(c)
				}
			} else {
				for i := len(p) - 1; i >= 0; i-- {
					v = v<<8 | uint32(p[i])
				}
			}
			o := y*img.Stride + xx*4
			img.Pix[o+0] = scale(v&rm, r)
			img.Pix[o+1] = scale(v&gm, g)
			img.Pix[o+2] = scale(v&bm, b)
			img.Pix[o+3] = 0xff
		}
	}
	return img, nil
}
