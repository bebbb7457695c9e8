// infra.mjs drives deskhub's infrastructure page (/infra) in headless Chromium against a real LXD
// daemon: log in, wait for the live event stream, add the server with its trust password through the
// form, launch an instance from the busybox image, then freeze, unfreeze, force-stop and delete it with
// the row's buttons, each time waiting until the page shows the new status (which it learns from the
// event stream).
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
  step("logged in, event stream bound");

  await page.fill("#add-host", host);
  await page.fill("#add-port", port);
  await page.fill("#add-project", project);
  await page.fill("#add-password", trust);
  await page.click("#add-btn");
  await page.waitForSelector('#servers tbody tr[data-state="online"]');
  step("server added and online");

  await page.waitForSelector("#launch-image option", { state: "attached" });
  await page.fill("#launch-name", name);
  await page.click("#launch-btn");
  await page.waitForSelector('#events li[data-type="operation"][data-status="success"]');
  const row = (status) => `#instances tbody tr[data-name="${name}"]${status ? `[data-status="${status}"]` : ""}`;
  await page.waitForSelector(row("running"));
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
  await page.waitForSelector('#events li[data-type="instance"][data-status="deleted"]');
  result.instanceStatuses.push("deleted");
  step("deleted");

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
