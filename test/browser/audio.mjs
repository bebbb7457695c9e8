// audio.mjs plays a desktop's sound in headless Chromium with web/app/src/audio.ts (transpiled by the
// Go test into a script defining DeskhubAudio) and reports what the page heard. The page is deskhub's
// own home page (the websocket's Origin is deskhub's); the bundle is added to it with the page's CSP
// bypassed. The deskhub token goes with every request as Authorization (standing in for the web app's
// session cookie, which browsers send with same-origin websockets); Chromium runs with
// --autoplay-policy=no-user-gesture-required (a page needs the user's unmute click otherwise).
//
//   node test/browser/audio.mjs <base url> <token> <session id> <bundle.js> [<trials>]
//
// Each trial: POST /spawner/<id>/playAudioSample from the page (the agent plays 0.5 s of 440 Hz in the
// desktop), then wait until the stream brought the tone (AudioPlayer.onframe) and an AnalyserNode on
// the player's output heard it, then until the stream is silent again. Prints one JSON object on
// stdout: header, per trial {frames, peak, arrivalMs, heardMs}, and whether stop() closed the socket.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, token, sessionId, bundle, trialsArg] = process.argv.slice(2);
if (!base || !token || !sessionId || !bundle) {
  console.error("usage: node audio.mjs <base url> <token> <session id> <bundle.js> [<trials>]");
  process.exit(2);
}
const trials = Number(trialsArg || 1);
const result = { ok: false };
const dataDir = mkdtempSync(join(tmpdir(), "deskhub-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(dataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    bypassCSP: true,
    extraHTTPHeaders: { Authorization: `Bearer ${token}` },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
    timeout: 30_000,
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => console.error(`page console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(base + "/");
  await page.addScriptTag({ content: readFileSync(bundle, "utf8") });
  result.header = await page.evaluate(async (id) => {
    const p = new DeskhubAudio.AudioPlayer(id);
    await p.start();
    const an = p.context.createAnalyser();
    an.fftSize = 256;
    p.output.connect(an);
    const buf = new Float32Array(an.fftSize);
    const w = (window.__audio = { p, an, heard: 0, arrived: 0, frames: 0, peak: 0, since: 0, closed: null });
    p.onframe = (peak, at) => {
      if (!w.since) return;
      w.frames++;
      w.peak = Math.max(w.peak, peak);
      if (!w.arrived && peak > 0.05) w.arrived = at;
    };
    p.onclose = (code, reason) => (w.closed = `${code} ${reason}`);
    // The analyser, sampled every few ms: when the tone reached the player's output.
    setInterval(() => {
      if (!w.since || w.heard) return;
      an.getFloatTimeDomainData(buf);
      let m = 0;
      for (const v of buf) m = Math.max(m, Math.abs(v));
      if (m > 0.05) w.heard = performance.now();
    }, 2);
    return p.header;
  }, sessionId);
  result.trials = [];
  for (let i = 0; i < trials; i++) {
    const t = await page.evaluate(async (id) => {
      const w = window.__audio;
      Object.assign(w, { heard: 0, arrived: 0, frames: 0, peak: 0 });
      w.since = performance.now();
      const resp = await fetch(`/spawner/${encodeURIComponent(id)}/playAudioSample`, { method: "POST" });
      const body = await resp.text();
      if (!resp.ok) return { error: `playAudioSample: ${resp.status} ${body}` };
      const deadline = performance.now() + 5000;
      while ((!w.heard || performance.now() - w.p.stats.lastAt < 300) && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const out = { frames: w.frames, peak: w.peak, arrivalMs: w.arrived ? w.arrived - w.since : null,
        heardMs: w.heard ? w.heard - w.since : null, underruns: w.p.stats.underruns, dropped: w.p.stats.dropped };
      w.since = 0;
      return out;
    }, sessionId);
    console.error(`audio.mjs: trial ${i}: ${JSON.stringify(t)}`);
    result.trials.push(t);
    if (t.error) throw new Error(t.error);
  }
  result.closedBeforeStop = await page.evaluate(() => window.__audio.closed);
  result.stopped = await page.evaluate(async () => {
    const w = window.__audio;
    w.p.stop();
    return !w.p.playing && w.p.context === null;
  });
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(JSON.stringify(result));
