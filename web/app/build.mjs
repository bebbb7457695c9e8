// build.mjs builds deskhub's web app into dist/ (embedded in the binary by web/web.go, so `go build`
// needs no Node): dist/app.js (src/main.tsx and what it imports, Preact included; noVNC stays the
// vendored /static/novnc modules, imported at run time), dist/sshkey.js (the SSH key signer, which the
// login page imports only when a key is picked), dist/app.css and dist/index.html. The output is
// deterministic: the same sources give the same bytes (scripts/web-app-check.sh rebuilds and diffs).
// It prints the gzipped size of the JavaScript.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist");
mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: here,
  entryPoints: { app: "src/main.tsx", sshkey: "src/sshkey.ts" },
  bundle: true,
  format: "esm",
  target: ["es2022", "chrome110", "firefox115", "safari16"],
  minify: true,
  legalComments: "none",
  jsx: "automatic",
  jsxImportSource: "preact",
  external: ["/static/*", "/app/*"],
  outdir: out,
  logLevel: "warning",
});
await build({
  absWorkingDir: here,
  entryPoints: { app: "src/app.css" },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: "warning",
});
copyFileSync(join(here, "index.html"), join(out, "index.html"));
const js = readFileSync(join(out, "app.js"));
const sk = readFileSync(join(out, "sshkey.js"));
console.error(`web app: app.js ${js.length} bytes, ${gzipSync(js, { level: 9 }).length} gzipped; sshkey.js ${sk.length} bytes, ${gzipSync(sk, { level: 9 }).length} gzipped`);
