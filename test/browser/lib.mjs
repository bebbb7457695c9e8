// lib.mjs: what the browser scripts share — launching Chromium (playwright-core, Debian's
// /usr/bin/chromium), steps with timings, waiting on the app's body[data-state], the page's status line,
// logging in through the app, screenshots into docs/screenshots, and the axe-core accessibility check.
import { mkdtempSync, rmSync, readFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function recorder(name) {
  const result = { ok: false, steps: [] };
  const started = Date.now();
  const step = (what, extra = {}) => {
    result.steps.push(Object.assign({ step: what, ms: Date.now() - started }, extra));
    console.error(`${name}: ${Date.now() - started} ms: ${what}`);
  };
  const finish = () => {
    result.ms = Date.now() - started;
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(result.ok ? 0 : 1);
  };
  return { result, step, finish };
}

export async function launch(opts = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "deskhub-chromium-"));
  const context = await chromium.launchPersistentContext(dataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    viewport: opts.viewport || { width: 1280, height: 800 },
    colorScheme: opts.colorScheme || "light",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { context, close };
}

// watch logs the page's console and errors to stderr and collects requests to other hosts.
export function watch(page, base, tag = "page") {
  const foreign = [];
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => console.error(`${tag} console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`${tag} error: ${e.message}`));
  page.on("dialog", (d) => d.accept().catch(() => {}));
  const host = new URL(base).host;
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith("data:") && !u.startsWith("ws://" + host)) foreign.push(u);
  });
  return foreign;
}

export const statusError = (page) => page.$eval("#status", (e) => (e.className === "error" ? e.textContent : "")).catch(() => "");

// settle waits for body[data-state] to be state, failing early with the page's own error message.
export async function settle(page, state, what, timeout) {
  await page.waitForFunction(
    (s) => document.body.dataset.state === s || (document.getElementById("status") || {}).className === "error", state, { timeout });
  const err = await statusError(page);
  if (err) throw new Error(`${what}: ${err}`);
}

export async function login(page, base, user, password) {
  await page.goto(new URL("/", base).href);
  await settle(page, "signed-out", "loading the login page");
  await page.fill("#login-user", user);
  await page.fill("#login-password", password);
  await page.click("#login-btn");
  await settle(page, "signed-in", "password login");
}

// shot writes a screenshot of the page into dir (docs/screenshots) when dir is given.
export async function shot(page, dir, name) {
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

// axe runs axe-core on the page and answers its serious and critical violations (id, impact, nodes).
const axeSource = readFileSync(createRequire(join(here, "x.js")).resolve("axe-core/axe.min.js"), "utf8");
export async function axe(page) {
  await page.evaluate(axeSource);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
      .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
}
