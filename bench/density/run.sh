#!/usr/bin/env bash
# Density benchmark: -n (default 100) idle 1280x800 xterm desktops through a real `deskhub serve` on a
# loopback port, one after the other; start time of the 1st and the last, memory (PSS per desktop after
# 3, 10, 30 and all), idle CPU per desktop, the broker's memory and request latency with all running; then
# -xpra (default 10) xpra sessions (`xpra start --start=xterm`, Debian's defaults) for memory, idle CPU
# and time to the xterm window. Needs root (desktops run as the session user) and the X packages and
# xpra (installed with apt-get if missing). Bounded: -budget (20 min) for the whole run; everything
# started is stopped on failure and Ctrl-C too. Extra arguments go to the Go program
# (-n 100 -xpra 10 -settle 3s -cpu 30s -calls 50 -budget 20m).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
missing=()
for p in tigervnc-standalone-server:Xvnc openbox:openbox xterm:xterm xpra:xpra; do
  command -v "${p#*:}" >/dev/null || missing+=("${p%%:*}")
done
if ((${#missing[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/densitybench" ./bench/density
# The program builds bin/deskhub (make -s build) and runs a copy of it.
timeout --signal=TERM --kill-after=60 1500 "$work/densitybench" "$@"
