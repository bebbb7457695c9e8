#!/usr/bin/env bash
# Desktop agent benchmark (internal/agent/x11, internal/agent/files). Prints a Markdown table.
#  1. Conn.Windows() with 101 managed windows on a real desktop (Xvnc + openbox; 100 windows created by a
#     second X client): ns/op (testing.B) and p50/p99 over 200 calls.
#  2. Watch event latency: CreateWindow on another connection → window.list callback containing it;
#     50 samples, p50/p99 (Watch debounces by 50 ms).
#  3. files.Search vs `find HOME -iname '*KW*'` (exec, no shell) over a generated home of 100,000 files;
#     5 runs each, medians and ratio. The tree lives in a testing temp dir and is removed afterwards.
# Bounded: each go test under `timeout`; the whole script takes about a minute. Needs root (xtest installs
# the X packages and a throwaway user); DESKHUB_SKIP_X=1 skips 1 and 2.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

timeout 300 go test -count=1 -run '^$' -bench '^BenchmarkWindows100$' ./internal/agent/x11 >"$work/win.txt" 2>&1 || { cat "$work/win.txt" >&2; exit 1; }
timeout 300 go test -count=1 -run '^$' -bench '^BenchmarkWatchEvent$' -benchtime=50x ./internal/agent/x11 >"$work/watch.txt" 2>&1 || { cat "$work/watch.txt" >&2; exit 1; }
timeout 600 go test -count=1 -run '^$' -bench '^BenchmarkSearch100k$' -benchtime=5x ./internal/agent/files >"$work/files.txt" 2>&1 || { cat "$work/files.txt" >&2; exit 1; }

# metric FILE BENCH-NAME-REGEX UNIT: the value before UNIT on the matching benchmark line.
metric() { awk -v re="$2" -v u="$3" '$1 ~ re { for (i = 3; i <= NF; i++) if ($i == u) { print $(i-1); exit } }' "$1"; }
int() { awk -v v="$1" 'BEGIN { printf "%d", v }'; }
us() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f ms", v/1000; else printf "%.0f µs", v }'; }

echo "| measure | value |"
echo "|---|---|"
nsop=$(metric "$work/win.txt" '^BenchmarkWindows100' ns/op)
echo "| Windows(), $(int "$(metric "$work/win.txt" '^BenchmarkWindows100' windows)") windows: testing.B mean | $(us "$(awk -v v="$nsop" 'BEGIN{print v/1000}')") |"
echo "| Windows(), 200 calls: p50 / p99 | $(us "$(metric "$work/win.txt" '^BenchmarkWindows100' p50-µs)") / $(us "$(metric "$work/win.txt" '^BenchmarkWindows100' p99-µs)") |"
echo "| Watch: CreateWindow → window.list callback, $(int "$(metric "$work/watch.txt" '^BenchmarkWatchEvent' samples)") samples: p50 / p99 | $(metric "$work/watch.txt" '^BenchmarkWatchEvent' p50-ms) ms / $(metric "$work/watch.txt" '^BenchmarkWatchEvent' p99-ms) ms |"
echo
echo "| keyword | files.Search (mime nil) | files.Search (system MIME) | find -iname | Search / find |"
echo "|---|---|---|---|---|"
for kw in invoice zephyr; do
  s=$(metric "$work/files.txt" "^BenchmarkSearch100k/$kw/Search-" median-ms)
  sr=$(metric "$work/files.txt" "^BenchmarkSearch100k/$kw/Search-" results)
  sm=$(metric "$work/files.txt" "^BenchmarkSearch100k/$kw/SearchMIME-" median-ms)
  f=$(metric "$work/files.txt" "^BenchmarkSearch100k/$kw/find-" median-ms)
  fr=$(metric "$work/files.txt" "^BenchmarkSearch100k/$kw/find-" results)
  ratio=$(awk -v a="$s" -v b="$f" 'BEGIN { printf "%.1f×", a/b }')
  echo "| $kw | ${s} ms ($(int "$sr") results) | ${sm} ms | ${f} ms ($(int "$fr") results) | $ratio |"
done
echo
echo "medians of 5 runs, page cache warm; 100,000 files in 1,000 directories"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), $(date -u +%F)"
