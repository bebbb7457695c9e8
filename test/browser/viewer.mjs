// viewer.mjs drives deskhub's web app (login, launcher, viewer) in headless Chromium against a deskhub
// with real desktops: a wrong then the right password; the login kept as an HttpOnly, SameSite=Strict
// cookie the page's script cannot read, surviving a reload; start an xterm at 800x600 from the
// launcher and wait for it on the noVNC canvas (pixels), see its window in the dock (the agent's window
// events), upload a file into the home and download one from it, type a command into it, send text through the clipboard panel and paste it with a middle
// click, resize the window in both view modes, lose the connection and come back (reconnect), go back
// to the launcher (a card with a live thumbnail) and open it again in one click, see "ended" when the
// desktop is terminated from elsewhere, start one more at the default size (fit to the window) and
// terminate it from the viewer, and log out (another tab of the same browser follows). Screenshots of
// the login, the launcher and the viewer go to <screenshot dir>. It prints one JSON object with what
// happened on stdout; diagnostics go to stderr.
//
//   node test/browser/viewer.mjs <base url> <login> <password> <nonce> [<artifact dir> [<screenshot dir>]]
//
// Typed: "echo deskhub-typed-<nonce> | tee ~/deskhub-typed.txt"; pasted through the clipboard:
// "deskhub-clip-<nonce>", echoed into ~/deskhub-clip.txt. The Go test reads both files.
import { join } from "node:path";
import { axe, launch, recorder, settle, shot, sleep, statusError as statusOf, watch } from "./lib.mjs";

