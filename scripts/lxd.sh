#!/usr/bin/env bash
# lxd.sh — run the LXD daemon the tests use, on a machine without systemd (Debian 12, as root).
#
#   scripts/lxd.sh [start]   start the daemon if it does not answer, wait until it is ready, then make
#                            sure (idempotently) that storage pool "default" (dir) exists, the default
#                            profile has a root disk on it and core.https_address is 127.0.0.1:8443;
#                            and, when the kernel has btrfs (/proc/filesystems) and mkfs.btrfs exists,
#                            storage pool "deskhub-btrfs" (btrfs on a loop file LXD makes,
#                            $BTRFS_SIZE, sparse): instances on it are copy-on-write snapshots of
#                            their image (docs/LXD-DESKTOPS.md, "Storage pools")
#   scripts/lxd.sh stop      SIGTERM the daemon and wait for it to exit (containers keep running)
#   scripts/lxd.sh kill      SIGKILL the daemon (fault tests; containers keep running)
#   scripts/lxd.sh restart   stop, then start
#   scripts/lxd.sh status    print "running <pid>" or "stopped" on stdout (exit 1 when stopped)
#
# The daemon is started like Debian's lxd.service does it: `lxd --group root --logfile $LOG`, detached
# (setsid + nohup) so it outlives this script and the test binary that ran it. The API listens on the
# unix socket and on loopback only; this script never creates a network (no lxdbr0) and never gives the
# default profile a NIC. Needs the Debian packages lxd and busybox-static (scripts/deps.sh installs them).
# Nothing goes to stdout except `status` output; messages go to stderr.
set -euo pipefail

LXD_DIR=${LXD_DIR:-/var/lib/lxd}
export LXD_DIR
SOCK="$LXD_DIR/unix.socket"
LOG=/var/log/lxd/lxd.log
ERRLOG=/var/log/lxd/lxd.stderr.log # the daemon's stdout/stderr (Go panics land here)
LOCK=/run/lock/deskhub-lxd-sh.lock
HTTPS_ADDRESS=127.0.0.1:8443
POOL=default
BTRFS_POOL=deskhub-btrfs
BTRFS_SIZE=${DESKHUB_BTRFS_POOL_SIZE:-20GiB}
READY_TIMEOUT=${LXD_READY_TIMEOUT:-60}

log() { echo "lxd.sh: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"
command -v lxd >/dev/null || die "lxd is not installed (Debian package lxd; run scripts/deps.sh)"
command -v lxc >/dev/null || die "lxc is not installed (Debian package lxd-client; run scripts/deps.sh)"

# answers: the daemon is up and ready (GET /internal/ready over the unix socket).
answers() {
	[ -S "$SOCK" ] && timeout 10 lxd waitready --timeout=1 >/dev/null 2>&1
}

# daemon_pids: pids of LXD daemon processes, i.e. processes running the lxd binary with no subcommand
# (only options), as opposed to helpers such as `lxd forkexec ...`, `lxd waitready` and the
# `[lxc monitor]` processes of running containers (killing those would kill their containers).
daemon_pids() {
	local d pid comm exe argv0 arg1
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		comm=
		read -r comm <"$d/comm" 2>/dev/null || true
		[ "$comm" = lxd ] || continue
		exe=$(readlink "$d/exe" 2>/dev/null) || continue
		exe=${exe% (deleted)}
		case "$exe" in */lxd) ;; *) continue ;; esac
		# argv[0] must be the binary: `[lxc monitor] ...` processes are lxd too (same exe and comm)
		# but rewrite their command line, and they must survive (they hold the running containers).
		argv0=$(tr '\0' '\n' <"$d/cmdline" 2>/dev/null | sed -n 1p) || continue
		case "$argv0" in lxd | */lxd) ;; *) continue ;; esac
		arg1=$(tr '\0' '\n' <"$d/cmdline" 2>/dev/null | sed -n 2p) || continue
		case "$arg1" in "" | -*) echo "$pid" ;; esac
	done
}

# lock serialises invocations that change the daemon's state (two concurrent starts must not launch
# two daemons). fd 9 must not leak into the daemon, or it would hold the lock forever.
lock() {
	mkdir -p "$(dirname "$LOCK")"
	exec 9>"$LOCK"
	flock -w 180 9 || die "timed out waiting for $LOCK"
}

log_tail() {
	if [ -f "$LOG" ]; then
		log "last lines of $LOG:"
		tail -n 30 "$LOG" >&2 || true
	fi
}

