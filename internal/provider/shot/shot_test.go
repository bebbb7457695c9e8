package shot

import "testing"

func TestTargetSize(t *testing.T) {
	for _, tc := range []struct {
		sw, sh, w, h int
		keep         bool
		ww, wh       int
	}{
		{1024, 768, 0, 0, false, 1024, 768},
		{1024, 768, 320, 200, false, 320, 200},
		{1024, 768, 400, 400, true, 400, 300},
		{1024, 768, 640, 100, true, 133, 100},
		{1024, 768, 256, 0, false, 256, 192},
		{1024, 768, 0, 384, true, 512, 384},
		{768, 1024, 300, 300, true, 225, 300},
	} {
		w, h := TargetSize(tc.sw, tc.sh, tc.w, tc.h, tc.keep)
		if w != tc.ww || h != tc.wh {
			t.Errorf("%+v: got %dx%d", tc, w, h)
		}
	}
}
