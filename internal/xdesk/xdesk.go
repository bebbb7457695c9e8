// Package xdesk holds what it takes to run one X desktop, shared by the local provider (desktops on the
// broker's host) and the desktop's init (`deskhub agent init`, PID 1 of a container): the Unix account a
// desktop runs as (credentials, environment, PATH lookups), the TigerVNC Xvnc command line, the X lock
// and socket files of a display, waiting until an X server answers and until a window manager is in
// charge, PulseAudio's command line, and the restart budget of supervised programs.
//
// Files of the package:
//
//	account.go  Account: lookup, credentials, home, environment, PATH lookups as that user
//	xvnc.go     Xvnc's command line, /tmp/.X11-unix, X locks and sockets, WaitX
//	xconn.go    X connections with a cookie, window manager detection (WMRunning, WMOwned, WaitWM)
//	pulse.go    PulseAudio's command line for a desktop
//	restart.go  Restarts: at most N restarts in a window, with a growing delay
package xdesk
