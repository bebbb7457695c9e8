// sshlogin.mjs drives the web app's login against deskhub's ssh provider (a real sshd, started by the Go
// test) in headless Chromium, through every stage: password, keyboard-interactive, the public key
// (a private key file picked or pasted; encrypted with a passphrase or not; signed in the page) and
// the forced password change PAM asks after the key. It records every request body the page sends, so
// the Go test can check that the private key never left the browser, and signs test data with
// /app/sshkey.js for more key types (the Go test verifies the signatures). It prints one JSON object on
// stdout; diagnostics go to stderr.
//
//   node test/browser/sshlogin.mjs <config.json>
//
// config: {base, shots, users: {pw, kbd, pk, pkpw, multi}, passwords: {user: password}, fresh (dhtest-multi's
// new password), pkKeyFile (ed25519, unencrypted), multiKey (RSA, encrypted: text), multiPass,
// signKeys: [{name, text, pass, algorithm}], data (base64 of the bytes to sign)}
import { readFileSync } from "node:fs";
import { launch, recorder, settle, shot, statusError, watch } from "./lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { base, shots } = cfg;
const { result, step, finish } = recorder("sshlogin.mjs");
result.logins = {};
result.bodies = [];
result.calls = [];
let browser;
try {
  browser = await launch();
  const { context } = browser;
  const page = context.pages()[0] || (await context.newPage());
  watch(page, base);
  page.on("request", (r) => {
    const body = r.postData();
    if (body) result.bodies.push(body);
    const u = new URL(r.url());
    if (u.pathname.startsWith("/v3/api/user/login")) result.calls.push(u.pathname.slice("/v3/api/user/".length));
  });
  const whoami = () => page.$eval("#whoami", (e) => e.textContent);
  const logout = async () => {
    await page.click("#logout");
    await settle(page, "signed-out", "logging out");
  };
  const start = async (user, password) => {
    result.calls.length = 0;
    await page.goto(new URL("/", base).href);
    await settle(page, "signed-out", "loading the login page");
    await page.fill("#login-user", user);
    if (password) await page.fill("#login-password", password);
  };
  const useKey = async (how, value) => {
    await page.click("#login-key summary");
    if (how === "file") await page.setInputFiles("#login-key-file", { name: "id_ed25519", mimeType: "application/octet-stream", buffer: Buffer.from(value) });
    else await page.fill("#login-key-text", value);
    await page.waitForFunction(() => document.getElementById("login-key-info") || (document.getElementById("status") || {}).className === "error");
    const err = await statusError(page);
    if (err) throw new Error(`reading the key: ${err}`);
    return page.$eval("#login-key-info", (e) => e.textContent);
  };

  // 1. Password only (sshd: AuthenticationMethods password): user/login answers the password stage.
  await start(cfg.users.pw, cfg.passwords[cfg.users.pw]);
  await shot(page, shots, "app-ssh-login-password");
  await page.click("#login-btn");
  await settle(page, "signed-in", "ssh password login");
  result.logins.pw = { who: await whoami(), calls: [...result.calls] };
  step("password stage", result.logins.pw);
  await logout();

  // 2. Keyboard-interactive (PAM asks "Password:"): the password typed above answers it.
  await start(cfg.users.kbd, cfg.passwords[cfg.users.kbd]);
  await page.click("#login-btn");
  await settle(page, "signed-in", "ssh keyboard-interactive login");
  result.logins.kbd = { who: await whoami(), calls: [...result.calls] };
  step("keyboard-interactive stage", result.logins.kbd);
  await logout();

  // A wrong password for keyboard-interactive: refused, the page says so and stays signed out.
  await start(cfg.users.kbd, "not the password");
  await page.click("#login-btn");
  await page.waitForFunction(() => (document.getElementById("status") || {}).className === "error");
  result.wrongPassword = { error: await statusError(page), state: await page.evaluate(() => document.body.dataset.state) };
  step("wrong password refused", result.wrongPassword);

  // 3. Public key only (ed25519, no passphrase), the key file picked; no password typed.
  await start(cfg.users.pk, "");
  result.pkInfo = await useKey("file", cfg.pkKeyFile);
  await shot(page, shots, "app-ssh-login-key");
  await page.click("#login-btn");
  await settle(page, "signed-in", "ssh public-key login");
  result.logins.pk = { who: await whoami(), calls: [...result.calls] };
  step("public-key stage", result.logins.pk);
  await logout();

  // An encrypted key with a wrong passphrase: refused in the page, before any login call.
  await start(cfg.users.pk, "");
  await useKey("paste", cfg.multiKey);
  await page.fill("#login-key-pass", "not the passphrase");
  await page.click("#login-btn");
  await page.waitForFunction(() => (document.getElementById("status") || {}).className === "error");
  result.wrongPassphrase = { error: await statusError(page), calls: [...result.calls] };
  step("wrong passphrase refused in the page", result.wrongPassphrase);

  // 4. Public key, then password (AuthenticationMethods publickey,password).
  await start(cfg.users.pkpw, cfg.passwords[cfg.users.pkpw]);
  await useKey("file", cfg.pkKeyFile);
  await page.click("#login-btn");
  await settle(page, "signed-in", "ssh public-key + password login");
  result.logins.pkpw = { who: await whoami(), calls: [...result.calls] };
  step("public-key then password", result.logins.pkpw);
  await logout();

  // 5. dhtest-multi: an encrypted RSA key pasted with its passphrase, then keyboard-interactive rounds
  // shown in the page: "Password:", and the forced change (current, new, new again).
  await start(cfg.users.multi, "");
  result.multiInfo = await useKey("paste", cfg.multiKey);
  await page.fill("#login-key-pass", cfg.multiPass);
  await page.click("#login-btn");
  const prompts = [];
  for (let round = 0; round < 8; round++) {
    await page.waitForFunction(() => document.body.dataset.state === "signed-in" || document.getElementById("login-stage") ||
      (document.getElementById("status") || {}).className === "error");
    const err = await statusError(page);
    if (err) throw new Error(`dhtest-multi, round ${round}: ${err}`);
    if (await page.evaluate(() => document.body.dataset.state === "signed-in")) break;
    const labels = await page.$$eval("#login-stage .field span", (l) => l.map((e) => e.textContent));
    prompts.push(labels);
    if (round === 0) await shot(page, shots, "app-ssh-login-stage");
    const inputs = await page.$$("#login-stage input");
    for (let i = 0; i < inputs.length; i++) {
      await inputs[i].fill(/new|retype/i.test(labels[i]) ? cfg.fresh : cfg.passwords[cfg.users.multi]);
    }
    const answered = page.waitForResponse((r) => r.url().endsWith("/v3/api/user/login/keyboard-interactive"));
    await page.click("#login-btn");
    await answered;
    await page.waitForFunction(() => document.body.dataset.state === "signed-in" || !document.querySelector("#login-btn[disabled]"));
  }
  await settle(page, "signed-in", "dhtest-multi login");
  result.logins.multi = { who: await whoami(), calls: [...result.calls], prompts };
  step("public key (encrypted RSA) then keyboard-interactive rounds", result.logins.multi);
  await logout();

  // More key types, signed in the page with the same module the login uses.
  result.signatures = await page.evaluate(async ({ keys, data }) => {
    const m = await import("/app/sshkey.js");
    const out = [];
    for (const k of keys) {
      try {
        const key = m.PrivateKey.parse(k.text);
        if (key.encrypted) await key.unlock(k.pass);
        const sig = await key.sign(m.unb64(data), k.algorithm || key.type);
        out.push({ name: k.name, type: key.type, encrypted: key.encrypted, publicKey: m.b64(key.publicKey), signature: m.b64(sig) });
      } catch (e) {
        out.push({ name: k.name, error: String(e && e.message) });
      }
    }
    return out;
  }, { keys: cfg.signKeys, data: cfg.data });
  step("signatures of more key types", { n: result.signatures.length });
  result.ok = true;
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  if (browser) await browser.close();
  finish();
}
