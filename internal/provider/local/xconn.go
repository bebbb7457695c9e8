package local

import (
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"
)

// topLevelWindows counts the mapped, managed (not override-redirect) children of the root window.
func topLevelWindows(x *xgb.Conn) (int, error) {
	root := xproto.Setup(x).DefaultScreen(x).Root
	tree, err := xproto.QueryTree(x, root).Reply()
	if err != nil {
		return 0, err
	}
	cookies := make([]xproto.GetWindowAttributesCookie, len(tree.Children))
	for i, w := range tree.Children {
		cookies[i] = xproto.GetWindowAttributes(x, w)
	}
	n := 0
	for _, c := range cookies {
		a, err := c.Reply()
		if err != nil || a == nil { // the window went away meanwhile
			continue
		}
		if a.MapState != xproto.MapStateUnmapped && !a.OverrideRedirect && a.Class == xproto.WindowClassInputOutput {
			n++
		}
	}
	return n, nil
}
