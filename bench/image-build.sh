#!/usr/bin/env bash
# Benchmark of `deskhub image build` (docs/IMAGES.md): for each compression, a cold build (the packages
# cached, no image cached: the offline install, configuration, trimming and packing) and then a
# rebuild with nothing changed (served from the image cache), each in a throwaway cache directory that
# links the shared package cache; and the time of `--download-only` when the packages are cached.
# With DOWNLOAD=1 it also times a real download of the packages into an empty cache (network).
# Prints a Markdown table. Needs root; fills the shared package cache first (scripts/image-cache.sh).
#
#   bench/image-build.sh                      # xz, the default
#   COMPRESSIONS="xz zstd gzip" DOWNLOAD=1 bench/image-build.sh
#   DESKHUB=/path/to/deskhub bench/image-build.sh  # that binary instead of bin/deskhub (bench/all.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
COMPRESSIONS=${COMPRESSIONS:-xz}
shared=${DESKHUB_IMAGE_CACHE_DIR:-/var/cache/deskhub/images}
unset DESKHUB_IMAGE_CACHE_DIR

scripts/image-cache.sh
deskhub=${DESKHUB:-bin/deskhub}
work=$(mktemp -d /var/tmp/deskhub-imagebench.XXXXXX)
cleanup() {
  # deskhub removes its build directories itself (also on Ctrl-C); never rm -rf a tree with a mount.
  if grep -qF " $work" /proc/self/mountinfo; then
    echo "image-build.sh: mounts left under $work, not removing it" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { python3 -c "import sys; print('%.1f s' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r[sys.argv[2]])" "$1" "$2"; }
mib() { python3 -c "import sys; print('%.1f MiB' % (int(sys.argv[1]) / 1048576))" "$1"; }

t0=$(now); "$deskhub" image build --download-only >/dev/null 2>&1; t1=$(now)
download_cached=$(secs "$t0" "$t1")
download=""
if [ "${DOWNLOAD:-}" = 1 ]; then
  t0=$(now); "$deskhub" image build --download-only --cache-dir "$work/download" >/dev/null 2>&1; t1=$(now)
  download=$(secs "$t0" "$t1")
fi

echo "commit $(git rev-parse --short HEAD), $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| compression | cold build | cached rebuild | image | uncompressed | trimmed away |"
echo "|---|---|---|---|---|---|"
for comp in $COMPRESSIONS; do
  cache="$work/cache-$comp"
  mkdir -p "$cache" "$work/out-$comp"
  for f in "$shared"/debootstrap-*.tgz "$shared"/debootstrap-*.tgz.sha256; do
    ln "$f" "$cache/" 2>/dev/null || cp "$f" "$cache/"
  done
  args=(--offline --cache-dir "$cache" --compression "$comp" --deskhub-binary "$deskhub" --json)
  t0=$(now); "$deskhub" image build "${args[@]}" --output "$work/out-$comp/cold" >"$work/cold.json"; t1=$(now)
  t2=$(now); "$deskhub" image build "${args[@]}" --output "$work/out-$comp/cached" >"$work/cached.json"; t3=$(now)
  [ "$(field "$work/cached.json" Cached)" = True ] || { echo "the rebuild was not served from the cache" >&2; exit 1; }
  echo "| $comp | $(secs "$t0" "$t1") | $(secs "$t2" "$t3") | $(mib "$(field "$work/cold.json" Size)") |" \
    "$(mib "$(field "$work/cold.json" Uncompressed)") | $(mib "$(field "$work/cold.json" Freed)") |"
done
echo
echo "download-only with the packages cached: $download_cached${download:+; a real download into an empty cache: $download}"
