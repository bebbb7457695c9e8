// flows.mjs drives the web app's mailed-code flows and the logout in headless Chromium against a real
// deskhub whose mails go to its outbox (<data>/outbox/*.eml, read here for the codes): register with the
// mailed code, change the email with the mailed code, lock password changes with the mailed code (and
// what the page shows after: the password form disabled; the server refuses a change), log out in one
// tab while a second tab and a second browser holding the same cookie are signed in (both end up
// signed out), recover the password with the mailed code and log in with the new one. It prints one
// JSON object on stdout; diagnostics go to stderr.
//
//   node test/browser/flows.mjs <config.json>
//
// config: {base, outbox, shots, login, email, newEmail, password, newPassword}
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, recorder, settle, shot, sleep, statusError, watch } from "./lib.mjs";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const { base, shots } = cfg;
const { result, step, finish } = recorder("flows.mjs");

// mailedCode waits for a new mail to address (one not in before) and answers its code.
const outbox = () => (existsSync(cfg.outbox) ? readdirSync(cfg.outbox) : []);
async function mailedCode(address, before) {
  for (let i = 0; i < 100; i++) {
    for (const f of outbox().filter((f) => !before.has(f))) {
      const text = readFileSync(join(cfg.outbox, f), "utf8");
      const m = text.match(/Your code: (\S+)/);
      if (m && new RegExp(`^To: .*${address.replace(/[.+]/g, "\\$&")}`, "mi").test(text)) return m[1];
    }
    await sleep(100);
  }
  throw new Error(`no code mailed to ${address}`);
}

let browser, second;
try {
  browser = await launch();
  const { context } = browser;
  const page = context.pages()[0] || (await context.newPage());
  watch(page, base);
  const status = async (text, what) => {
    await page.waitForFunction((t) => { const e = document.getElementById("status"); return e && (e.className === "error" || e.textContent.includes(t)); }, text);
    const err = await statusError(page);
    if (err) throw new Error(`${what}: ${err}`);
  };
  const cookie = async (ctx) => ((await ctx.cookies(base)).find((c) => c.name === "deskhub_session") || {}).value || "";

  // 1. Register with the mailed code: the page signs the new account in.
  await page.goto(new URL("/", base).href);
  await settle(page, "signed-out", "loading the login page");
  await page.click("#tab-register");
  await page.fill("#reg-login", cfg.login);
  await page.fill("#reg-email", cfg.email);
  await page.fill("#reg-password", cfg.password);
  let mark = new Set(outbox());
  await page.click("#reg-btn");
  await status("A code was mailed", "asking for the registration code");
  const regCode = await mailedCode(cfg.email, mark);
  await page.fill("#reg-code", regCode);
  await shot(page, shots, "app-register-code");
  await page.click("#reg-btn");
  await settle(page, "signed-in", "registering with the mailed code");
  result.registered = await page.$eval("#whoami", (e) => e.textContent);
  step("registered with the mailed code", { who: result.registered });

  // 2. Email change with the mailed code (mailed to the new address).
  await page.click("#nav-account");
  await page.waitForSelector("#profile-email");
  await page.fill("#email-new", cfg.newEmail);
  mark = new Set(outbox());
  await page.click("#email-form button[type=submit]");
  await status("A code was mailed", "asking for the email change code");
  await page.fill("#email-code", await mailedCode(cfg.newEmail, mark));
  await page.click("#email-form button[type=submit]");
  await status("email address was changed", "changing the email");
  result.emailShown = await page.$eval("#profile-email", (e) => e.textContent);
  await shot(page, shots, "app-email-changed");
  step("email changed with the mailed code", { shown: result.emailShown });

  // 3. Password lock with the mailed code; then the password form is disabled and the server refuses.
  mark = new Set(outbox());
  await page.click("#lock-btn");
  await status("A code was mailed", "asking for the lock code");
  await page.fill("#lock-code", await mailedCode(cfg.newEmail, mark));
  await page.click("#lock-btn");
  await status("Password changes are locked", "locking password changes");
  result.lock = {
    state: await page.$eval("#lock-state", (e) => e.textContent),
    button: await page.$eval("#lock-btn", (e) => e.textContent),
    formDisabled: await page.$eval("#pw-new", (e) => e.disabled),
  };
  await shot(page, shots, "app-password-locked");
  result.lock.changeRefused = await page.evaluate(async (pw) => {
    const r = await fetch("/api/v1/user.passwordChange", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-Deskhub-Request": "1" },
      body: JSON.stringify({ user_password: pw, user_passwordRepeat: pw }),
    });
    const doc = await r.json().catch(() => ({}));
    return { status: r.status, detail: (doc.errors && doc.errors[0] && doc.errors[0].detail) || "" };
  }, cfg.newPassword);
  step("password changes locked", result.lock);

  // 4. Logout everywhere: a second tab, and a second browser given the same cookie, are signed in;
  // logging out in the first ends both.
  result.token = await cookie(context);
  const tab2 = await context.newPage();
  watch(tab2, base, "tab2");
  await tab2.goto(new URL("/#/account", base).href);
  await settle(tab2, "signed-in", "second tab");
  second = await launch();
  await second.context.addCookies([{ name: "deskhub_session", value: result.token, url: base }]);
  const other = second.context.pages()[0] || (await second.context.newPage());
  watch(other, base, "other");
  await other.goto(new URL("/", base).href);
  await settle(other, "signed-in", "second browser with the cookie");
  result.otherBefore = await other.$eval("#whoami", (e) => e.textContent);
  await page.click("#logout");
  await settle(page, "signed-out", "logging out");
  await tab2.waitForFunction(() => document.body.dataset.state === "signed-out");
  await shot(tab2, shots, "app-logout-other-tab");
  await other.reload();
  await other.waitForFunction(() => document.body.dataset.state === "signed-out" || document.body.dataset.state === "signed-in");
  result.otherAfter = await other.evaluate(() => document.body.dataset.state);
  result.otherCall = await other.evaluate(async () => (await fetch("/api/v1/user.get", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json", "X-Deskhub-Request": "1" }, body: "{}",
  })).status);
  result.cookieAfter = await cookie(context);
  step("logged out everywhere", { otherAfter: result.otherAfter, otherCall: result.otherCall });

  // 5. Recover the password with the mailed code (to the changed address), then log in with it.
  await page.click("#tab-recover");
  await page.fill("#rec-email", cfg.newEmail);
  mark = new Set(outbox());
  await page.click("#rec-btn");
  await status("a code was mailed", "asking for the recovery code");
  await page.fill("#rec-code", await mailedCode(cfg.newEmail, mark));
  await page.fill("#rec-password", cfg.newPassword);
  await shot(page, shots, "app-recover-code");
  await page.click("#rec-btn");
  await status("Your password was changed", "recovering the password");
  await page.fill("#login-user", cfg.login);
  await page.fill("#login-password", cfg.newPassword);
  await page.click("#login-btn");
  await settle(page, "signed-in", "logging in with the recovered password");
  result.recovered = await page.$eval("#whoami", (e) => e.textContent);
  step("recovered with the mailed code, logged in", { who: result.recovered });
  result.ok = true;
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  if (second) await second.close();
  if (browser) await browser.close();
  finish();
}
