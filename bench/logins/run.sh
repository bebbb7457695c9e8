#!/usr/bin/env bash
# Login benchmark against a real `deskhub serve` on a loopback port: idle login latency, 50 accounts
# logging in at once while 3 xterm desktops start, and a genuine login during floods of 100 wrong logins
# from one address. Needs root (desktops run as the session user) and the X packages (installed with
# apt-get if missing). Bounded: counts are capped, whole run under 5 min (timeout 300). Cleans up on
# failure and Ctrl-C. Extra arguments go to the Go program (-users 50 -desktops 3 -flood 100 -rounds 10
# -idle 10 -deskhub bin/deskhub -build=true).
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
go build -o "$work/loginsbench" ./bench/logins
timeout --signal=TERM --kill-after=60 300 "$work/loginsbench" "$@"
