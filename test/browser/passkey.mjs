// passkey.mjs drives the web app's login and account pages in headless Chromium with a virtual WebAuthn
// authenticator (resident keys, user verification): log in with a password, open the account page —
// add a passkey, create an API token (shown once) and revoke it, add and remove an SSH key, change the
// password —, log out, and log in with the passkey without typing a login name (a discoverable
// credential). It prints one JSON object with what happened on stdout; diagnostics go to stderr.
//
//   node test/browser/passkey.mjs <base url> <login> <password> <new password> [<screenshot dir>]
//
// Needs /usr/bin/chromium and playwright-core in test/browser/node_modules (scripts/browser-deps.sh).
import { launch, login as logIn, recorder, settle, shot, watch } from "./lib.mjs";

const [base, login, password, newPassword, shots] = process.argv.slice(2);
if (!base || !login || !password || !newPassword) {
  console.error("usage: node passkey.mjs <base url> <login> <password> <new password> [<screenshot dir>]");
  process.exit(2);
}
const { result, step, finish } = recorder("passkey.mjs");
let browser;
try {
  browser = await launch();
  const { context } = browser;
  const page = context.pages()[0] || (await context.newPage());
  watch(page, base);
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  });
  step("virtual authenticator added");
  const cookie = async () => ((await context.cookies(base)).find((c) => c.name === "deskhub_session") || {}).value || "";
  const waitStatus = async (text, what) => {
    await page.waitForFunction(
      (t) => { const e = document.getElementById("status"); return e.className === "error" || e.textContent.includes(t); }, text);
    const err = await page.$eval("#status", (e) => (e.className === "error" ? e.textContent : ""));
    if (err) throw new Error(`${what}: ${err}`);
  };

  await logIn(page, base, login, password);
  result.passwordToken = await cookie();
  step("logged in with the password");

  await page.click("#nav-account");
  await page.waitForSelector("#profile-login");
  result.profileLogin = await page.$eval("#profile-login", (e) => e.textContent);

  // Passkey.
  await page.click("#add-passkey");
  await waitStatus("Passkey added", "adding a passkey");
  result.listedPasskeys = Number(await page.$eval("#passkey-list", (e) => e.dataset.count));
  const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  result.authenticatorCredentials = credentials.length;
  result.residentKey = credentials.some((c) => c.isResidentCredential);
  step("passkey added", { listed: result.listedPasskeys });

  // API token: created with a lifetime, shown once, then revoked.
  await page.selectOption("#token-life", "3600");
  await page.click("#token-form button[type=submit]");
  await page.waitForSelector("#token-value");
  result.apiToken = await page.$eval("#token-value", (e) => e.value);
  const tokensBefore = await page.$$eval('#token-list li[data-status="active"]', (l) => l.length);
  await page.click("#token-once button:last-child"); // Done: the token is not shown again
  result.tokenShownAfterDone = await page.$("#token-value").then((e) => !!e);
  step("API token created", { activeTokens: tokensBefore });
  await shot(page, shots, "account");
  // Revoke the newest active API token (the login's own token is of another type).
  const apiRow = await page.$$eval('#token-list li[data-status="active"]', (lis) => lis.findIndex((li) => li.textContent.includes("system.api")));
  await page.locator('#token-list li[data-status="active"]').nth(apiRow).locator("button").click();
  await waitStatus("revoked", "revoking the token");
  result.apiTokensAfterRevoke = await page.$$eval('#token-list li[data-status="active"]', (lis) => lis.filter((li) => li.textContent.includes("system.api")).length);
  step("API token revoked");

  // SSH key.
  await page.fill("#ssh-name", "laptop");
  await page.fill("#ssh-public", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZmZm test@deskhub");
  await page.click("#ssh-form button[type=submit]");
  await waitStatus("SSH key was added", "adding an SSH key");
  result.sshKeys = Number(await page.$eval("#ssh-list", (e) => e.dataset.count));
  await page.click("#ssh-list li button");
  await waitStatus("SSH key was removed", "removing the SSH key");
  result.sshKeysAfter = Number(await page.$eval("#ssh-list", (e) => e.dataset.count));
  step("SSH key added and removed");

  // Password change.
  await page.fill("#pw-new", newPassword);
  await page.fill("#pw-repeat", newPassword);
  await page.click("#password-form button[type=submit]");
  await waitStatus("password was changed", "changing the password");
  step("password changed");

  await page.click("#logout");
  await settle(page, "signed-out", "logging out");
  result.cookieAfterLogout = await cookie();
  step("logged out");

  // Passkey login: no login name typed.
  result.loginFieldBeforePasskey = await page.$eval("#login-user", (e) => e.value);
  await page.click("#passkey-login");
  await settle(page, "signed-in", "passkey login");
  result.passkeyToken = await cookie();
  result.whoami = await page.$eval("#whoami", (e) => e.textContent);
  const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
  result.signCount = after.credentials.length ? after.credentials[0].signCount : null;
  step("logged in with the passkey, no login name typed");
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`passkey.mjs: ${result.error}`);
} finally {
  if (browser) await browser.close();
}
finish();
