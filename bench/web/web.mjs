// web.mjs measures the web app (web/app: launcher and viewer) in headless Chromium against a running
// deskhub with real local desktops (bench/web/run.sh starts everything and passes the arguments):
//
//   load   first load of the page (a fresh browser context each time: nothing cached): bytes over the
//          wire (Chromium's encodedDataLength of every response, headers included), requests, and the
//          time from navigation to DOMContentLoaded, to load, and to interactive (--ready: a CSS
//          selector that matches once the page can be used; default the app's login form).
//   start  click "Start" (xterm, 800x600) → the desktop on the noVNC canvas: the first drawn frame
//          (any opaque pixel on the canvas) and the xterm (its white background), sampled every
//          animation frame; then Terminate.
//   key    keystroke → changed pixel: a key pressed through Playwright into the xterm; from the
//          keydown event's timestamp to the first poll of the canvas (a MessageChannel loop reading the
//          xterm's region with getImageData) that differs from the snapshot taken before the key.
//          The same on plain noVNC through websockify (--websockify) against the same desktop's RFB
//          socket, for the ratio.
//   audio  a tone started in the desktop (POST /spawner/<id>/playAudioSample, sent from the page) →
//          its first non-silent frame arriving through /ws/audio (web/app/src/audio.ts, --audio-bundle)
//          and the tone heard by an AnalyserNode on the player's output (after its jitter buffer).
//
//   node bench/web/web.mjs --base URL --login L --password P [--page /] [--ready SELECTOR]
//        [--measure load,start,key,audio] [--loads 5] [--starts 20] [--keys 30] [--audio-trials 20]
//        [--websockify websockify --data DESKHUB_DATA_DIR --novnc web/static/novnc] [--audio-bundle FILE]
//
// Prints a Markdown table on stdout and the raw samples as JSON on stderr's last line.
import { spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
// playwright-core lives in test/browser/node_modules (scripts/browser-deps.sh).
const { chromium } = createRequire(join(root, "test/browser/x.js"))("playwright-core");

const opts = {
  base: "", login: "", password: "", page: "/", ready: 'body[data-state="signed-out"]',
  measure: "load,start,key,audio", loads: 5, starts: 20, keys: 30, "audio-trials": 20,
  websockify: "", data: "", novnc: join(root, "web/static/novnc"), "audio-bundle": "",
};
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  const k = argv[i].replace(/^--/, "");
  if (!(k in opts) || i + 1 >= argv.length) {
    console.error(`web.mjs: unknown or incomplete argument ${argv[i]}`);
    process.exit(2);
  }
  opts[k] = typeof opts[k] === "number" ? Number(argv[i + 1]) : argv[i + 1];
}
if (!opts.base || !opts.login || !opts.password) {
  console.error("usage: node web.mjs --base URL --login L --password P [options] (see the header)");
  process.exit(2);
}
const measures = new Set(opts.measure.split(","));
const log = (...a) => console.error("web.mjs:", ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pct = (xs, p) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};
const ms = (v) => (Number.isFinite(v) ? `${v.toFixed(0)} ms` : "—");
const rows = [];
const raw = {};

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required"],
  timeout: 30_000,
});

// apiToken logs in on the session surface from here (the app keeps its own login in an HttpOnly
// cookie, out of the page's reach): the token of the websockify peer's session/connect, the sound
// page and the final clean-up.
async function apiToken() {
  const r = await fetch(new URL("/v3/api/user/login", opts.base), { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: opts.login, password: opts.password }) });
  const doc = await r.json();
  if (!doc.result || doc.result.stage !== "success") throw new Error(`user/login: ${JSON.stringify(doc)}`);
  return doc.result.token;
}

// login opens the app in ctx and logs in; answers the page and a session token.
async function login(ctx) {
  const page = await ctx.newPage();
  page.setDefaultTimeout(30_000);
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept().catch(() => {})); // Terminate asks to confirm
  await page.goto(new URL("/", opts.base).href);
  await page.waitForSelector('body[data-state="signed-out"]');
  await page.fill("#login-user", opts.login);
  await page.fill("#login-password", opts.password);
  await page.click("#login-btn");
  await page.waitForSelector('body[data-state="signed-in"]');
  await page.selectOption("#start-geometry", "800x600");
  await page.fill("#start-command", "xterm");
  return { page, token: await apiToken() };
}

