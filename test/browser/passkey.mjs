// passkey.mjs drives deskhub's /passkey page in headless Chromium with a virtual WebAuthn authenticator:
// log in with a password, add a passkey, log out, log in with the passkey. It prints one JSON object
// with what happened on stdout; diagnostics go to stderr.
//
//   node test/browser/passkey.mjs <base url> <login> <password>
//
// Needs /usr/bin/chromium and playwright-core in test/browser/node_modules (scripts/browser-deps.sh).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [base, login, password] = process.argv.slice(2);
if (!base || !login || !password) {
  console.error("usage: node passkey.mjs <base url> <login> <password>");
  process.exit(2);
}

const result = { ok: false, steps: [] };
const step = (name, extra = {}) => {
  result.steps.push(Object.assign({ step: name, ms: Date.now() - started }, extra));
  console.error(`passkey.mjs: ${name}`);
};
const started = Date.now();
const dataDir = mkdtempSync(join(tmpdir(), "deskhub-chromium-"));
let context;
try {
  context = await chromium.launchPersistentContext(dataDir, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    timeout: 30_000,
  });
  step("browser started");
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(15_000);
  page.on("console", (m) => console.error(`page console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));

  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  step("virtual authenticator added");

  // Waits for the page to settle in state, failing early with the page's own message on an error.
  const settle = async (state, what) => {
    await page.waitForFunction(
      (s) => document.body.dataset.state === s || document.getElementById("status").className === "error", state);
    const err = await page.$eval("#status", (e) => (e.className === "error" ? e.textContent : ""));
    if (err) throw new Error(`${what}: ${err}`);
  };
  const waitStatus = async (text, what) => {
    await page.waitForFunction(
      (t) => { const e = document.getElementById("status"); return e.className === "error" || e.textContent.includes(t); }, text);
    const err = await page.$eval("#status", (e) => (e.className === "error" ? e.textContent : ""));
    if (err) throw new Error(`${what}: ${err}`);
  };

  await page.goto(new URL("/passkey", base).href);
  await settle("signed-out", "loading the page");
  step("page loaded");

  await page.fill("#login-user", login);
  await page.fill("#login-password", password);
  await page.click("#login-btn");
  await settle("signed-in", "password login");
  result.passwordToken = await page.evaluate(() => sessionStorage.getItem("deskhub.token"));
  step("logged in with the password");

  await page.click("#add-passkey");
  await waitStatus("Passkey added.", "adding a passkey");
  result.listedPasskeys = Number(await page.$eval("#passkeys", (e) => e.dataset.count));
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  result.authenticatorCredentials = credentials.length;
  result.residentKey = credentials.some((c) => c.isResidentCredential);
  step("passkey added", { listed: result.listedPasskeys });

  await page.click("#logout");
  await settle("signed-out", "logging out");
  step("logged out");

  await page.fill("#pk-login", login);
  await page.click("#pk-login-btn");
  await settle("signed-in", "passkey login");
  result.passkeyToken = await page.evaluate(() => sessionStorage.getItem("deskhub.token"));
  result.whoami = await page.$eval("#whoami", (e) => e.textContent);
  const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  result.signCount = after.credentials.length ? after.credentials[0].signCount : null;
  step("logged in with the passkey");
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`passkey.mjs: ${result.error}`);
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(dataDir, { recursive: true, force: true });
}
result.ms = Date.now() - started;
process.stdout.write(JSON.stringify(result) + "\n");
process.exit(result.ok ? 0 : 1);
