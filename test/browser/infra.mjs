// infra.mjs drives the web app's infrastructure pages (the old /infra URL redirects there) in headless
// Chromium against a real LXD daemon: log in, wait for the live event stream, add the server with its
// trust password through the Servers page's form, launch an instance from the busybox image on the
// Instances page, then freeze, unfreeze, force-stop and delete it with the row's buttons, each time
// waiting until the page shows the new status (which it learns from the event stream), and read the
// Events page.
//
//   node test/browser/infra.mjs <base url> <login> <password> <lxd host> <lxd port> <project> <trust password> <instance name> [<artifact dir>]
//
// Prints one JSON object on stdout: {ok, error, steps, events, instanceStatuses}. Diagnostics go to
// stderr. Needs /usr/bin/chromium and playwright-core (scripts/browser-deps.sh).
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, login, password, host, port, project, trust, name, artifacts] = process.argv.slice(2);
if (!base || !login || !password || !host || !port || !project || !trust || !name) {
  console.error("usage: node infra.mjs <base> <login> <password> <host> <port> <project> <trust password> <instance name> [<artifact dir>]");
  process.exit(2);
}
const result = { ok: false, steps: [], instanceStatuses: [] };
const started = Date.now();
const step = (s) => {
  result.steps.push({ step: s, ms: Date.now() - started });
  console.error(`infra.mjs: ${Date.now() - started} ms: ${s}`);
};

let browser;
let page;
try {
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
  page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  page.on("console", (m) => console.error(`page console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  page.on("dialog", (d) => d.accept());
  step("browser started");

  await page.goto(`${base}/infra`);
  await page.waitForSelector('body[data-state="signed-out"]');
  await page.fill("#login-user", login);
  await page.fill("#login-password", password);
  await page.click("#login-btn");
  await page.waitForSelector('body[data-state="signed-in"][data-stream="bound"]');
  result.route = await page.evaluate(() => document.body.dataset.route);
  result.adminTabs = await page.$$eval("#admin nav a", (as) => as.map((a) => a.id));
  step("logged in at the servers page, event stream bound");

  await page.fill("#server-host", host);
  await page.fill("#server-port", port);
  await page.fill("#server-project", project);
  await page.fill("#server-secret", trust);
  await page.click("#server-form button[type=submit]");
  await page.waitForSelector('#server-list li[data-state="online"]');
  step("server added and online");
  if (process.env.DESKHUB_SCREENSHOTS) await page.screenshot({ path: join(process.env.DESKHUB_SCREENSHOTS, "servers.png") });

  await page.click("#admin-tab-instances");
  await page.waitForSelector("#launch-image option", { state: "attached" });
  await page.fill("#launch-name", name);
  await page.click("#launch-btn");
  const row = (status) => `#instances tbody tr[data-name="${name}"]${status ? `[data-status="${status}"]` : ""}`;
  await page.waitForSelector(row("running"));
  if (process.env.DESKHUB_SCREENSHOTS) await page.screenshot({ path: join(process.env.DESKHUB_SCREENSHOTS, "instances.png") });
  result.instanceStatuses.push("running");
  step("instance launched and running");

  for (const [button, status] of [["freeze", "frozen"], ["unfreeze", "running"], ["stop-force", "stopped"]]) {
    await page.click(`${row()} button[data-action="${button}"]`);
    await page.waitForSelector(row(status));
    result.instanceStatuses.push(status);
    step(`${button} → ${status}`);
  }
  await page.click(`${row()} button[data-action="delete"]`);
  await page.waitForSelector(row(), { state: "detached" });
  result.instanceStatuses.push("deleted");
  step("deleted");

  await page.click("#admin-tab-events");
  await page.waitForSelector('#events li[data-type="instance"][data-status="deleted"]');
  if (process.env.DESKHUB_SCREENSHOTS) await page.screenshot({ path: join(process.env.DESKHUB_SCREENSHOTS, "events.png") });
  result.events = await page.$$eval("#events li", (lis) => lis.map((li) => `${li.dataset.type} ${li.dataset.status}`));
  const failures = await page.$$eval('#events li[data-status="failure"]', (lis) => lis.map((li) => li.textContent));
  if (failures.length) throw new Error(`failed operations on the page: ${failures.join("; ")}`);
  if (artifacts) await page.screenshot({ path: join(artifacts, "infra.png"), fullPage: true });
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
  if (page && artifacts) await page.screenshot({ path: join(artifacts, "infra-failure.png"), fullPage: true }).catch(() => {});
  if (page) console.error(`page status: ${await page.textContent("#status").catch(() => "?")}`);
} finally {
  result.ms = Date.now() - started;
  if (browser) await browser.close().catch(() => {});
  console.log(JSON.stringify(result));
}
