#!/usr/bin/env bash
# image-cache.sh — downloads the Debian packages of the desktop image into the image build cache, once:
# builds bin/deskhub and runs `bin/deskhub image build --download-only` (debootstrap --make-tarball, the
# only step of an image build that uses the network). The image tests (internal/imagebuild) then build
# offline from that cache and fail when it is missing. scripts/test.sh runs this while it installs the
# dependencies. Idempotent: a second run only checks the cached tarball's SHA-256 (a second or two).
#
#   scripts/image-cache.sh [flags of deskhub image build]   e.g. --cache-dir DIR (default
#                                                           /var/cache/deskhub/images, or
#                                                           $DESKHUB_IMAGE_CACHE_DIR)
#
# Needs root and debootstrap (scripts/deps.sh installs it). Messages go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
[ "$(id -u)" -eq 0 ] || { echo "image-cache.sh: must run as root (debootstrap)" >&2; exit 1; }
make build >&2
bin/deskhub image build --download-only "$@" >&2
