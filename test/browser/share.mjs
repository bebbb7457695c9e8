// share.mjs drives deskhub's web app in headless Chromium for a desktop shared with a view-only key:
// a guest (fresh browser context, no login) opens the share link (#session=<id>&key=<key>), sees the
// desktop on the noVNC canvas, and types a command into the xterm, which must not reach the desktop;
// then the owner (another fresh context) logs in, opens the desktop card's share dialog — creates a
// viewer and a granter link (each shown with its perms and a copyable URL), revokes the granter one,
// mails a link —, connects to the same desktop and types a command that must run; finally the share
// keys are reset and the guest's page must say that the sharing ended.
//
//   node test/browser/share.mjs <base url> <session id> <share key> <login> <password> <nonce> [<artifact dir>]
//
// The Go test (share_test.go) checks the desktop's files between the steps. Protocol on stdout, one JSON
// object a line: {"event":"guest-typed"} (the guest typed "echo viewer-typed-<nonce> > ~/viewer.txt"),
// {"event":"owner-typed"} (the owner typed "echo owner-typed-<nonce> > ~/owner.txt"); after each, the
// script waits for one line on stdin from the test ("next": after the second one, the test has reset the
// share keys). The last line is the result object. Diagnostics go to stderr.
//
// Needs /usr/bin/chromium and playwright-core in test/browser/node_modules (scripts/browser-deps.sh).
import { createInterface } from "node:readline";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, sessionId, key, login, password, nonce, artifacts] = process.argv.slice(2);
if (!base || !sessionId || !key || !login || !password || !nonce) {
  console.error("usage: node share.mjs <base url> <session id> <share key> <login> <password> <nonce> [<artifact dir>]");
  process.exit(2);
}

const result = { ok: false, steps: [] };
const started = Date.now();
const step = (name, extra = {}) => {
  result.steps.push(Object.assign({ step: name, ms: Date.now() - started }, extra));
  console.error(`share.mjs: ${Date.now() - started} ms: ${name}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Lines from the Go test, one per event.
const lines = [];
const waiters = [];
createInterface({ input: process.stdin }).on("line", (l) => {
  const w = waiters.shift();
  if (w) w(l);
  else lines.push(l);
});
const emit = async (event) => {
  process.stdout.write(JSON.stringify({ event }) + "\n");
  const l = lines.length ? lines.shift() : await new Promise((r) => waiters.push(r));
  if (l.trim() !== "next") throw new Error(`the test answered ${JSON.stringify(l)} after ${event}`);
};

// openPage makes a page in a fresh browser context (its own profile: no cookies, no sessionStorage).
const openPage = async (browser, who) => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => console.error(`${who} console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`${who} page error: ${e.message}`));
  return page;
};

const statusOf = (page) => page.$eval("#status", (e) => ({ text: e.textContent, error: e.className === "error" }));
// settle waits for a page state, failing early with the page's own message on an error.
const settle = async (page, state, what, timeout) => {
  await page.waitForFunction(
    (s) => document.body.dataset.state === s || (document.getElementById("status") || {}).className === "error", state, { timeout });
  const st = await statusOf(page);
  if (st.error) throw new Error(`${what}: ${st.text}`);
};