// startWatch arms the start measurement: from the click on Start, every animation frame samples the
// noVNC canvas on a 32×24 grid.
const startWatch = () => {
  const st = (window.__st = { t0: 0, first: 0, xterm: 0, connected: 0 });
  const poll = () => {
    if (!st.connected && document.body.dataset.state === "connected") st.connected = performance.now();
    const c = document.querySelector("#screen canvas");
    if (c && c.width > 0 && c.height > 0) {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let opaque = 0, white = 0;
      for (let gy = 0; gy < 24; gy++) {
        for (let gx = 0; gx < 32; gx++) {
          const x = Math.floor(((gx + 0.5) * c.width) / 32), y = Math.floor(((gy + 0.5) * c.height) / 24);
          const i = (y * c.width + x) * 4;
          if (d[i + 3] > 0) opaque++;
          if (d[i] >= 240 && d[i + 1] >= 240 && d[i + 2] >= 240 && d[i + 3] > 0) white++;
        }
      }
      if (!st.first && opaque > 0) st.first = performance.now();
      if (!st.xterm && white >= 40) st.xterm = performance.now();
    }
    if (!st.xterm && performance.now() - st.t0 < 30_000) requestAnimationFrame(poll);
  };
  document.getElementById("start-btn").addEventListener("click", () => { st.t0 = performance.now(); requestAnimationFrame(poll); },
    { once: true, capture: true });
};

// startDesktop clicks Start and waits for the xterm on the canvas; answers the timings.
async function startDesktop(page) {
  await page.evaluate(startWatch);
  await page.click("#start-btn");
  await page.waitForFunction(() => window.__st.xterm > 0, null, { timeout: 40_000 });
  await page.waitForSelector('body[data-state="connected"]');
  return page.evaluate(() => {
    const st = window.__st;
    const api = performance.getEntriesByType("resource").filter((e) => e.name.includes("/v3/api/session/start")).pop();
    return { first: st.first - st.t0, xterm: st.xterm - st.t0, connected: (st.connected || st.xterm) - st.t0,
      api: api ? api.responseEnd - st.t0 : NaN };
  });
}

async function terminate(page) {
  await page.click("#terminate");
  await page.waitForSelector('body[data-state="signed-in"]');
}

// ---- load ----
if (measures.has("load")) {
  const s = { bytes: [], requests: [], dcl: [], load: [], interactive: [] };
  const url = new URL(opts.page, opts.base).href;
  for (let i = 0; i < opts.loads; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    let bytes = 0, requests = 0;
    cdp.on("Network.loadingFinished", (e) => { bytes += e.encodedDataLength; requests++; });
    await page.goto(url, { waitUntil: "load" });
    const interactive = await (await page.waitForFunction((sel) => document.querySelector(sel) && performance.now(), opts.ready,
      { polling: "raf", timeout: 30_000 })).jsonValue();
    const nav = await page.evaluate(() => { const n = performance.getEntriesByType("navigation")[0]; return { dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd }; });
    await sleep(300); // late requests (fonts, favicons) still count
    s.bytes.push(bytes); s.requests.push(requests); s.dcl.push(nav.dcl); s.load.push(nav.load); s.interactive.push(interactive);
    log(`load ${i}: ${bytes} bytes in ${requests} requests, DCL ${nav.dcl.toFixed(0)} ms, load ${nav.load.toFixed(0)} ms, interactive ${interactive.toFixed(0)} ms`);
    await ctx.close();
  }
  raw.load = s;
  rows.push([`first load of ${opts.page}: bytes (requests)`, `${pct(s.bytes, 50)} B (${pct(s.requests, 50)})`, "", `${opts.loads} cold loads`]);
  rows.push([`first load of ${opts.page}: DOMContentLoaded / load`, `${ms(pct(s.dcl, 50))} / ${ms(pct(s.load, 50))}`, `${ms(pct(s.dcl, 95))} / ${ms(pct(s.load, 95))}`, ""]);
  rows.push([`first load of ${opts.page}: interactive (${opts.ready})`, ms(pct(s.interactive, 50)), ms(pct(s.interactive, 95)), "sampled per animation frame"]);
}

