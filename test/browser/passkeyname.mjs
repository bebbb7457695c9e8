// passkeyname.mjs drives the account page's passkeys in headless Chromium with a virtual WebAuthn
// authenticator: add a passkey with a name, rename it with the keyboard (Enter saves), try a name the
// server refuses, remove the name; axe-core on the page and the rename form, light at 1280 px and dark
// at 390 px. It prints one JSON object with what happened on stdout; diagnostics go to stderr.
//
//   node test/browser/passkeyname.mjs <base url> <login> <password> [<screenshot dir>]
//
// Needs /usr/bin/chromium and playwright-core in test/browser/node_modules (scripts/browser-deps.sh).
import { axe, launch, login as logIn, recorder, shot, sleep, watch } from "./lib.mjs";

const [base, login, password, shots] = process.argv.slice(2);
if (!base || !login || !password) {
  console.error("usage: node passkeyname.mjs <base url> <login> <password> [<screenshot dir>]");
  process.exit(2);
}
const { result, step, finish } = recorder("passkeyname.mjs");
result.checks = [];
let browser;
try {
  browser = await launch();
  const { context } = browser;
  const page = context.pages()[0] || (await context.newPage());
  const foreign = watch(page, base);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  const waitStatus = async (text, what, error = false) => {
    await page.waitForFunction(
      (t) => { const e = document.getElementById("status"); return e.className === "error" || e.textContent.includes(t); }, text);
    const [cls, txt] = await page.$eval("#status", (e) => [e.className, e.textContent]);
    if (!error && cls === "error") throw new Error(`${what}: ${txt}`);
    return txt;
  };
  const check = async (name) => {
    await sleep(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    result.checks.push({ name, overflow, violations: await axe(page) });
  };
  const names = () => page.$$eval("#passkey-list li[data-id]", (ls) => ls.map((l) => l.dataset.name ?? "(editing)"));

  await logIn(page, base, login, password);
  await page.click("#nav-account");
  await page.waitForSelector("#passkey-list");
  await page.fill("#passkey-name", "Work laptop");
  await page.click("#add-passkey");
  await waitStatus("Passkey added", "adding a named passkey");
  await page.waitForSelector('#passkey-list li[data-name="Work laptop"]');
  result.afterAdd = await names();
  await check("account with a named passkey");
  await shot(page, shots, "account-passkey-named");
  step("named passkey added");

  // Rename with the keyboard: focus Rename, Enter opens the form, type, Enter saves.
  await page.focus('#passkey-list button[data-action="rename"]');
  await page.keyboard.press("Enter");
  await page.waitForSelector("#passkey-new-name");
  result.renameFieldFocusable = await page.$eval("#passkey-new-name", (e) => e.value);
  await check("rename form");
  await page.fill("#passkey-new-name", "");
  await page.focus("#passkey-new-name");
  await page.keyboard.type("Home key");
  await shot(page, shots, "account-passkey-rename");
  await page.keyboard.press("Enter");
  result.renameStatus = await waitStatus("now called Home key", "renaming");
  await page.waitForSelector('#passkey-list li[data-name="Home key"]');
  result.afterRename = await names();
  step("renamed");

  // A name with a control character (a pasted tab): the server refuses it, the name stays.
  await page.click('#passkey-list button[data-action="rename"]');
  await page.fill("#passkey-new-name", "tab\there");
  await page.click("#passkey-rename-save");
  result.refused = await waitStatus("credential_name", "a refused name", true);
  await page.click("#passkey-rename button[type=button]");
  await page.waitForSelector('#passkey-list li[data-name="Home key"]');
  result.afterCancel = await page.$eval("#status", (e) => e.textContent);

  // No name.
  await page.click('#passkey-list button[data-action="rename"]');
  await page.fill("#passkey-new-name", "");
  // The refused name's error may still be shown: wait for this answer's status, not that one.
  const stale = await page.$eval("#status", (e) => e.textContent);
  await page.click("#passkey-rename-save");
  await page.waitForFunction((t) => document.getElementById("status").textContent !== t, stale);
  result.unnamedStatus = await waitStatus("name was removed", "removing the name");
  await page.waitForSelector('#passkey-list li[data-name=""]');
  result.unnamedLabel = await page.$eval("#passkey-list .passkey-name", (e) => e.textContent);
  step("name removed");

  await page.setViewportSize({ width: 390, height: 844 });
  await page.selectOption("#theme", "dark");
  await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
  await page.click('#passkey-list button[data-action="rename"]');
  await page.fill("#passkey-new-name", "Phone");
  await page.press("#passkey-new-name", "Enter");
  await page.waitForSelector('#passkey-list li[data-name="Phone"]');
  await page.$eval("#passkeys", (e) => e.scrollIntoView());
  await check("account 390 dark");
  await shot(page, shots, "account-passkeys-390-dark");
  result.final = await names();
  await page.selectOption("#theme", "auto");
  step("390 px, dark");
  result.foreign = foreign;
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`passkeyname.mjs: ${result.error}`);
} finally {
  if (browser) await browser.close();
}
finish();
