package xdesk

// PulseSink is the null sink a desktop's PulseAudio has (and makes the default): desktops have no sound
// card; what plays there is heard through the sink's monitor.
const PulseSink = "deskhub"

// PulseArgs is the command line (after the program) of a desktop's own PulseAudio server: in the
// foreground, never idling out, without the system's default script (no hardware, no D-Bus), its native
// protocol on socket, and the null sink.
func PulseArgs(socket string) []string {
	return []string{
		"--daemonize=no",
		"--exit-idle-time=-1",
		"-n",
		"--use-pid-file=no",
		"--log-target=stderr",
		"--load=module-native-protocol-unix socket=" + socket,
		"--load=module-null-sink sink_name=" + PulseSink,
	}
}
