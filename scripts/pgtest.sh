#!/usr/bin/env bash
# pgtest.sh — start (or stop) a throwaway PostgreSQL cluster for tests.
#
#   eval "$(scripts/pgtest.sh start $$)"   # start; exports DESKHUB_TEST_POSTGRES
#   scripts/pgtest.sh stop $$              # stop and remove it (once no other user is left)
#
# Run as root (Debian 12). Installs the Debian postgresql package if no
# initdb is found. The cluster lives in ${TMPDIR:-/tmp}/deskhub-pgtest, is
# owned by the postgres system user, listens on a unix socket in that
# directory and on 127.0.0.1 only, trusts local connections and runs with
# fsync=off. Only the export line goes to stdout; everything else goes to
# stderr.
#
# Several users at once (a test run and a benchmark, two test runs): a start
# that finds the cluster running and answering joins it instead of recreating
# it (every test makes a database of its own), and records its caller — the
# PID after start/stop, by default the process that ran the script — in
# $BASE/users; stop takes its caller out and stops the cluster only when no
# recorded caller still runs. A start that finds no healthy cluster makes a
# new one.
set -euo pipefail

BASE="${TMPDIR:-/tmp}/deskhub-pgtest"
DATA="$BASE/data"
LOG="$BASE/postgres.log"
PORT_FILE="$BASE/port"

log() { echo "pgtest: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and runs postgres as the postgres user)"

find_bin() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
		echo "$d"
	fi
}

as_pg() { runuser -u postgres -- "$@"; }

stop_cluster() {
	local bin
	bin=$(find_bin)
	if [ -n "$bin" ] && [ -f "$DATA/postmaster.pid" ]; then
		log "stopping previous cluster in $DATA"
		as_pg "$bin/pg_ctl" -D "$DATA" -m immediate -w -t 30 stop >&2 || true
	fi
	# A postmaster whose data dir was removed under it: kill it by pid.
	if [ -f "$DATA/postmaster.pid" ]; then
		local pid
		pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null || true)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -QUIT "$pid" 2>/dev/null || true
			sleep 1
		fi
	fi
	rm -rf "$BASE"
}

port_busy() {
	# True if something listens on 127.0.0.1:$1.
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p
	for p in 55432 55433 55434 55435 55436 55437 55438 55439 55440 55441; do
		if ! port_busy "$p"; then
			echo "$p"
			return
		fi
	done
	die "no free port in 55432-55441"
}

USERS="$BASE/users"

# live_users prints the recorded callers that still run, but not $1.
live_users() {
	[ -f "$USERS" ] || return 0
	local pid
	while read -r pid; do
		if [ -n "$pid" ] && [ "$pid" != "${1:-}" ] && kill -0 "$pid" 2>/dev/null; then
			echo "$pid"
		fi
	done <"$USERS" | sort -u
}

# healthy tells whether the cluster of $BASE runs and answers on its port.
healthy() {
	local bin port
	bin=$(find_bin)
	[ -n "$bin" ] && [ -f "$PORT_FILE" ] && [ -f "$DATA/postmaster.pid" ] || return 1
	port=$(cat "$PORT_FILE")
	as_pg "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1 || return 1
	"$bin/pg_isready" -q -h 127.0.0.1 -p "$port" -t 5 2>/dev/null
}

OWNER="${2:-$PPID}"
case "$OWNER" in
'' | *[!0-9]*) die "the caller's PID must be a number, not '$OWNER'" ;;
esac

case "${1:-start}" in
stop)
	others=$(live_users "$OWNER")
	if [ -n "$others" ]; then
		printf '%s\n' $others >"$USERS"
		log "left running: still used by $(echo $others | tr '\n' ' ')"
		exit 0
	fi
	stop_cluster
	log "stopped"
	exit 0
	;;
start) ;;
*)
	die "usage: $0 [start|stop] [CALLER_PID]"
	;;
esac

BIN=$(find_bin)
if [ -z "$BIN" ]; then
	log "installing postgresql (apt-get)"
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
	BIN=$(find_bin)
	[ -n "$BIN" ] || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
fi
id postgres >/dev/null 2>&1 || die "no postgres system user (the postgresql package creates it)"

if healthy; then
	PORT=$(cat "$PORT_FILE")
	{ live_users "$OWNER"; echo "$OWNER"; } >"$USERS.new" && mv "$USERS.new" "$USERS"
	log "joining the running cluster on 127.0.0.1:$PORT (users: $(tr '\n' ' ' <"$USERS"))"
	echo "export DESKHUB_TEST_POSTGRES='postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable'"
	exit 0
fi
stop_cluster
mkdir -p "$BASE"
chown postgres:postgres "$BASE"
chmod 0700 "$BASE"

PORT=$(pick_port)
echo "$PORT" >"$PORT_FILE"

log "initdb $DATA ($BIN)"
as_pg test -w "$BASE" || die "$BASE is not writable by the postgres user (set TMPDIR to a directory it can reach)"
as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale --no-sync >&2 \
	|| die "initdb failed"

cat >>"$DATA/postgresql.conf" <<EOF

# deskhub test cluster
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 300
EOF
cat >"$DATA/pg_hba.conf" <<EOF
local all all                trust
host  all all 127.0.0.1/32   trust
EOF

log "starting on 127.0.0.1:$PORT and $BASE/.s.PGSQL.$PORT"
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 \
	|| { cat "$LOG" >&2 || true; die "postgres failed to start (log: $LOG)"; }

echo "$OWNER" >"$USERS"
echo "export DESKHUB_TEST_POSTGRES='postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable'"
