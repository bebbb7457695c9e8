#!/usr/bin/env bash
# Web app benchmark (bench/web/web.mjs): in headless Chromium against a deskhub serving real local
# desktops (Xvnc + openbox + xterm, as the desktops' own Unix users: run as root), measures
#   - first load of a page (bytes, time to interactive): PAGE (default /) and READY (a CSS selector
#     matching once the page is usable; default the app's login form);
#   - click Start → desktop on the canvas (p50/p95);
#   - keystroke → changed pixel in an xterm (p50/p95), and the same through Debian's websockify and
#     plain noVNC on the same desktop, for the ratio;
#   - sound: tone started in the desktop → first non-silent frame / heard in the page (p50/p95).
# Bounded: LOADS (5) page loads, STARTS (20) desktops, KEYS (30) keys per viewer, AUDIO (20) tones;
# the whole run under 10 minutes (timeout). Prints a Markdown table.
# DESKHUB=BINARY serves that binary instead of one built from the tree (bench/all.sh: before/after).
#   bench/web/run.sh [PAGE=/] [READY='body[data-state="signed-out"]'] [MEASURE=load,start,key,audio] [STARTS=20] [KEYS=30]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="/usr/local/go/bin:$PATH"
for kv in "$@"; do export "$kv"; done
command -v websockify >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq websockify >&2; }
bash scripts/browser-deps.sh
work=$(mktemp -d)
chmod 755 "$work" # the desktops' users run the agent from here
pid=""
cleanup() { # desktops outlive deskhub: end those a failed run left, then stop the server
	if [ -n "$pid" ]; then
		python3 - "$port" "$login" "$pass" <<'PY' || true
import json, sys, urllib.request
base, login, password = "http://127.0.0.1:" + sys.argv[1], sys.argv[2], sys.argv[3]
def v3(call, body, tok=""):
    req = urllib.request.Request(base + "/v3/api/" + call, json.dumps(body).encode(), {"Content-Type": "application/json"})
    if tok:
        req.add_header("Authorization", "Bearer " + tok)
    return json.load(urllib.request.urlopen(req, timeout=10)).get("result")
tok = v3("user/login", {"username": login, "password": password})["token"]
for s in v3("session/list", {}, tok) or []:
    v3("session/terminate", {"id": s["id"]}, tok)
PY
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${DESKHUB:-}" ]; then cp "$DESKHUB" "$work/deskhub"; else go build -o "$work/deskhub" ./cmd/deskhub; fi
test/browser/node_modules/.bin/esbuild web/app/src/audio.ts --bundle --format=iife --global-name=DeskhubAudio \
	--target=es2020 --outfile="$work/audio.js" --log-level=warning
login=bench pass="bench password long enough"
echo "$pass" | "$work/deskhub" user add --data "$work/data" --login $login --email bench@example.org --password-stdin >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$work/deskhub" serve --listen 127.0.0.1:$port --data "$work/data" --log-level warn 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/ >/dev/null && break; sleep 0.1; done
echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+dirty'), $(nproc) CPUs, $(date -u +%FT%TZ)"
timeout 600 node bench/web/web.mjs --base http://127.0.0.1:$port --login $login --password "$pass" \
	--page "${PAGE:-/}" --ready "${READY:-body[data-state=\"signed-out\"]}" --measure "${MEASURE:-load,start,key,audio}" \
	--loads "${LOADS:-5}" --starts "${STARTS:-20}" --keys "${KEYS:-30}" --audio-trials "${AUDIO:-20}" \
	--websockify websockify --data "$work/data" --audio-bundle "$work/audio.js" 2>"$work/web.log" || { cat "$work/web.log" "$work/serve.log" >&2; exit 1; }
tail -n 1 "$work/web.log" >&2
