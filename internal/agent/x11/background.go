package x11

import (
	"errors"
	"fmt"
	"image"
	"image/color"

	"github.com/jezek/xgb/xproto"
	"golang.org/x/image/draw"
)

// BadColorError: a colour is not "#RRGGBB" or "#RRGGBBAA".
type BadColorError struct{ Color string }

func (e *BadColorError) Error() string {
	return fmt.Sprintf("x11: bad colour %q: want #RRGGBB or #RRGGBBAA", e.Color)
}

// ParseColor parses "#RRGGBB" (alpha 255) or "#RRGGBBAA" (hex digits of either case), nothing else.
func ParseColor(s string) (r, g, b, a uint8, err error) {
	if (len(s) != 7 && len(s) != 9) || s[0] != '#' {
		return 0, 0, 0, 0, &BadColorError{Color: s}
	}
	var v [4]uint8
	v[3] = 0xff
	for i := 0; i < (len(s)-1)/2; i++ {
		hi, ok1 := unhex(s[1+2*i])
		lo, ok2 := unhex(s[2+2*i])
		if !ok1 || !ok2 {
			return 0, 0, 0, 0, &BadColorError{Color: s}
		}
		v[i] = hi<<4 | lo
	}
	return v[0], v[1], v[2], v[3], nil
}

