// build.mjs builds a runnable copy of ui-vmm's web panel (the ui-vmm/demo repository: a webpack
// development build of ui-vmm/ui-panel) for the browser test in ../uivmm_test.go. The repository
// ships no licence, so its files are not redistributed here: this script takes them from where they
// are (a checkout or a bare git directory), and writes the built panel to a directory outside the
// repository.
//
//   node build.mjs <demo: checkout or git dir> <out dir> <npm cache dir>
//
// What it does:
//  1. copies the demo's files to <out>/demo (the panel's router and asset paths live under /demo/);
//  2. rebuilds js/chunk-vendors.js, which the snapshot lacks: it lists the module ids the panel's
//     chunks require but do not define (in a development build they are the modules' paths,
//     "./node_modules/vue/dist/vue.esm-bundler.js"), installs the libraries at the versions of
//     package.json (package-lock.json pins the rest) with `npm ci` in <npm cache dir>, and has webpack
//     build a "chunk-vendors" chunk with the same ids (moduleIds: "named") pushed to the panel's
//     chunk-loading global; it fails if any required id is still missing;
//  3. turns off the demo's two demonstration switches, which the panel's source gates on its build
//     environment (webpack inlined them as `true`): src/mock/index.js mocks the API in the browser
//     (mockjs), and src/mixin/event.js's EventInit returns at once (no event stream). Each is an
//     exact replacement that must match once, so a different snapshot fails here instead of
//     silently testing the mocks.
//
// It prints one JSON line: {"ok": true, "dir": "<out>/demo", "modules": N, "patched": [...]}.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const [src, out, cache] = process.argv.slice(2);
if (!src || !out || !cache) {
  console.error('usage: node build.mjs <ui-vmm/demo checkout or git dir> <out dir> <npm cache dir>');
  process.exit(2);
}
const demo = path.join(out, 'demo');

function run(cmd, args, opts = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'inherit'], ...opts });
}

