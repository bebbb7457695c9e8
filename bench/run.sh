#!/usr/bin/env bash
# Benchmark of the API plumbing: throughput and p50/p99 latency of health.alive, config.get and
# health.ready (the one that touches the store) on SQLite and on PostgreSQL, measured on loopback with
# two load generators: deskhub's Go client (bench/load) and wrk (Debian). Bounded: each run lasts
# DURATION (default 10s) with CONNS connections (default 32). Prints a Markdown table.
# DESKHUB=BINARY measures that binary instead of building bin/deskhub (bench/all.sh: before/after).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2; }
work=$(mktemp -d)
if [ -n "${DESKHUB:-}" ]; then deskhub=$DESKHUB; else make -s build; deskhub=bin/deskhub; fi
go build -o "$work/load" ./bench/load
trap 'kill $pid 2>/dev/null || true; scripts/pgtest.sh stop $$ >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
LUA

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

serve() { # $1 = store label, rest = env
  port=$(free_port)
  env "${@:2}" DESKHUB_DATA="$work/data-$1" "$deskhub" serve --listen 127.0.0.1:$port --log-level error >/dev/null 2>"$work/serve.log" &
  pid=$!
  for _ in $(seq 100); do curl -sf -XPOST http://127.0.0.1:$port/api/v1/health.alive >/dev/null && return; sleep 0.1; done
  cat "$work/serve.log" >&2; exit 1
}

echo "| store | endpoint | client | requests/s | p50 | p99 | errors |"
echo "|---|---|---|---|---|---|---|"
measure() { # $1 = store label
  for ep in health.alive config.get health.ready; do
    url=http://127.0.0.1:$port/api/v1/$ep
    "$work/load" -label go -url "$url" -c "$CONNS" -d "$DURATION" >"$work/go.txt"
    read -r _ req err rps p50 _ p99 < <(sed 's/[a-z0-9]*=//g' "$work/go.txt")
    echo "| $1 | $ep | Go (bench/load) | $rps | $p50 | $p99 | $err |"
    wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$work/post.lua" "$url" >"$work/wrk.txt"
    rps=$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$work/wrk.txt")
    p50=$(awk '$1=="50%" {print $2}' "$work/wrk.txt"); p99=$(awk '$1=="99%" {print $2}' "$work/wrk.txt")
    non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt"); echo "| $1 | $ep | wrk | $rps | $p50 | $p99 | ${non2xx:-0} |"
  done
}

serve sqlite
measure sqlite
kill $pid; wait $pid 2>/dev/null || true

eval "$(scripts/pgtest.sh start $$)"
serve postgres DESKHUB_DB="$DESKHUB_TEST_POSTGRES"
measure postgres
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), deskhub $("$deskhub" version | head -1 | cut -d' ' -f2); duration $DURATION, $CONNS connections"