// frame summarises noVNC's framebuffer: size, bounding box of near-white pixels (the xterm), a corner.
const frame = (page) => page.evaluate(() => {
  const rfb = window.deskhubRFB;
  if (!rfb) return null;
  const { width: w, height: h, data: d } = rfb.getImageData();
  let n = 0, x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      if (d[i] >= 240 && d[i + 1] >= 240 && d[i + 2] >= 240) {
        n++;
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  const i = ((h - 3) * w + (w - 3)) * 4;
  return { width: w, height: h, white: n, box: n ? { x0, y0, x1, y1 } : null, corner: [d[i], d[i + 1], d[i + 2]] };
});

// xtermShown waits for the xterm's white rectangle on the page's canvas.
const xtermShown = async (page, what) => {
  let f = null;
  for (const until = Date.now() + 20_000; ; await sleep(200)) {
    f = await frame(page);
    if (f && f.box && f.box.x1 - f.box.x0 > 200 && f.box.y1 - f.box.y0 > 150) return f;
    if (Date.now() > until) throw new Error(`${what}: the xterm never showed on the canvas: ${JSON.stringify(f)}`);
  }
};

// snapshot keeps the page's framebuffer; changed counts the xterm pixels that differ from it since.
const snapshot = (page) => page.evaluate(() => {
  const img = window.deskhubRFB.getImageData();
  window.__before = { w: img.width, data: img.data.slice() };
});
const changed = (page, box) => page.evaluate((box) => {
  const { w, data: a } = window.__before;
  const img = window.deskhubRFB && window.deskhubRFB.getImageData();
  if (!img || img.width !== w) return -1;
  const d = img.data;
  let n = 0;
  for (let y = box.y0; y <= box.y1; y++) {
    for (let x = box.x0; x <= box.x1; x++) {
      const i = (y * w + x) * 4;
      if (Math.abs(a[i] - d[i]) + Math.abs(a[i + 1] - d[i + 1]) + Math.abs(a[i + 2] - d[i + 2]) > 96) n++;
    }
  }
  return n;
}, box);

// typeInto clicks into the xterm (below the prompt) and types a command line.
const typeInto = async (page, f, line) => {
  const rect = await page.locator("#screen canvas").boundingBox();
  const b = f.box;
  const x = Math.round((b.x0 + b.x1) / 2), y = Math.round(b.y0 + (b.y1 - b.y0) * 0.75);
  await page.mouse.click(rect.x + (x + 0.5) * rect.width / f.width, rect.y + (y + 0.5) * rect.height / f.height);
  await sleep(300);
  await page.keyboard.type(line, { delay: 15 });
  await page.keyboard.press("Enter");
};

const shot = (page, name) => (artifacts ? page.screenshot({ path: join(artifacts, name) }).catch(() => {}) : null);

let browser, guest, owner;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
  step("browser started");

  // The guest: the share link, no login.
  guest = await openPage(browser, "guest");
  await guest.goto(new URL(`/#session=${encodeURIComponent(sessionId)}&key=${encodeURIComponent(key)}`, base).href);
  await settle(guest, "connected", "the guest opening the share link", 20_000);
  result.guestToken = (await guest.context().cookies(base)).some((c) => c.name === "deskhub_session");
  result.guestSession = await guest.evaluate(() => document.body.dataset.session || "");
  step("guest connected");
  let gf = await xtermShown(guest, "guest");
  await sleep(500); // let the first prompt land
  gf = await frame(guest);
  result.guestFrame = gf;
  step("guest sees the desktop", { frame: gf });

  await snapshot(guest);
  result.guestTyped = `echo viewer-typed-${nonce} > ~/viewer.txt`;
  await typeInto(guest, gf, result.guestTyped);
  await sleep(1000);
  result.guestChangedPixels = await changed(guest, gf.box);
  result.guestStateAfterTyping = await guest.evaluate(() => document.body.dataset.state);
  await shot(guest, "share-guest-typed.png");
  step("guest typed", { changedPixels: result.guestChangedPixels });
  await emit("guest-typed"); // the test checks that ~/viewer.txt does not appear

  // The guest unmutes: the sound websocket opens with the share key as its subprotocol (no account,
  // no key in the URL); the button is pressed once the stream's header came.
  const audioURLs = [];
  guest.on("websocket", (ws) => { if (ws.url().includes("/ws/audio/")) audioURLs.push(ws.url()); });
  await guest.click("#sound");
  await guest.waitForFunction(() => document.getElementById("sound").getAttribute("aria-pressed") === "true" ||
    document.getElementById("status")?.classList.contains("error"), null, { timeout: 20_000 });
  result.guestSound = await guest.$eval("#sound", (e) => e.getAttribute("aria-pressed"));
  result.guestSoundStatus = await guest.$eval("#status", (e) => e.textContent).catch(() => "");
  result.guestSoundURLs = audioURLs;
  await guest.click("#sound");
  step("guest unmuted", { pressed: result.guestSound, urls: audioURLs });

  // The owner: log in on the page and connect to the same desktop.
  owner = await openPage(browser, "owner");
  await owner.goto(new URL("/", base).href);
  await settle(owner, "signed-out", "the owner loading the page");
  await owner.fill("#login-user", login);
  await owner.fill("#login-password", password);
  await owner.click("#login-btn");
  await settle(owner, "signed-in", "the owner's login");
  owner.on("dialog", (d) => d.accept().catch(() => {}));
  // The share dialog of the desktop's card.
  const card = `#sessions li[data-id="${sessionId}"]`;
  await owner.click(`${card} .share`);
  await owner.waitForSelector("#share[open] #share-keys");
  await owner.waitForFunction(() => Number(document.getElementById("share-keys").dataset.count) >= 1); // the test's own key
  const count = () => owner.$eval("#share-keys", (e) => Number(e.dataset.count));
  const before = await count();
  await owner.click("#share-create");
  await owner.waitForFunction((n) => Number(document.getElementById("share-keys").dataset.count) === n + 1, before);
  await owner.check('input[name="perm"][value="granter"]');
  await owner.click("#share-create");
  await owner.waitForFunction((n) => Number(document.getElementById("share-keys").dataset.count) === n + 2, before);
  result.shareLinks = await owner.$$eval("#share-keys li", (lis) => lis.map((li) => ({ perms: li.dataset.perms, link: li.querySelector("input.link").value })));
  await shot(owner, "share-dialog.png");
  if (process.env.DESKHUB_SCREENSHOTS) await owner.screenshot({ path: join(process.env.DESKHUB_SCREENSHOTS, "share.png") });
  await owner.click('#share-keys li[data-perms="granter"] .revoke');
  await owner.waitForFunction((n) => Number(document.getElementById("share-keys").dataset.count) === n + 1, before);
  await owner.check('input[name="perm"][value="viewer"]');
  await owner.fill("#share-email", "guest@example.org");
  await owner.click("#share-mail button[type=submit]");
  await owner.waitForFunction((n) => Number(document.getElementById("share-keys").dataset.count) === n + 2, before);
  result.shareLinksAfter = await owner.$$eval("#share-keys li", (lis) => lis.map((li) => li.dataset.perms));
  step("share dialog: created, revoked, mailed", { links: result.shareLinks, after: result.shareLinksAfter });
  await owner.click("#share header button");
  await owner.click(`${card} .connect`);
  await settle(owner, "connected", "the owner connecting", 20_000);
  step("owner connected");
  let of = await xtermShown(owner, "owner");
  await sleep(300);
  of = await frame(owner);
  result.ownerFrame = of;

  await snapshot(owner);
  await snapshot(guest);
  result.ownerTyped = `echo owner-typed-${nonce} > ~/owner.txt`;
  await typeInto(owner, of, result.ownerTyped);
  let n = 0;
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(200)) {
    n = await changed(owner, of.box);
    if (n > 400) break;
  }
  await sleep(300);
  result.ownerChangedPixels = await changed(owner, of.box);
  // The guest still watches: the owner's typing shows on its canvas too.
  result.guestSawOwnerPixels = await changed(guest, gf.box);
  await shot(owner, "share-owner-typed.png");
  await shot(guest, "share-guest-watching.png");
  step("owner typed", { ownerChanged: result.ownerChangedPixels, guestSaw: result.guestSawOwnerPixels });
  await emit("owner-typed"); // the test checks ~/owner.txt, then resets the share keys

  // The reset disconnects the guest; the owner's connection is not a share.
  await guest.waitForFunction(() => document.body.dataset.state === "ended", null, { timeout: 20_000 });
  result.guestAfterReset = await guest.evaluate(() => ({
    state: document.body.dataset.state,
    status: (document.getElementById("viewer-message") || {}).textContent || "",
    error: document.getElementById("status").className === "error",
    session: document.body.dataset.session || "",
  }));
  result.ownerStateAfterReset = await owner.evaluate(() => document.body.dataset.state);
  await shot(guest, "share-guest-reset.png");
  step("guest disconnected by the reset", { guest: result.guestAfterReset, owner: result.ownerStateAfterReset });

  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`share.mjs: ${result.error}`);
  if (guest) await shot(guest, "share-guest-failure.png");
  if (owner) await shot(owner, "share-owner-failure.png");
} finally {
  if (browser) await browser.close().catch(() => {});
}
result.ms = Date.now() - started;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);
