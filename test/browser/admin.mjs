// admin.mjs drives the administrators' account pages of the web app in headless Chromium: as an
// administrator, the Users page — create an account, lock and unlock it, reset its password (dialog),
// delete another account (a dialog that wants the login typed; Escape cancels it) — and the Audit log —
// the entries of those actions, pages (Newer/Older), the filter by login —, with axe-core on each page
// and dialog, in the light theme at 1280 px and the dark one at 390 px (no sideways overflow, neither of
// the page nor of the accounts and audit tables in their boxes); then, as
// the account it created (with the password it set), that the pages are not offered and the API
// refuses them. It prints one JSON object with what happened on stdout; diagnostics go to stderr.
//
//   node test/browser/admin.mjs <base url> <admin login> <password> <victim login> [<screenshot dir>]
//
// Needs /usr/bin/chromium and playwright-core in test/browser/node_modules (scripts/browser-deps.sh).
import { axe, launch, login, recorder, settle, shot, sleep, watch } from "./lib.mjs";

const [base, admin, password, victim, shots] = process.argv.slice(2);
if (!base || !admin || !password || !victim) {
  console.error("usage: node admin.mjs <base url> <admin login> <password> <victim login> [<screenshot dir>]");
  process.exit(2);
}
const NEW = "carol", NEW_PW = "carol's first password", RESET_PW = "carol's reset password";
const { result, step, finish } = recorder("admin.mjs");
result.checks = [];
let browser;
try {
  browser = await launch();
  const { context } = browser;
  const page = context.pages()[0] || (await context.newPage());
  const foreign = watch(page, base);
  const waitStatus = async (text, what) => {
    await page.waitForFunction(
      (t) => { const e = document.getElementById("status"); return e.className === "error" || e.textContent.includes(t); }, text);
    const err = await page.$eval("#status", (e) => (e.className === "error" ? e.textContent : ""));
    if (err) throw new Error(`${what}: ${err}`);
    return page.$eval("#status", (e) => e.textContent);
  };
  // check runs axe-core and measures sideways overflow where the page is now.
  const check = async (name) => {
    await sleep(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    // The accounts and audit tables fit their box at 390 px too (one block per row there).
    const boxOverflow = await page.evaluate(() => Math.max(0, ...[...document.querySelectorAll("#users, #audit")]
      .map((t) => t.closest(".table-wrap")).filter(Boolean).map((e) => e.scrollWidth - e.clientWidth)));
    result.checks.push({ name, overflow, boxOverflow, violations: await axe(page) });
  };
  const row = (login) => `#users tr[data-login="${login}"]`;

  await login(page, base, admin, password);
  await page.click("#nav-admin");
  await page.waitForSelector("#admin nav");
  result.adminTabs = await page.$$eval("#admin nav a", (as) => as.map((a) => a.id));
  await page.click("#admin-tab-users");
  await page.waitForSelector(`${row(victim)}`);
  result.listed = await page.$$eval("#users tbody tr", (rs) => rs.map((r) => r.dataset.login));
  result.selfActions = await page.$$eval(`${row(admin)} button`, (bs) => bs.map((b) => `${b.dataset.action}:${b.disabled ? "off" : "on"}`));
  await check("users");
  step("users listed", { listed: result.listed });

  // Create an account, with the keyboard only: Tab through the form, Enter submits.
  await page.focus("#new-login");
  await page.keyboard.type(NEW);
  await page.keyboard.press("Tab");
  await page.keyboard.type(`${NEW}@example.org`);
  await page.keyboard.press("Tab");
  await page.keyboard.type(NEW_PW);
  await page.keyboard.press("Enter");
  result.created = await waitStatus(`${NEW} was created`, "creating an account");
  await page.waitForSelector(row(NEW));
  await shot(page, shots, "admin-users-created");
  step("account created");

  // Lock, then unlock.
  await page.click(`${row(NEW)} button[data-action=lock]`);
  result.lockStatus = await waitStatus("is locked", "locking");
  await page.waitForSelector(`${row(NEW)}[data-locked="true"]`);
  await shot(page, shots, "admin-users-locked");
  result.lockedBadge = await page.$eval(`${row(NEW)} .badge`, (e) => e.textContent);
  await page.click(`${row(NEW)} button[data-action=unlock]`);
  result.unlockStatus = await waitStatus("is unlocked", "unlocking");
  await page.waitForSelector(`${row(NEW)}[data-locked="false"]`);
  step("locked and unlocked");

  // Reset the password: a dialog; two different passwords are refused in the page.
  await page.click(`${row(NEW)} button[data-action=reset]`);
  await page.waitForSelector("#reset-dialog[open]");
  await check("reset dialog");
  await page.fill("#reset-password", RESET_PW);
  await page.fill("#reset-again", RESET_PW + "x");
  await page.click("#reset-btn");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  result.mismatch = await page.$eval("#status", (e) => e.textContent);
  await page.fill("#reset-again", RESET_PW);
  await shot(page, shots, "admin-user-reset-dialog");
  await page.click("#reset-btn");
  result.resetStatus = await waitStatus(`password of ${NEW} was set`, "resetting the password");
  result.resetDialogOpen = (await page.$("#reset-dialog")) !== null;
  step("password reset");

  // Delete: Escape cancels; the button waits for the login to be typed.
  await page.click(`${row(victim)} button[data-action=delete]`);
  await page.waitForSelector("#delete-dialog[open]");
  await page.keyboard.press("Escape");
  await page.waitForSelector("#delete-dialog", { state: "detached" });
  result.afterEscape = (await page.$(row(victim))) !== null;
  await page.click(`${row(victim)} button[data-action=delete]`);
  await page.waitForSelector("#delete-dialog[open]");
  result.deleteEnabledBefore = await page.$eval("#delete-btn", (b) => !b.disabled);
  await page.focus("#delete-confirm");
  await page.keyboard.type(victim);
  result.deleteEnabledAfter = await page.$eval("#delete-btn", (b) => !b.disabled);
  await check("delete dialog");
  await shot(page, shots, "admin-user-delete-dialog");
  await page.click("#delete-btn");
  result.deleteStatus = await waitStatus(`${victim} was deleted`, "deleting");
  await page.waitForSelector(row(victim), { state: "detached" });
  result.listedAfter = await page.$$eval("#users tbody tr", (rs) => rs.map((r) => r.dataset.login));
  step("account deleted");

  // The audit log: newest first, in pages, filtered by login.
  await page.click("#admin-tab-audit");
  await page.waitForSelector("#audit tbody tr");
  const rows = () => page.$$eval("#audit tbody tr", (rs) => rs.map((r) => `${r.dataset.action} ${r.dataset.target}`));
  result.auditPage1 = await rows();
  result.olderEnabled = await page.$eval("#audit-older", (b) => !b.disabled);
  await check("audit");
  await shot(page, shots, "admin-audit-page1");
  await page.click("#audit-older");
  await page.waitForSelector('#audit[data-page="2"]');
  await page.waitForFunction((first) => {
    const r = document.querySelector("#audit tbody tr");
    return r && `${r.dataset.action} ${r.dataset.target}` !== first;
  }, result.auditPage1[0]);
  result.auditPage2 = await rows();
  await page.click("#audit-newer");
  await page.waitForSelector('#audit[data-page="1"]');
  await page.waitForFunction((first) => {
    const r = document.querySelector("#audit tbody tr");
    return r && `${r.dataset.action} ${r.dataset.target}` === first;
  }, result.auditPage1[0]);
  step("audit pages", { page1: result.auditPage1.length, page2: result.auditPage2.length });
  await page.fill("#audit-login", NEW);
  await page.press("#audit-login", "Enter");
  await page.waitForSelector("#audit-clear");
  await page.waitForFunction(() => {
    const rs = [...document.querySelectorAll("#audit tbody tr")];
    return rs.length > 0 && rs.every((r) => r.dataset.action.startsWith("admin.user"));
  });
  result.auditFiltered = await rows();
  await shot(page, shots, "admin-audit-filtered");
  step("audit filtered", { entries: result.auditFiltered.length });

  // The dark theme on a phone.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.selectOption("#theme", "dark");
  await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
  result.darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await check("audit 390 dark");
  await shot(page, shots, "admin-audit-390-dark");
  await page.click("#admin-tab-users");
  await page.waitForSelector(row(NEW));
  await check("users 390 dark");
  await shot(page, shots, "admin-users-390-dark");
  await page.click(`${row(NEW)} button[data-action=delete]`);
  await page.waitForSelector("#delete-dialog[open]");
  await check("delete dialog 390 dark");
  await page.keyboard.press("Escape");
  await page.selectOption("#theme", "auto");
  step("390 px, dark");

  // The account just created, logged in with the password the administrator set: no admin pages,
  // and the API refuses them.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.click("#logout");
  await settle(page, "signed-out", "logging out");
  await login(page, base, NEW, RESET_PW);
  await page.goto(new URL("/#/admin/users", base).href);
  await page.waitForSelector("#admin nav");
  result.userTabs = await page.$$eval("#admin nav a", (as) => as.map((a) => a.id));
  result.userSeesUsers = (await page.$("#admin-users")) !== null;
  const r = await page.request.post(new URL("/api/v1/admin.userList", base).href, {
    data: {}, headers: { "X-Deskhub-Request": "1", Origin: new URL(base).origin },
  });
  result.userListStatus = r.status();
  result.userListMessage = ((await r.json().catch(() => ({}))).errors || [{}])[0].detail || "";
  step("a user sees no administrators' page; the API refuses it");
  result.foreign = foreign;
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`admin.mjs: ${result.error}`);
} finally {
  if (browser) await browser.close();
}
finish();
