#!/usr/bin/env bash
# browser-deps.sh installs what the headless browser tests (test/browser) need, if it is missing:
#   - Debian's chromium (/usr/bin/chromium), through apt-get;
#   - playwright-core, esbuild (transpiles web/app's TypeScript modules that a test loads on their own)
#     and axe-core (the accessibility check of every page), pinned, through npm, into
#     test/browser/node_modules (not saved to a package.json).
# It is idempotent: a second run installs nothing. Everything it says goes to stderr; stdout stays empty.
set -euo pipefail

PLAYWRIGHT_CORE_VERSION=1.65.1
ESBUILD_VERSION=0.28.2 # web/app/package.json's
AXE_CORE_VERSION=4.11.4

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec 3>&1 1>&2 # nothing on stdout: tools' chatter goes to stderr

if [ ! -x /usr/bin/chromium ]; then
	echo "browser-deps: installing chromium with apt-get"
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends chromium fonts-liberation
	if [ ! -x /usr/bin/chromium ]; then
		echo "browser-deps: apt-get finished but /usr/bin/chromium is missing" >&2
		exit 1
	fi
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "browser-deps: installing nodejs and npm with apt-get"
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo="sudo"
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends nodejs npm
fi

version() {
	local pkg="$root/test/browser/node_modules/$1/package.json"
	if [ -f "$pkg" ]; then
		node -p "require(process.argv[1]).version" "$pkg" 2>/dev/null || true
	fi
}
# One npm command for all three: without a package.json, a later install would prune the others.
if [ "$(version playwright-core)" != "$PLAYWRIGHT_CORE_VERSION" ] || [ "$(version esbuild)" != "$ESBUILD_VERSION" ] ||
	[ "$(version axe-core)" != "$AXE_CORE_VERSION" ]; then
	echo "browser-deps: installing playwright-core@$PLAYWRIGHT_CORE_VERSION, esbuild@$ESBUILD_VERSION and axe-core@$AXE_CORE_VERSION with npm"
	npm install --no-save --no-audit --no-fund --loglevel=error \
		--prefix "$root/test/browser" "playwright-core@$PLAYWRIGHT_CORE_VERSION" "esbuild@$ESBUILD_VERSION" "axe-core@$AXE_CORE_VERSION"
fi