const [base, login, password, nonce, artifacts, shots] = process.argv.slice(2);
if (!base || !login || !password || !nonce) {
  console.error("usage: node viewer.mjs <base url> <login> <password> <nonce> [<artifact dir> [<screenshot dir>]]");
  process.exit(2);
}
const { result, step, finish } = recorder("viewer.mjs");
let browser;
try {
  browser = await launch();
  const { context } = browser;
  step("browser started");
  const page = context.pages()[0] || (await context.newPage());
  const foreign = watch(page, base);
  const failed = [];
  page.on("requestfailed", (r) => failed.push(`${r.url()}: ${r.failure() && r.failure().errorText}`));
  const statusError = () => statusOf(page);
  const settleP = (state, what, timeout) => settle(page, state, what, timeout);

  const t0 = Date.now();
  await page.goto(new URL("/", base).href);
  await settleP("signed-out", "loading the page");
  result.firstLoadMs = Date.now() - t0;
  step("page loaded", { ms: result.firstLoadMs });
  await shot(page, shots, "login");

  // A wrong password shows the API's message.
  await page.fill("#login-user", login);
  await page.fill("#login-password", password + "-wrong");
  await page.click("#login-btn");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  result.badLoginMessage = await statusError();
  step("wrong password refused", { message: result.badLoginMessage });

  await page.fill("#login-password", password);
  await page.click("#login-btn");
  await settleP("signed-in", "password login");
  // The login is a cookie the script cannot read: HttpOnly, SameSite=Strict.
  const cookies = await context.cookies(base);
  const c = cookies.find((x) => x.name === "deskhub_session");
  result.cookie = c ? { httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path } : null;
  result.cookieVisibleToScript = await page.evaluate(() => document.cookie.includes("deskhub_session"));
  result.storageKeys = await page.evaluate(() => [...Object.keys(sessionStorage), ...Object.keys(localStorage)].filter((k) => !k.startsWith("deskhub.theme")));
  await page.reload();
  await settleP("signed-in", "reload after login");
  result.signedInAfterReload = (await page.$eval("#whoami", (e) => e.textContent)) === login;
  step("logged in; reload keeps the login", { cookie: result.cookie });
  await shot(page, shots, "launcher-empty");

  await page.fill("#start-command", "xterm");
  await page.selectOption("#start-geometry", "800x600");
  const tStart = Date.now();
  await page.click("#start-btn");
  await settleP("connected", "starting and connecting an xterm desktop", 30_000);
  result.startToConnectedMs = Date.now() - tStart;
  step("connected", { ms: result.startToConnectedMs });

  // frame summarises the framebuffer (noVNC's own copy, at the desktop's resolution): its size, the
  // bounding box of near-white pixels (the xterm's background), and a few samples.
  const frame = () => page.evaluate(() => {
    const rfb = window.deskhubRFB;
    if (!rfb) return null;
    const img = rfb.getImageData();
    const { width: w, height: h, data: d } = img;
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
    const px = (x, y) => { const i = (y * w + x) * 4; return [d[i], d[i + 1], d[i + 2]]; };
    return { width: w, height: h, white: n, box: n ? { x0, y0, x1, y1 } : null, corner: px(w - 3, h - 3) };
  });

  // Wait for the xterm to be drawn: a large white rectangle.
  let f = null;
  const deadline = Date.now() + 20_000;
  for (;;) {
    f = await frame();
    if (f && f.box && f.box.x1 - f.box.x0 > 200 && f.box.y1 - f.box.y0 > 150) break;
    if (Date.now() > deadline) throw new Error(`the xterm never showed on the canvas: ${JSON.stringify(f)}`);
    await sleep(200);
  }
  await sleep(500); // let the first prompt land
  f = await frame();
  result.frame = f;
  step("desktop drawn", { frame: f });

  // The canvas as Chromium shows it, and pixels read back from that screenshot.
  const canvas = page.locator("#screen canvas");
  const png = await canvas.screenshot(artifacts ? { path: join(artifacts, "viewer-desktop.png") } : {});
  result.canvasScreenshotBytes = png.length;
  const rect = await canvas.boundingBox();
  result.canvasRect = rect;
  // Pixels of the screenshot at framebuffer points (scaled to the canvas' on-screen size).
  const samplePNG = async (buf, points) => page.evaluate(async ({ b64, points, fw, fh }) => {
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const bmp = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
    const c = new OffscreenCanvas(bmp.width, bmp.height);
    const ctx = c.getContext("2d");
    ctx.drawImage(bmp, 0, 0);
    return points.map(([x, y]) => {
      const sx = Math.min(bmp.width - 1, Math.round((x + 0.5) * bmp.width / fw));
      const sy = Math.min(bmp.height - 1, Math.round((y + 0.5) * bmp.height / fh));
      return Array.from(ctx.getImageData(sx, sy, 1, 1).data.slice(0, 3));
    });
  }, { b64: buf.toString("base64"), points, fw: f.width, fh: f.height });
  const b = f.box;
  const inside = [Math.round((b.x0 + b.x1) / 2), Math.round(b.y0 + (b.y1 - b.y0) * 0.75)]; // xterm background, below the prompt
  const outside = [f.width - 3, f.height - 3]; // desktop background, unless the xterm covers the corner
  result.screenshotSamples = { inside: { at: inside, rgb: null }, outside: { at: outside, rgb: null } };
  [result.screenshotSamples.inside.rgb, result.screenshotSamples.outside.rgb] = await samplePNG(png, [inside, outside]);
  step("canvas screenshot sampled", { samples: result.screenshotSamples });

  // Framebuffer point -> page point.
  const toPage = (x, y) => ({ x: rect.x + (x + 0.5) * rect.width / f.width, y: rect.y + (y + 0.5) * rect.height / f.height });

  // Snapshot the xterm area, type, and count the changed pixels.
  await page.evaluate((box) => {
    const img = window.deskhubRFB.getImageData();
    window.__before = { box, w: img.width, data: img.data.slice() };
  }, b);
  const diff = () => page.evaluate(() => {
    const { box, w, data: a } = window.__before;
    const img = window.deskhubRFB.getImageData();
    if (img.width !== w) return -1;
    const d = img.data;
    let n = 0;
    for (let y = box.y0; y <= box.y1; y++) {
      for (let x = box.x0; x <= box.x1; x++) {
        const i = (y * w + x) * 4;
        if (Math.abs(a[i] - d[i]) + Math.abs(a[i + 1] - d[i + 1]) + Math.abs(a[i + 2] - d[i + 2]) > 96) n++;
      }
    }
    return n;
  });
  const clickAt = toPage(inside[0], inside[1]);
  await page.mouse.click(clickAt.x, clickAt.y);
  await sleep(300);
  result.typed = `echo deskhub-typed-${nonce} | tee ~/deskhub-typed.txt`;
  await page.keyboard.type(result.typed, { delay: 15 });
  await page.keyboard.press("Enter");
  let changed = 0;
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(200)) {
    changed = await diff();
    if (changed > 400) break;
  }
  await sleep(300);
  result.typedChangedPixels = await diff();
  await canvas.screenshot(artifacts ? { path: join(artifacts, "viewer-typed.png") } : {});
  step("typed into the xterm", { changedPixels: result.typedChangedPixels });

  // Clipboard: the panel's textarea goes to the desktop with rfb.clipboardPasteFrom (on input and on
  // the Send button); a middle click pastes it (Xvnc sets PRIMARY too) into the shell.
  await page.click("#clip-toggle");
  const clipText = `deskhub-clip-${nonce}`;
  await page.fill("#clipboard", clipText);
  await page.click("#clip-send");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Clipboard sent") ||
    document.getElementById("status").className === "error");
  const clipErr = await statusError();
  if (clipErr) throw new Error(`sending the clipboard: ${clipErr}`);
  result.clipboardSent = Number(await page.$eval("#clipboard", (e) => e.dataset.sent));
  await sleep(300);
  // The clipboard panel moved the canvas: measure again.
  Object.assign(rect, await canvas.boundingBox());
  const at = toPage(inside[0], inside[1]);
  await page.mouse.click(at.x, at.y); // focus the canvas again
  await page.keyboard.type("echo ", { delay: 15 });
  await page.mouse.click(at.x, at.y, { button: "middle" });
  await sleep(300);
  await page.keyboard.type(" > ~/deskhub-clip.txt", { delay: 15 });
  await page.keyboard.press("Enter");
  result.stateAfterClipboard = await page.evaluate(() => document.body.dataset.state);
  step("clipboard sent and pasted", { sent: result.clipboardSent });
  await page.click("#clip-toggle");

  // Resize, scaling mode: a smaller window scales the canvas down; the desktop stays connected.
  const cssWidth = () => page.$eval("#screen canvas", (c) => c.getBoundingClientRect().width);
  result.resize = { before: await cssWidth() };
  await page.setViewportSize({ width: 700, height: 560 });
  await page.waitForFunction((w) => document.querySelector("#screen canvas").getBoundingClientRect().width < w - 50, result.resize.before);
  await sleep(500);
  result.resize.scaled = await cssWidth();
  result.resize.scaledState = await page.evaluate(() => document.body.dataset.state);
  // Resize mode: the desktop itself takes the window's size.
  await page.setViewportSize({ width: 1000, height: 720 });
  await page.selectOption("#view-mode", "remote");
  const screenSize = await page.$eval("#screen", (e) => [Math.floor(e.clientWidth), Math.floor(e.clientHeight)]);
  result.resize.screen = screenSize;
  let fb = null;
  for (const until = Date.now() + 10_000; Date.now() < until; await sleep(200)) {
    fb = await page.evaluate(() => window.deskhubRFB && [window.deskhubRFB.getImageData().width, window.deskhubRFB.getImageData().height]);
    if (fb && Math.abs(fb[0] - screenSize[0]) <= 2 && Math.abs(fb[1] - screenSize[1]) <= 2) break;
  }
  result.resize.remote = fb;
  result.resize.remoteState = await page.evaluate(() => document.body.dataset.state);
  step("resized", { resize: result.resize });

  // The dock: the agent's window events list the xterm.
  await page.waitForFunction(() => [...document.querySelectorAll("#dock .win")].some((b) => /xterm|deskhub|@/i.test(b.textContent)), null, { timeout: 15_000 })
    .catch(() => {});
  result.dock = await page.$$eval("#dock .win", (bs) => bs.map((b) => b.textContent));
  step("dock", { dock: result.dock });
  result.viewerAxe = await axe(page);

  // Files: upload one into the home, download the file the typed command wrote.
  await page.click("#files-toggle");
  await page.setInputFiles("#file-upload", { name: `deskhub-upload-${nonce}.txt`, mimeType: "text/plain", buffer: Buffer.from(`uploaded-${nonce}\n`) });
  await page.waitForSelector("#uploaded");
  await page.fill("#file-path", "deskhub-typed.txt");
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#file-download")]);
  const chunks = [];
  for await (const c of await download.createReadStream()) chunks.push(c);
  result.downloaded = { name: download.suggestedFilename(), content: Buffer.concat(chunks).toString() };
  await page.click("#files-toggle");
  step("file uploaded and downloaded", { downloaded: result.downloaded });
  await page.setViewportSize({ width: 1280, height: 800 });
  await sleep(500);
  await shot(page, shots, "viewer");

  // Network loss: the display websocket drops; the viewer reconnects by itself.
  result.sessionId = await page.evaluate(() => document.body.dataset.session);
  await page.evaluate(() => window.deskhubRFB._sock._websocket.close());
  await page.waitForFunction(() => document.body.dataset.state === "reconnecting", null, { timeout: 5000 });
  result.reconnectMessage = await page.$eval("#viewer-message", (e) => e.textContent);
  await settleP("connected", "reconnecting", 20_000);
  result.reconnected = true;
  step("reconnected after a dropped connection", { message: result.reconnectMessage });

  // Back to the launcher: the desktop is a card with a live thumbnail; one click opens it again.
  await page.click("#disconnect");
  await settleP("signed-in", "back to the launcher");
  const card = `#sessions li[data-id="${result.sessionId}"]`;
  await page.waitForFunction((sel) => { const i = document.querySelector(sel + " .thumb img"); return i && i.src.startsWith("data:image/") && i.naturalWidth > 0; }, card, { timeout: 15_000 });
  result.card = await page.$eval(card, (li) => ({ state: li.dataset.state, text: li.textContent, thumb: li.querySelector(".thumb img").naturalWidth }));
  step("card with thumbnail", { card: result.card });
  result.launcherAxe = await axe(page);
  await shot(page, shots, "launcher");
  await page.click(`${card} .connect`);
  await settleP("connected", "opening the card");
  step("opened again from the card");

  // Terminated elsewhere (the API, as another client would): the viewer says the desktop ended.
  const ended = await page.request.post(new URL("/v3/api/session/terminate", base).href, {
    data: { id: result.sessionId }, headers: { "X-Deskhub-Request": "1", Origin: new URL(base).origin },
  });
  result.terminateElsewhereStatus = ended.status();
  await page.waitForFunction(() => document.body.dataset.state === "ended", null, { timeout: 20_000 });
  result.endedMessage = await page.$eval("#viewer-message", (e) => e.textContent);
  step("ended message", { message: result.endedMessage });
  await page.click("#viewer-message a");
  await settleP("signed-in", "back from the ended desktop");

  // One more at the default size (fit to the window), terminated from the viewer.
  result.defaultSize = await page.$eval("#start-geometry", (e) => e.value);
  await page.click("#start-btn");
  await settleP("connected", "starting at the window's size", 30_000);
  await sleep(300);
  result.fit = await page.evaluate(() => ({
    window: [window.innerWidth, window.innerHeight],
    screen: [document.getElementById("screen").clientWidth, document.getElementById("screen").clientHeight],
    fb: [window.deskhubRFB.getImageData().width, window.deskhubRFB.getImageData().height],
  }));
  result.fitSessionId = await page.evaluate(() => document.body.dataset.session);
  step("started at fit size", { fit: result.fit });
  await page.click("#terminate");
  await settleP("signed-in", "terminating");
  await page.waitForFunction((id) => {
    const ul = document.getElementById("sessions");
    return ul && Number(ul.dataset.gen) > 0 && !ul.querySelector(`li[data-id="${id}"]`);
  }, result.fitSessionId);
  result.statusAfterTerminate = await page.$eval("#status", (e) => e.textContent);
  step("terminated");

  // Log out: the cookie goes, and another tab of the same browser is logged out too.
  const other = await context.newPage();
  watch(other, base, "tab2");
  await other.goto(new URL("/#/account", base).href);
  await settle(other, "signed-in", "second tab");
  await page.click("#logout");
  await settleP("signed-out", "logging out");
  await settle(other, "signed-out", "the other tab after the logout");
  result.cookieAfterLogout = (await context.cookies(base)).some((x) => x.name === "deskhub_session");
  await page.reload();
  await settleP("signed-out", "reload after logout");
  result.loggedOutEverywhere = true;
  step("logged out in both tabs");

  result.foreignRequests = foreign;
  result.failedRequests = failed;
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`viewer.mjs: ${result.error}`);
  if (browser && artifacts) {
    const p = browser.context.pages()[0];
    if (p) await p.screenshot({ path: join(artifacts, "viewer-failure.png") }).catch(() => {});
  }
} finally {
  if (browser) await browser.close();
}
finish();