alive() { # alive PID — the process exists and is not a zombie (its parent may be slow to reap it)
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

wait_gone() { # wait_gone SECONDS PID... — true once none of the pids is alive
	local deadline=$((SECONDS + $1)) p alive
	shift
	while :; do
		alive=0
		for p in "$@"; do
			if alive "$p"; then alive=1; fi
		done
		[ "$alive" -eq 0 ] && return 0
		[ "$SECONDS" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

start_daemon() {
	if answers; then
		return 0
	fi
	local pids
	pids=$(daemon_pids)
	if [ -n "$pids" ]; then
		# A daemon that is still starting (or wedged): give it the usual time before complaining.
		log "daemon running (pid $(echo $pids)) but not ready yet; waiting up to ${READY_TIMEOUT}s"
	else
		mkdir -p "$(dirname "$LOG")" "$LXD_DIR"
		log "starting lxd (log: $LOG)"
		ulimit -n 1048576 2>/dev/null || true
		# setsid: own session, so the daemon survives the caller's process group/terminal going away.
		setsid nohup lxd --group root --logfile "$LOG" </dev/null >>"$ERRLOG" 2>&1 9>&- &
	fi
	if ! timeout $((READY_TIMEOUT + 5)) lxd waitready --timeout="$READY_TIMEOUT" >/dev/null 2>&1; then
		log "LXD did not become ready within ${READY_TIMEOUT}s"
		log_tail
		if [ -s "$ERRLOG" ]; then
			log "last lines of $ERRLOG:"
			tail -n 10 "$ERRLOG" >&2 || true
		fi
		exit 1
	fi
	log "lxd is ready (pid $(echo $(daemon_pids)))"
}

configure() {
	# Storage pool "default" (dir driver).
	if ! lxc storage show "$POOL" >/dev/null 2>&1; then
		log "creating storage pool $POOL (dir)"
		lxc storage create "$POOL" dir >&2
	else
		local driver
		driver=$(lxc storage show "$POOL" | sed -n 's/^driver: //p')
		if [ -n "$driver" ] && [ "$driver" != dir ]; then
			log "note: storage pool $POOL uses driver $driver (expected dir); leaving it as it is"
		fi
	fi

	# A copy-on-write pool on a loop file, when the kernel allows it (not the default profile's: tests
	# and operators choose it, --lxd-storage-pool deskhub-btrfs).
	if ! lxc storage show "$BTRFS_POOL" >/dev/null 2>&1; then
		if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
			log "creating storage pool $BTRFS_POOL (btrfs on a loop file, $BTRFS_SIZE)"
			lxc storage create "$BTRFS_POOL" btrfs size="$BTRFS_SIZE" >&2 ||
				log "note: could not create $BTRFS_POOL (btrfs loop pool); only the dir pool is available"
		else
			log "note: no btrfs in this kernel or no mkfs.btrfs (btrfs-progs): no $BTRFS_POOL pool"
		fi
	fi

	# Root disk of the default profile (default project) on that pool.
	if ! lxc profile device get default root pool >/dev/null 2>&1; then
		log "adding root disk (pool $POOL) to the default profile"
		lxc profile device add default root disk path=/ pool="$POOL" >&2
	fi

	# API on loopback only.
	local addr
	addr=$(lxc config get core.https_address)
	if [ "$addr" != "$HTTPS_ADDRESS" ]; then
		log "setting core.https_address to $HTTPS_ADDRESS (was '${addr}')"
		lxc config set core.https_address "$HTTPS_ADDRESS" >&2
	fi
}

stop_daemon() { # stop_daemon TERM|KILL
	local sig=$1 pids
	pids=$(daemon_pids)
	if [ -z "$pids" ]; then
		log "lxd is not running"
		return 0
	fi
	log "sending SIG$sig to lxd (pid $(echo $pids))"
	# shellcheck disable=SC2086
	kill -s "$sig" $pids 2>/dev/null || true
	# shellcheck disable=SC2086
	if ! wait_gone 30 $pids; then
		if [ "$sig" = TERM ]; then
			log "lxd did not exit within 30s of SIGTERM; sending SIGKILL"
			# shellcheck disable=SC2086
			kill -s KILL $pids 2>/dev/null || true
			# shellcheck disable=SC2086
			wait_gone 10 $pids || die "lxd (pid $(echo $pids)) survived SIGKILL"
		else
			die "lxd (pid $(echo $pids)) survived SIGKILL"
		fi
	fi
	log "lxd stopped"
}

case "${1:-start}" in
start)
	lock
	start_daemon
	configure
	;;
stop)
	lock
	stop_daemon TERM
	;;
kill)
	lock
	stop_daemon KILL
	;;
restart)
	lock
	stop_daemon TERM
	start_daemon
	configure
	;;
status)
	pids=$(daemon_pids)
	if [ -n "$pids" ]; then
		echo "running $(echo $pids)"
	else
		echo stopped
		exit 1
	fi
	;;
*) die "usage: $0 [start|stop|kill|restart|status]" ;;
esac
