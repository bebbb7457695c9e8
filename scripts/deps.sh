#!/usr/bin/env bash
# Installs, in one apt-get run, every Debian package the tests use (so test packages running in
# parallel never race for the dpkg lock), and the browser test's Chromium + playwright-core. Idempotent:
# installs only what is missing. Logs go to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(
  tigervnc-standalone-server openbox xterm x11-apps x11-utils xdotool shared-mime-info   # desktops
  pulseaudio pulseaudio-utils gstreamer1.0-plugins-good                                  # desktop audio
  openssh-server                                                                          # host-account logins
  postgresql                                                                              # the PostgreSQL store
  chromium fonts-liberation                                                               # browser tests
  websockify                                                                              # relay benchmark peer
  lxd busybox-static                                                                      # LXD provider tests (scripts/lxd.sh; busybox test image)
  btrfs-progs                                                                             # LXD's btrfs loop pool (scripts/lxd.sh: deskhub-btrfs)
  xpra                                                                                    # LXD start benchmark peer (bench/lxd)
  debootstrap xz-utils zstd                                                               # deskhub image build (internal/imagebuild)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
scripts/browser-deps.sh