// 1. The demo's files.
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(demo, { recursive: true });
const isGitDir = fs.existsSync(path.join(src, 'HEAD')) && fs.existsSync(path.join(src, 'objects'));
if (isGitDir) {
  const files = run('git', ['--git-dir', src, 'ls-tree', '-r', '-z', '--name-only', 'HEAD']).split('\0').filter(Boolean);
  for (const f of files) {
    if (f === 'js/chunk-vendors.js') continue; // absent from the snapshot: rebuilt below
    const to = path.join(demo, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.writeFileSync(to, execFileSync('git', ['--git-dir', src, 'show', `HEAD:${f}`], { maxBuffer: 256 << 20 }));
  }
} else {
  fs.cpSync(src, demo, { recursive: true, filter: (p) => !p.split(path.sep).includes('.git') });
}
const jsDir = path.join(demo, 'js');
if (!fs.existsSync(path.join(jsDir, 'app.js')) || !fs.existsSync(path.join(demo, 'index.html'))) {
  throw new Error(`${src} does not hold ui-vmm/demo (no index.html and js/app.js)`);
}

// 2. The module ids the chunks require and do not define.
const chunks = fs.readdirSync(jsDir).filter((f) => f.endsWith('.js') && f !== 'chunk-vendors.js');
const defined = new Set();
const required = new Set();
for (const f of chunks) {
  const text = fs.readFileSync(path.join(jsDir, f), 'utf8');
  for (const m of text.matchAll(/^\/\*\*\*\/ "([^"]+)":/gm)) defined.add(m[1]);
  // Inside the eval strings: __webpack_require__(/*! vue */ "./node_modules/vue/dist/vue.esm-bundler.js")
  for (const m of text.matchAll(/__webpack_require__\(\/\*! [^*]* \*\/ \\"(\.\/node_modules\/[^\\"]+)\\"\)/g)) required.add(m[1]);
}
const missing = [...required].filter((id) => !defined.has(id)).sort();
if (!missing.length) throw new Error('the chunks require no missing module: not the snapshot this script knows');
for (const id of missing) {
  if (id.includes('!') || id.includes('?')) throw new Error(`missing module with loaders, which this script cannot rebuild: ${id}`);
}

// The libraries, installed once per package-lock.json.
const lock = fs.readFileSync(path.join(here, 'package-lock.json'));
const vendor = path.join(cache, 'uivmm-vendor-' + createHash('sha256').update(lock).digest('hex').slice(0, 16));
if (!fs.existsSync(path.join(vendor, 'node_modules', '.ok'))) {
  fs.rmSync(vendor, { recursive: true, force: true });
  fs.mkdirSync(vendor, { recursive: true });
  fs.copyFileSync(path.join(here, 'package.json'), path.join(vendor, 'package.json'));
  fs.writeFileSync(path.join(vendor, 'package-lock.json'), lock);
  run('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: vendor, stdio: ['ignore', 2, 2] }); // stdout is this script's answer
  fs.writeFileSync(path.join(vendor, 'node_modules', '.ok'), '');
}

// An entry importing each missing module by the path its id names; a second one imports the loaders'
// browser runtimes the panel's own style modules call (they are among the missing ids too).
const entry = path.join(vendor, 'entry.js');
fs.writeFileSync(entry, missing.map((id, i) => (id.endsWith('.css') ? `import ${JSON.stringify(id)};\n` : `import * as m${i} from ${JSON.stringify(id)};\nglobalThis.__keep${i} = m${i};\n`)).join(''));
const built = path.join(vendor, 'dist');
fs.rmSync(built, { recursive: true, force: true });
const config = path.join(vendor, 'webpack.config.cjs');
fs.writeFileSync(config, `
const webpack = require('webpack');
module.exports = {
  mode: 'development',
  devtool: false,
  context: ${JSON.stringify(vendor)},
  entry: { main: './entry.js' },
  output: {
    path: ${JSON.stringify(built)},
    filename: 'js/[name].js',
    publicPath: '/demo/',
    chunkLoadingGlobal: 'webpackChunkui_vmm',
    assetModuleFilename: 'img/vendor-[name].[contenthash:8][ext]',
  },
  resolve: { alias: { vue$: 'vue/dist/vue.esm-bundler.js' } },
  module: { rules: [{ test: /\\.vue$/, loader: 'vue-loader' }, { test: /\\.css$/, use: ['vue-style-loader', { loader: 'css-loader', options: { sourceMap: false } }] }] },
  optimization: {
    moduleIds: 'named',
    chunkIds: 'named',
    runtimeChunk: 'single',
    splitChunks: { cacheGroups: { vendors: { test: /node_modules/, name: 'chunk-vendors', chunks: 'all', enforce: true } } },
  },
  plugins: [new (require('vue-loader').VueLoaderPlugin)(), new webpack.DefinePlugin({
    __VUE_OPTIONS_API__: 'true', __VUE_PROD_DEVTOOLS__: 'false', __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
    __VUE_I18N_FULL_INSTALL__: 'true', __VUE_I18N_LEGACY_API__: 'true', __INTLIFY_PROD_DEVTOOLS__: 'false',
  })],
  performance: { hints: false },
};
`);
const vendorRequire = createRequire(path.join(vendor, 'package.json'));
const webpack = vendorRequire('webpack');
const stats = await new Promise((resolve, reject) => webpack(vendorRequire(config), (err, st) => (err ? reject(err) : resolve(st))));
if (stats.hasErrors()) throw new Error('webpack: ' + stats.toString({ all: false, errors: true }));
const vendorChunk = fs.readFileSync(path.join(built, 'js', 'chunk-vendors.js'), 'utf8');
const nowDefined = new Set([...vendorChunk.matchAll(/^\/\*\*\*\/ "([^"]+)":/gm)].map((m) => m[1]));
const stillMissing = missing.filter((id) => !nowDefined.has(id));
if (stillMissing.length) throw new Error(`the rebuilt chunk-vendors.js lacks ${stillMissing.join(', ')}`);
fs.writeFileSync(path.join(jsDir, 'chunk-vendors.js'), vendorChunk);
if (fs.existsSync(path.join(built, 'img'))) fs.cpSync(path.join(built, 'img'), path.join(demo, 'img'), { recursive: true });

// 3. The demonstration switches. The eval strings are JavaScript string literals: the replacements
// are written as they appear there.
const patches = [
  { file: 'app.js', what: 'src/mock/index.js: no mocked API', from: 'if (true) {\\n  mockjs__WEBPACK_IMPORTED_MODULE_0___default().mock(', to: 'if (false) {\\n  mockjs__WEBPACK_IMPORTED_MODULE_0___default().mock(' },
  { file: 'app.js', what: 'src/mixin/event.js: EventInit opens the event stream', from: 'EventInit() {\\n      if (true) return;', to: 'EventInit() {\\n      if (false) return;' },
];
const patched = [];
for (const p of patches) {
  const file = path.join(jsDir, p.file);
  const text = fs.readFileSync(file, 'utf8');
  const n = text.split(p.from).length - 1;
  if (n !== 1) throw new Error(`${p.file}: expected one "${p.from}" (${p.what}), found ${n}`);
  fs.writeFileSync(file, text.replace(p.from, p.to));
  patched.push(p.what);
}
console.log(JSON.stringify({ ok: true, dir: demo, modules: missing.length, patched }));
