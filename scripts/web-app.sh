#!/usr/bin/env bash
# web-app.sh builds deskhub's web app (web/app: TypeScript + Preact, bundled by esbuild) into
# web/app/dist, which go:embed puts in the binary (so `go build` needs no Node).
#
#   scripts/web-app.sh build   install the pinned npm packages if needed, type-check, build into web/app/dist
#   scripts/web-app.sh check   the same into a temporary directory, then fail if it differs from the
#                              committed web/app/dist (CI: the committed build must match its sources)
#
# npm install is idempotent: `npm ci` runs only when web/app/package-lock.json changed since the last
# install (its hash is kept in web/app/node_modules/.deskhub-lock). The build is deterministic: the same
# sources give the same bytes. Everything it says goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
app="$root/web/app"
mode=${1:-build}
exec 3>&1 1>&2

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "web-app: node and npm are needed (scripts/browser-deps.sh installs them)" >&2
	exit 1
fi

lock=$(sha256sum "$app/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$app/node_modules/.deskhub-lock" 2>/dev/null || true)" != "$lock" ]; then
	echo "web-app: npm ci"
	(cd "$app" && npm ci --no-audit --no-fund --loglevel=error)
	echo "$lock" >"$app/node_modules/.deskhub-lock"
fi

(cd "$app" && node_modules/.bin/tsc --noEmit -p .)

case "$mode" in
build)
	(cd "$app" && node build.mjs "$app/dist")
	;;
check)
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(cd "$app" && node build.mjs "$tmp")
	if ! diff -r -q "$tmp" "$app/dist"; then
		echo "web-app: web/app/dist differs from a build of web/app/src: run scripts/web-app.sh build and commit" >&2
		exit 1
	fi
	echo "web-app: the committed build matches the sources"
	;;
*)
	echo "usage: scripts/web-app.sh build|check" >&2
	exit 2
	;;
esac
