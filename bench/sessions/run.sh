#!/usr/bin/env bash
# Desktop session benchmark against a real `deskhub serve` on a loopback port (real Xvnc + openbox + xterm
# desktops): time to first frame through the display relay, memory per idle desktop, session/screenshot
# latency, and session/list throughput with 1000 session rows in the store. Needs root (desktops run as
# the session user) and the X packages (installed with apt-get if missing, as internal/provider/xtest
# does). Bounded: first-frame phase ≤ 120 s, each list load 10 s, whole run under 5 min (timeout 300).
# Cleans up (sessions terminated, deskhub stopped, temp dir removed) on failure and on Ctrl-C too.
# Extra arguments go to the Go program (-n 20 -idle 5 -shots 20 -rows 1000 -c 16 -d 10s -budget 120s).
# In-process cost of paging: go test -run '^$' -bench Page1000 ./internal/session/
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
missing=()
for p in tigervnc-standalone-server:Xvnc openbox:openbox xterm:xterm; do
  command -v "${p#*:}" >/dev/null || missing+=("${p%%:*}")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/sessionsbench" ./bench/sessions
# The program builds bin/deskhub (make -s build) and runs a copy of it.
timeout --signal=TERM --kill-after=60 300 "$work/sessionsbench" "$@"