const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const { page, token } = await login(ctx);

// ---- start ----
if (measures.has("start")) {
  const s = { api: [], connected: [], first: [], xterm: [] };
  for (let i = 0; i < opts.starts; i++) {
    const t = await startDesktop(page);
    s.api.push(t.api); s.connected.push(t.connected); s.first.push(t.first); s.xterm.push(t.xterm);
    log(`start ${i}: session/start answered ${t.api.toFixed(0)} ms, RFB connected ${t.connected.toFixed(0)} ms, first frame ${t.first.toFixed(0)} ms, xterm ${t.xterm.toFixed(0)} ms`);
    await terminate(page);
    await sleep(500);
  }
  raw.start = s;
  rows.push(["click Start → session/start answered", ms(pct(s.api, 50)), ms(pct(s.api, 95)), `${opts.starts} desktops`]);
  rows.push(["click Start → viewer connected (RFB handshake done)", ms(pct(s.connected, 50)), ms(pct(s.connected, 95)), ""]);
  rows.push(["click Start → first frame on the canvas", ms(pct(s.first, 50)), ms(pct(s.first, 95)), ""]);
  rows.push(["click Start → xterm drawn on the canvas", ms(pct(s.xterm, 50)), ms(pct(s.xterm, 95)), ""]);
}

// keyMeasure takes n keystroke→pixel samples on a page showing an xterm through noVNC
// (window.deskhubRFB), after 3 warm-up keys.
async function keyMeasure(p, n, label) {
  // The xterm: the bounding box of white pixels in the framebuffer.
  const box = await p.evaluate(() => {
    const img = window.deskhubRFB.getImageData();
    const { width: w, height: h, data: d } = img;
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      if (d[i] >= 240 && d[i + 1] >= 240 && d[i + 2] >= 240) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
    }
    return x1 > x0 ? { x0, y0, x1, y1, w, h } : null;
  });
  if (!box) throw new Error(`${label}: no xterm on the canvas`);
  const canvas = p.locator("#screen canvas");
  const rect = await canvas.boundingBox();
  await p.mouse.click(rect.x + ((box.x0 + box.x1) / 2) * rect.width / box.w, rect.y + ((box.y0 + box.y1) / 2) * rect.height / box.h);
  await sleep(300);
  await p.evaluate((box) => {
    const c = document.querySelector("#screen canvas");
    const g = c.getContext("2d");
    const k = (window.__k = { t0: 0, t1: 0, armed: false, snap: null });
    const w = box.x1 - box.x0 + 1, h = box.y1 - box.y0 + 1;
    const read = () => g.getImageData(box.x0, box.y0, w, h).data;
    window.addEventListener("keydown", (e) => { if (k.armed && !k.t0) k.t0 = e.timeStamp; }, true);
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      if (!k.armed) return;
      const d = read(), s = k.snap;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) {
        if (Math.abs(d[i] - s[i]) + Math.abs(d[i + 1] - s[i + 1]) + Math.abs(d[i + 2] - s[i + 2]) > 96 && ++n >= 4) break;
      }
      if (n >= 4 && k.t0) { k.t1 = performance.now(); k.armed = false; return; }
      if (performance.now() - (k.t0 || performance.now()) > 5000) { k.armed = false; return; }
      ch.port2.postMessage(0);
    };
    k.arm = () => { k.snap = read(); k.t0 = 0; k.t1 = 0; k.armed = true; ch.port2.postMessage(0); };
  }, box);
  const keys = "abcdefghijklmnopqrstuvwxyz";
  const out = [];
  for (let i = 0; i < n + 3; i++) {
    if (i > 0 && i % 20 === 0) { // keep the line short: clear it (Ctrl+U) and let it settle
      await p.keyboard.press("Control+KeyU");
      await sleep(300);
    }
    await p.evaluate(() => window.__k.arm());
    await p.keyboard.press(keys[i % keys.length]);
    try {
      await p.waitForFunction(() => window.__k.t1 > 0 || !window.__k.armed, null, { timeout: 6000, polling: 5 });
    } catch { /* counted below */ }
    const t = await p.evaluate(() => (window.__k.t1 > 0 ? window.__k.t1 - window.__k.t0 : null));
    if (i >= 3) {
      if (t === null) log(`${label}: key ${i}: no change seen`);
      else out.push(t);
    }
    await sleep(80 + Math.random() * 40); // not in step with the server's frame timer
  }
  await p.keyboard.press("Control+KeyU");
  log(`${label}: ${out.map((v) => v.toFixed(1)).join(" ")}`);
  return out;
}

