#!/usr/bin/env bash
# Desktop start figures, all in one run (docs/PERFORMANCE.md "Desktop starts: LXD cold and warm, local,
# xpra"): BenchmarkDesktopStarts of test/lxddesktop against the real LXD (scripts/lxd.sh; the btrfs loop
# pool deskhub-btrfs when the kernel has btrfs) and Debian's xpra. p50/p95 over STARTS starts each
# (default 20; BENCH narrows -bench, e.g. 'BenchmarkDesktopStarts/(local|xpra)$'). Needs root, the packages of scripts/deps.sh and the package cache of
# scripts/image-cache.sh (the desktop image is built from this tree). Prints the FIGURE lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
STARTS=${STARTS:-20}
command -v xpra >/dev/null || scripts/deps.sh
scripts/lxd.sh start
echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(nproc) cores; $(lxd --version 2>/dev/null | sed 's/^/LXD /'); $(xpra --version 2>/dev/null | head -1)"
DESKHUB_REQUIRE_LXD=1 DESKHUB_BENCH_STARTS=$STARTS go test ./test/lxddesktop/ -run '^$' -bench "${BENCH:-BenchmarkDesktopStarts}" \
	-benchtime 1x -timeout 120m 2>&1 | tee "${LOG:-/dev/null}" | grep -E '^(FIGURE|Benchmark|ok|FAIL|---)'
