#!/usr/bin/env bash
# web-build.sh vendors noVNC's browser modules into web/static/novnc/, where go:embed puts them in the
# deskhub binary. The copied files are committed, so building deskhub needs no npm; run this script
# only to change the noVNC version (NOVNC_VERSION below) and commit the result.
#
# It installs @novnc/novnc (pinned, not saved to a package.json) into web/build/node_modules when the
# pinned version is not there, then copies the ES modules core/rfb.js imports, followed transitively
# from its import statements (core/ and vendor/pako/), with noVNC's licence, AUTHORS and pako's licence. It is idempotent: a second
# run installs nothing and rewrites identical files. Everything it says goes to stderr; stdout stays
# empty.
#
# noVNC 1.7.0 is the first release whose npm package ships the ES modules (core/, vendor/, "type":
# "module"); 1.5.x and 1.6.x ship only a Babel/CommonJS build (lib/) that browsers cannot import.
set -euo pipefail

NOVNC_VERSION=1.7.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec 3>&1 1>&2 # nothing on stdout: tools' chatter goes to stderr

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "web-build: node and npm are needed (apt-get install nodejs npm)" >&2
	exit 1
fi

build="$root/web/build"
pkgdir="$build/node_modules/@novnc/novnc"
have=""
if [ -f "$pkgdir/package.json" ]; then
	have=$(node -p "require(process.argv[1]).version" "$pkgdir/package.json" 2>/dev/null || true)
fi
if [ "$have" != "$NOVNC_VERSION" ]; then
	echo "web-build: installing @novnc/novnc@$NOVNC_VERSION with npm"
	mkdir -p "$build"
	npm install --no-save --no-audit --no-fund --loglevel=error --ignore-scripts \
		--prefix "$build" "@novnc/novnc@$NOVNC_VERSION"
fi

out="$root/web/static/novnc"
tmp=$(mktemp -d "$build/novnc-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Follow the static imports from core/rfb.js and copy each module reached (relative specifiers only;
# noVNC has no bare imports).
node --input-type=module - "$pkgdir" "$tmp" "$NOVNC_VERSION" <<'EOF'
import { readFileSync, mkdirSync, copyFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const [pkg, out, version] = process.argv.slice(2);
const seen = new Set();
const todo = [resolve(pkg, "core/rfb.js")];
const importRe = /^\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']/gm;
while (todo.length) {
  const file = todo.pop();
  if (seen.has(file)) continue;
  seen.add(file);
  const src = readFileSync(file, "utf8");
  for (const m of src.matchAll(importRe)) {
    const spec = m[1] || m[2];
    if (!spec.startsWith(".")) throw new Error(`${relative(pkg, file)}: bare import ${spec}`);
    todo.push(resolve(dirname(file), spec));
  }
}
const files = [...seen].map((f) => relative(pkg, f)).sort();
for (const f of files) {
  if (f.startsWith("..")) throw new Error(`import outside the package: ${f}`);
  mkdirSync(dirname(join(out, f)), { recursive: true });
  copyFileSync(join(pkg, f), join(out, f));
}
for (const f of ["LICENSE.txt", "AUTHORS", "vendor/pako/LICENSE"]) copyFileSync(join(pkg, f), join(out, f));
writeFileSync(join(out, "VERSION"), version + "\n");
console.error(`web-build: ${files.length} noVNC ${version} modules`);
EOF

# Replace the vendored tree only when something changed (keeps mtimes of an unchanged tree).
if [ -d "$out" ] && diff -r -q "$tmp" "$out" >/dev/null 2>&1; then
	exit 0
fi
rm -rf "$out"
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
chmod -R u=rwX,go=rX "$out"
trap - EXIT
echo "web-build: wrote $out"
