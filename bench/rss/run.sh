#!/usr/bin/env bash
# Broker memory benchmark: VmRSS of a real `deskhub serve` (SQLite, loopback) after start, after 20
# password logins at once, with 10 running xterm desktops, and across 10,000 API calls. Needs root
# (desktops run as the accounts' Unix identities) and the X packages (installed with apt-get if
# missing). Bounded: counts capped, whole run under 5 min (timeout 300). Extra arguments go to the Go
# program (-logins 20 -desktops 10 -calls 10000 -deskhub bin/deskhub -build=true).
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
go build -o "$work/rssbench" ./bench/rss
timeout --signal=TERM --kill-after=60 300 "$work/rssbench" "$@"