func unhex(c byte) (uint8, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// SetBackgroundColor paints the root window background with a colour ("#RRGGBB" or "#RRGGBBAA"; the root
// window has no alpha, so alpha is ignored).
func (c *Conn) SetBackgroundColor(s string) error {
	r, g, b, _, err := ParseColor(s)
	if err != nil {
		return err
	}
	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	col, err := xproto.AllocColor(c.x, c.screen.DefaultColormap, uint16(r)*257, uint16(g)*257, uint16(b)*257).Reply()
	if err != nil {
		return fmt.Errorf("x11: AllocColor: %w", err)
	}
	if err := xproto.ChangeWindowAttributesChecked(c.x, c.root, xproto.CwBackPixel, []uint32{col.Pixel}).Check(); err != nil {
		return fmt.Errorf("x11: root background: %w", err)
	}
	if err := xproto.ClearAreaChecked(c.x, false, c.root, 0, 0, 0, 0).Check(); err != nil {
		return fmt.Errorf("x11: ClearArea: %w", err)
	}
	return nil
}

// pixelFormat describes how the root window's pixels are laid out in a ZPixmap.
type pixelFormat struct {
	depth      byte
	bpp, pad   int
	msb        bool
	rm, gm, bm uint32
}

func (c *Conn) rootFormat() (pixelFormat, error) {
	setup := xproto.Setup(c.x)
	f := pixelFormat{depth: c.screen.RootDepth, msb: setup.ImageByteOrder == xproto.ImageOrderMSBFirst}
	for _, pf := range setup.PixmapFormats {
		if pf.Depth == f.depth {
			f.bpp, f.pad = int(pf.BitsPerPixel), int(pf.ScanlinePad)
		}
	}
	if f.bpp != 8 && f.bpp != 16 && f.bpp != 24 && f.bpp != 32 {
		return f, fmt.Errorf("x11: unsupported %d bits per pixel at depth %d", f.bpp, f.depth)
	}
	for _, d := range c.screen.AllowedDepths {
		for _, v := range d.Visuals {
			if v.VisualId == c.screen.RootVisual {
				if v.Class != xproto.VisualClassTrueColor && v.Class != xproto.VisualClassDirectColor {
					return f, errors.New("x11: only TrueColor root visuals are supported")
				}
				f.rm, f.gm, f.bm = v.RedMask, v.GreenMask, v.BlueMask
				return f, nil
			}
		}
	}
	return f, errors.New("x11: root visual not found")
}

// stride is the bytes per scanline of a w-pixel row.
func (f pixelFormat) stride(w int) int {
	pad := f.pad
	if pad <= 0 {
		pad = 32
	}
	return ((w*f.bpp + pad - 1) / pad) * pad / 8
}

// encode turns RGBA rows [y0, y1) into ZPixmap data.
func (f pixelFormat) encode(img *image.RGBA, y0, y1 int) []byte {
	w := img.Bounds().Dx()
	st := f.stride(w)
	out := make([]byte, st*(y1-y0))
	bytesPP := f.bpp / 8
	ch := func(v uint8, m uint32) uint32 {
		if m == 0 {
			return 0
		}
		s := 0
		for m>>s&1 == 0 {
			s++
		}
		max := m >> s
		return (uint32(v)*max + 127) / 255 << s & m
	}
	for y := y0; y < y1; y++ {
		row := out[(y-y0)*st:]
		src := img.Pix[y*img.Stride:]
		for x := 0; x < w; x++ {
			p := src[4*x:]
			v := ch(p[0], f.rm) | ch(p[1], f.gm) | ch(p[2], f.bm)
			d := row[x*bytesPP : x*bytesPP+bytesPP]
			for i := 0; i < bytesPP; i++ {
				if f.msb {
					d[bytesPP-1-i] = byte(v >> (8 * i))
				} else {
					d[i] = byte(v >> (8 * i))
				}
			}
		}
	}
	return out
}

// SetBackgroundImage scales img to the root window, makes it the root background and returns its dominant
// colour ("#rrggbb": the most frequent colour after quantising to 4 bits per channel, averaged over the
// pixels of that bucket).
func (c *Conn) SetBackgroundImage(img image.Image) (string, error) {
	if img == nil || img.Bounds().Empty() {
		return "", errors.New("x11: empty image")
	}
	f, err := c.rootFormat()
	if err != nil {
		return "", err
	}
	dominant := DominantColor(img)
	w, h := int(c.screen.WidthInPixels), int(c.screen.HeightInPixels)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)

	c.bgMu.Lock()
	defer c.bgMu.Unlock()
	pix, err := xproto.NewPixmapId(c.x)
	if err != nil {
		return "", fmt.Errorf("x11: %w", err)
	}
	if err := xproto.CreatePixmapChecked(c.x, f.depth, pix, xproto.Drawable(c.root), uint16(w), uint16(h)).Check(); err != nil {
		return "", fmt.Errorf("x11: CreatePixmap: %w", err)
	}
	defer xproto.FreePixmap(c.x, pix) // the root window keeps its own reference
	gc, err := xproto.NewGcontextId(c.x)
	if err != nil {
		return "", fmt.Errorf("x11: %w", err)
	}
	if err := xproto.CreateGCChecked(c.x, gc, xproto.Drawable(pix), 0, nil).Check(); err != nil {
		return "", fmt.Errorf("x11: CreateGC: %w", err)
	}
	defer xproto.FreeGC(c.x, gc)
	// PutImage in chunks of rows that fit in one request (24 bytes of header).
	maxData := int(xproto.Setup(c.x).MaximumRequestLength)*4 - 24
	rows := max(1, maxData/f.stride(w))
	if f.stride(w) > maxData {
		return "", fmt.Errorf("x11: a %d-pixel row does not fit in one request", w)
	}
	for y := 0; y < h; y += rows {
		y1 := min(h, y+rows)
		data := f.encode(dst, y, y1)
		if err := xproto.PutImageChecked(c.x, xproto.ImageFormatZPixmap, xproto.Drawable(pix), gc,
			uint16(w), uint16(y1-y), 0, int16(y), 0, f.depth, data).Check(); err != nil {
			return "", fmt.Errorf("x11: PutImage: %w", err)
		}
	}
	if err := xproto.ChangeWindowAttributesChecked(c.x, c.root, xproto.CwBackPixmap, []uint32{uint32(pix)}).Check(); err != nil {
		return "", fmt.Errorf("x11: root background: %w", err)
	}
	if err := xproto.ClearAreaChecked(c.x, false, c.root, 0, 0, 0, 0).Check(); err != nil {
		return "", fmt.Errorf("x11: ClearArea: %w", err)
	}
	return dominant, nil
}

// DominantColor is the most frequent colour of img after quantising to 4 bits per channel (sampling at most
// about 512×512 pixels), averaged over that bucket, as "#rrggbb".
func DominantColor(img image.Image) string {
	b := img.Bounds()
	if b.Empty() {
		return "#000000"
	}
	sx, sy := max(1, b.Dx()/512), max(1, b.Dy()/512)
	type acc struct{ n, r, g, b int }
	var buckets [4096]acc
	for y := b.Min.Y; y < b.Max.Y; y += sy {
		for x := b.Min.X; x < b.Max.X; x += sx {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			k := int(c.R>>4)<<8 | int(c.G>>4)<<4 | int(c.B>>4)
			a := &buckets[k]
			a.n++
			a.r += int(c.R)
			a.g += int(c.G)
			a.b += int(c.B)
		}
	}
	best := 0
	for i := range buckets {
		if buckets[i].n > buckets[best].n {
			best = i
		}
	}
	a := buckets[best]
	return fmt.Sprintf("#%02x%02x%02x", (a.r+a.n/2)/a.n, (a.g+a.n/2)/a.n, (a.b+a.n/2)/a.n)
}
