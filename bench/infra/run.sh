#!/usr/bin/env bash
# Benchmarks of the infrastructure side on the real LXD daemon (started by scripts/lxd.sh, loopback and
# unix socket only; instances get no network device):
#   - instance.list with 50 instances (25 running), from deskhub's cache and asking LXD every time;
#   - time from instance.add to the "started" lifecycle event and to the operation's success event;
#   - event fan-out: one event to 1000 bound SSE subscribers over loopback (p50/p99 delivery latency).
# Bounded: COUNT iterations each (default 20). Prints the go test benchmark lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
COUNT=${COUNT:-20}
scripts/deps.sh >/dev/null
scripts/lxd.sh start
go test -run '^$' -bench 'LXD' -benchtime "${COUNT}x" -count=1 ./internal/server/ | grep -E '^(Benchmark|ok|FAIL)'
go test -run '^$' -bench 'Fanout' -benchtime "${COUNT}x" -count=1 ./internal/events/ | grep -E '^(Benchmark|ok|FAIL)'
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), LXD $(lxd --version)"