const freePort = () => new Promise((res, rej) => {
  const s = createServer();
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); });
  s.on("error", rej);
});

// ---- key ----
if (measures.has("key")) {
  await startDesktop(page);
  await sleep(800); // the first prompt
  const sid = await page.evaluate(() => document.body.dataset.session);
  const dh = await keyMeasure(page, opts.keys, "deskhub");
  raw.key = { deskhub: dh };
  let peer = null;
  if (opts.websockify && opts.data) {
    // The same desktop through websockify and plain noVNC: its connect password from session/connect.
    const resp = await fetch(new URL("/v3/api/session/connect", opts.base), {
      method: "POST", headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify({ id: sid }),
    });
    const conn = (await resp.json()).result;
    await page.click("#disconnect"); // one viewer at a time
    await page.waitForSelector('body[data-state="signed-in"]');
    const web = mkdtempSync(join(tmpdir(), "deskhub-websockify-"));
    cpSync(opts.novnc, join(web, "novnc"), { recursive: true });
    writeFileSync(join(web, "peer.html"), `<!doctype html><html><head><meta charset="utf-8">
<style>html,body{height:100%;margin:0}#screen{width:1000px;height:700px}</style></head><body data-state="connecting">
<div id="screen"></div><script type="module" src="peer.js"></script></body></html>`);
    writeFileSync(join(web, "peer.js"), `import RFB from "./novnc/core/rfb.js";
const q = new URLSearchParams(location.search);
const r = new RFB(document.getElementById("screen"), "ws://" + location.host + "/websockify", { wsProtocols: ["binary"], credentials: { password: q.get("password") || "" } });
r.scaleViewport = true; r.focusOnClick = true; r.background = "#404040";
window.deskhubRFB = r;
r.addEventListener("connect", () => { document.body.dataset.state = "connected"; r.focus(); });
r.addEventListener("credentialsrequired", () => r.sendCredentials({ password: q.get("password") || "" }));
`);
    const port = await freePort();
    const sock = join(opts.data, "sessions", sid, "rfb.sock");
    const ws = spawn(opts.websockify, ["--web", web, `127.0.0.1:${port}`, `--unix-target=${sock}`], { stdio: ["ignore", "ignore", "pipe"] });
    let wsLog = "";
    ws.stderr.on("data", (b) => { wsLog += b; });
    try {
      await sleep(1000);
      const pp = await ctx.newPage();
      pp.setDefaultTimeout(30_000);
      await pp.goto(`http://127.0.0.1:${port}/peer.html?password=${encodeURIComponent(conn.password || "")}`);
      await pp.waitForSelector('body[data-state="connected"]');
      await pp.waitForFunction(() => {
        const img = window.deskhubRFB.getImageData();
        let n = 0;
        for (let i = 0; i < img.data.length; i += 4 * 97) if (img.data[i] >= 240) n++;
        return n > 100;
      });
      await sleep(500);
      peer = await keyMeasure(pp, opts.keys, "websockify");
      raw.key.websockify = peer;
      await pp.close();
    } catch (e) {
      log(`websockify peer failed: ${e}\n${wsLog}`);
    } finally {
      ws.kill();
      rmSync(web, { recursive: true, force: true });
    }
  }
  const ratio = peer && peer.length ? ` (deskhub/websockify p50 ${(pct(dh, 50) / pct(peer, 50)).toFixed(2)}×)` : "";
  rows.push(["keystroke → changed pixel in the xterm, deskhub", ms(pct(dh, 50)), ms(pct(dh, 95)), `${dh.length} keys${ratio}`]);
  if (peer) rows.push(["keystroke → changed pixel, noVNC + websockify (same desktop)", ms(pct(peer, 50)), ms(pct(peer, 95)), `${peer.length} keys`]);
  raw.key.session = sid;
}

