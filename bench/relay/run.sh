#!/usr/bin/env bash
# Display relay benchmark: deskhub's websocket↔RFB relay (internal/display) against Debian's websockify,
# in the same run, both relaying 127.0.0.1 websockets to synthetic RFB-ish servers on unix sockets.
# Throughput (MB/s server→client, best of 3; relay CPU per GB) and round-trip latency (p50/p99 of
# 10-byte echoes). deskhub's relay runs in its own process, like websockify.
# Bounded: each run ≤ 10 s (TIMEOUT), whole script well under 60 s. Prints a Markdown table.
# Extra arguments go to the Go program (-mb 512 -echoes 5000 -timeout 10s).
# Also: go test -run '^$' -bench 'Relay' ./internal/display (testing.B, deskhub only).
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
command -v websockify >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq websockify >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/relaybench" ./bench/relay
timeout 60 "$work/relaybench" -timeout "${TIMEOUT:-10s}" "$@"