// ---- audio ----
if (measures.has("audio")) {
  if (!opts["audio-bundle"]) throw new Error("--audio-bundle: web/app/src/audio.ts transpiled (run.sh does it)");
  let sid = (raw.key && raw.key.session) || (await page.evaluate(() => document.body.dataset.session));
  if (!sid) {
    await startDesktop(page);
    sid = await page.evaluate(() => document.body.dataset.session);
  }
  // A page of deskhub's origin that sends the token with every request (the web app's cookie does that).
  const actx = await browser.newContext({ bypassCSP: true, extraHTTPHeaders: { Authorization: `Bearer ${token}` } });
  const ap = await actx.newPage();
  ap.setDefaultTimeout(30_000);
  await ap.goto(new URL("/", opts.base).href);
  await ap.addScriptTag({ content: readFileSync(opts["audio-bundle"], "utf8") });
  await ap.evaluate(async (id) => {
    const p = new DeskhubAudio.AudioPlayer(id);
    await p.start();
    const an = p.context.createAnalyser();
    an.fftSize = 256;
    p.output.connect(an);
    const buf = new Float32Array(an.fftSize);
    const w = (window.__a = { p, since: 0, arrived: 0, heard: 0 });
    p.onframe = (peak, at) => { if (w.since && !w.arrived && peak > 0.05) w.arrived = at; };
    setInterval(() => {
      if (!w.since || w.heard) return;
      an.getFloatTimeDomainData(buf);
      for (const v of buf) if (Math.abs(v) > 0.05) { w.heard = performance.now(); break; }
    }, 1);
  }, sid);
  const s = { arrival: [], heard: [] };
  for (let i = 0; i < opts["audio-trials"] + 1; i++) {
    const t = await ap.evaluate(async (id) => {
      const w = window.__a;
      Object.assign(w, { arrived: 0, heard: 0 });
      w.since = performance.now();
      const r = await fetch(`/spawner/${encodeURIComponent(id)}/playAudioSample`, { method: "POST" });
      if (!r.ok) return { error: `${r.status} ${await r.text()}` };
      const deadline = performance.now() + 5000;
      while ((!w.heard || performance.now() - w.p.stats.lastAt < 300) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const out = { arrival: w.arrived ? w.arrived - w.since : null, heard: w.heard ? w.heard - w.since : null };
      w.since = 0;
      return out;
    }, sid);
    if (t.error) throw new Error(`playAudioSample: ${t.error}`);
    log(`audio ${i}${i === 0 ? " (warm-up, not counted)" : ""}: first frame ${t.arrival} ms, heard ${t.heard} ms`);
    if (i > 0 && t.arrival !== null && t.heard !== null) { s.arrival.push(t.arrival); s.heard.push(t.heard); }
    await sleep(200);
  }
  await ap.evaluate(() => window.__a.p.stop());
  await actx.close();
  raw.audio = s;
  rows.push(["tone started (playAudioSample sent) → first non-silent frame in the page", ms(pct(s.arrival, 50)), ms(pct(s.arrival, 95)), `${s.arrival.length} tones`]);
  rows.push(["tone started → heard at the player's output (AnalyserNode; 80 ms jitter buffer)", ms(pct(s.heard, 50)), ms(pct(s.heard, 95)), ""]);
}

// Leave no desktop running.
await browser.close();
const v3 = async (call, body) => {
  const r = await fetch(new URL(`/v3/api/${call}`, opts.base), { method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify(body) });
  return (await r.json()).result;
};
for (const s of (await v3("session/list", {})) || []) await v3("session/terminate", { id: s.id });

console.log("| measure | p50 | p95 | notes |");
console.log("|---|---|---|---|");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.error(JSON.stringify(raw));
