// uivmm.mjs drives ui-vmm's own web panel (the ui-vmm/demo build, made runnable by panel/build.mjs and
// served at /demo/ of deskhub's origin) in headless Chromium against a real deskhub and a real LXD
// daemon, through every flow the panel has: log in with a password and with a passkey (Chromium's
// virtual authenticator), show the user, add a server by trust password and by trust token, see the
// server's details (pools, profiles, certificates, images), create an instance and stop, start,
// restart and force-stop it (the actions its instance page offers), following the operations on the
// panel's event stream, manage API tokens,
// SSH keys and security keys, change the e-mail address and the password, register and recover an
// account with the mailed code, and log out.
//
//   node test/browser/uivmm.mjs <config JSON file>
//
// The config names: base (the origin serving /demo/ and /api/v1/), outbox (deskhub's mail outbox
// directory), artifacts (where screenshots go), login/password of an existing account, sshKey (an
// authorized_keys line), lxd {host, port, password (trust password), token (trust token), tokenHost
// (the name the token's server is added under), imageServer (deskhub's), image (text of the image's
// entry)}, instance (a name for the instance to create).
//
// Each flow runs on its own; a failed flow is recorded (with a screenshot) and the next one still
// runs. Prints one JSON object on stdout: {flows: [{name, ok, error, ms}], calls: [...], events: [...]}.
// Diagnostics go to stderr. Needs /usr/bin/chromium and playwright-core (scripts/browser-deps.sh).
import fs from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const result = { flows: [], calls: [], events: [], followed: [], pageErrors: [] };
const started = Date.now();
const log = (s) => console.error(`uivmm.mjs: ${Date.now() - started} ms: ${s}`);

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  timeout: 30_000,
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
// Instrumentation, not a change to the panel: record what the panel's EventSource receives.
await context.addInitScript(() => {
  const Native = window.EventSource;
  window.__events = [];
  window.EventSource = function (url, opts) {
    const es = new Native(url, opts);
    es.addEventListener("message", (e) => window.__events.push(e.data));
    return es;
  };
  window.EventSource.prototype = Native.prototype;
  Object.assign(window.EventSource, { CONNECTING: 0, OPEN: 1, CLOSED: 2 });
});
const page = await context.newPage();
page.setDefaultTimeout(10_000);
page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") console.error(`page console: ${m.type()}: ${m.text().slice(0, 400)}`); });
page.on("pageerror", (e) => { result.pageErrors.push(e.message); console.error(`page error: ${e.message}`); });
page.on("response", async (r) => {
  const u = new URL(r.url());
  if (!u.pathname.startsWith("/api/v1/")) return;
  const endpoint = u.pathname.slice("/api/v1/".length);
  const call = { endpoint, status: r.status() };
  result.calls.push(call);
  if (endpoint !== "event.subscribe" && r.status() >= 300) {
    call.body = (await r.text().catch(() => "")).slice(0, 500);
    console.error(`api ${r.status()} ${endpoint}: ${call.body}`);
  }
});

// The virtual authenticator of Chromium's DevTools protocol stands in for a security key.
const cdp = await context.newCDPSession(page);
await cdp.send("WebAuthn.enable");
const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
  options: { protocol: "ctap2", transport: "usb", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
});

const shot = async (name) => {
  if (cfg.artifacts) await page.screenshot({ path: join(cfg.artifacts, `${String(result.flows.length).padStart(2, "0")}-${name}.png`) }).catch(() => {});
};
const flow = async (name, fn) => {
  const t0 = Date.now();
  log(`flow ${name}`);
  try {
    await fn();
    await shot(name);
    result.flows.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (e) {
    await shot(`${name}-FAILED`);
    const seen = await page.$$eval("button,input,textarea", (els) => els.filter((e) => e.offsetParent).map((e) => `${e.tagName}#${e.id}:${(e.innerText || e.value || "").slice(0, 30)}`).join(" | ")).catch(() => "");
    log(`flow ${name}: at ${page.url()}: ${seen}`);
    result.flows.push({ name, ok: false, error: String(e.message || e).split("\n")[0], ms: Date.now() - t0 });
    log(`flow ${name} FAILED: ${e.message}`);
  }
};
// call runs action and returns the panel's call of endpoint that it causes: {status, json}; a non-2xx
// answer throws with the answer's text.
const call = async (endpoint, action, { allowError = false } = {}) => {
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === `/api/v1/${endpoint}` && r.request().method() === "POST"),
    action(),
  ]);
  const text = await resp.text();
  if (!allowError && (resp.status() < 200 || resp.status() > 299)) throw new Error(`${endpoint}: ${resp.status()} ${text.slice(0, 300)}`);
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: resp.status(), json, request: JSON.parse(resp.request().postData() || "{}") };
};
const go = async (path) => {
  await page.goto(`${cfg.base}/demo${path}`);
  await page.waitForLoadState("networkidle").catch(() => {});
};
const visible = (text) => page.waitForFunction((t) => document.body.innerText.includes(t), text);
const pageText = () => page.evaluate(() => document.body.innerText);
// The newest mailed code (the panel's codes are UUIDs) sent to address after the mark.
const mailMark = () => new Set(fs.existsSync(cfg.outbox) ? fs.readdirSync(cfg.outbox) : []);
const mailedCode = async (address, before) => {
  for (let i = 0; i < 100; i++) {
    const files = fs.existsSync(cfg.outbox) ? fs.readdirSync(cfg.outbox).filter((f) => !before.has(f)) : [];
    for (const f of files) {
      const text = fs.readFileSync(join(cfg.outbox, f), "utf8");
      const m = text.match(/Your code: ([0-9a-f-]{36})/);
      if (m && text.toLowerCase().includes(address.toLowerCase())) return m[1];
    }
    await page.waitForTimeout(100);
  }
  throw new Error(`no code mailed to ${address}`);
};
const passwordLogin = async (login, password) => {
  await go("/auth/login");
  await page.fill("#form_item_user_login", login);
  await page.fill("#form_item_user_password", password);
  const r = await call("user.login", () => page.click('button:has-text("Login")'));
  await page.waitForURL((u) => !u.pathname.startsWith("/demo/auth"));
  await visible(`${login}, Hello!`);
  return r;
};
const logout = async () => {
  await call("user.logout", () => page.click('button:has-text("Logout")'));
  await page.waitForURL((u) => u.pathname.startsWith("/demo/auth/login"));
  await page.waitForLoadState("networkidle").catch(() => {});
};
const addServer = async (host, port, secret) => {
  await go("/server/add");
  await page.fill("#form_item_server_host", host);
  await page.locator(".ant-input-number input").first().fill(String(port));
  await page.fill("#form_item_server_password", secret);
  await call("server.verify", () => page.click('button:has-text("Verify")'));
  const r = await call("server.add", () => page.click('form button:has-text("Add")'));
  await page.waitForURL(/\/demo\/server\/\d+$/);
  await page.waitForFunction((h) => document.body.innerText.toLowerCase().includes(h), host.toLowerCase()); // the title is capitalised
  await visible("Cores");
  return r;
};

let serverId = 0;
const state = {};
try {
  await flow("password login, the user shown", async () => {
    await passwordLogin(cfg.login, cfg.password);
  });

  await flow("event stream bound (event.auth answered on the stream)", async () => {
    await page.waitForFunction(() => window.__events.some((d) => { try { return JSON.parse(d).type === "event.auth"; } catch { return false; } }), null, { timeout: 15_000 });
  });

  await flow("add a server by trust password", async () => {
    const r = await addServer(cfg.lxd.host, cfg.lxd.port, cfg.lxd.password);
    serverId = Number(new URL(page.url()).pathname.split("/").pop());
    if (!serverId) throw new Error(`no server id in ${page.url()} (answer ${JSON.stringify(r.json).slice(0, 200)})`);
  });

  await flow("server list and the server's details (pools)", async () => {
    await go("/");
    await visible(cfg.lxd.host);
    await go(`/server/${serverId}`);
    await visible("Cores");
    await visible("Pool name");
    const text = await pageText();
    if (!/Threads/.test(text)) throw new Error("no CPU threads tile");
  });

  for (const tab of ["Profiles", "Certificates", "Images"]) {
    await flow(`server tab ${tab}`, async () => {
      await go(`/server/${serverId}`);
      await page.click(`.ant-tabs-tab:has-text("${tab}")`);
      await page.waitForTimeout(500);
      const text = await pageText();
      if (tab === "Profiles" && !/default/.test(text)) throw new Error("no default profile shown");
      if (tab === "Certificates" && !/[0-9a-f]{64}/.test(text)) throw new Error("no certificate fingerprint shown");
      if (tab === "Images" && !/List is empty/.test(text) && !(await page.locator(".ant-tabs-tabpane-active .ant-table-row").count())) throw new Error("images tab shows neither images nor an empty list");
    });
  }

  // instance/add.vue: name, deskhub's image server, the image, the default profile; the panel learns
  // the outcome from the event stream (task_instance.add_<request_id>) and lists the instance.
  await flow("create an instance from deskhub's image server (followed on the event stream)", async () => {
    await go(`/server/${serverId}/add`);
    await page.fill("#form_item_instance_name", cfg.instance);
    await page.click("#form_item_image_server_host", { force: true });
    await call("image.list", () => page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option", { hasText: cfg.lxd.imageServer }).first().click());
    await page.click("#form_item_instance_image", { force: true });
    await page.locator(".ant-select-dropdown:not(.ant-select-dropdown-hidden) .ant-select-item-option", { hasText: cfg.lxd.image }).first().click();
    await page.click('.ant-tabs-tab:has-text("Profiles & limits")');
    await page.click('.ant-checkbox-wrapper:has-text("default")');
    const r = await call("instance.add", () => page.locator('form button:has-text("Add")').click());
    const requestID = r.request.request_id;
    if (!requestID) throw new Error("the panel sent no request_id");
    await page.waitForFunction((id) => window.__events.some((d) => { try { const e = JSON.parse(d); return e.type === "instance.add" && e.request_id === id; } catch { return false; } }), requestID, { timeout: 180_000 });
    const ev = JSON.parse((await page.evaluate(() => window.__events)).map((d) => JSON.parse(d)).find((e) => e.type === "instance.add" && e.request_id === requestID).body);
    if (ev.errors) throw new Error(`instance.add failed on the event stream: ${JSON.stringify(ev.errors).slice(0, 300)}`);
    result.followed.push("instance.add");
    await page.waitForFunction((n) => document.body.innerText.includes(n), cfg.instance, { timeout: 30_000 });
  });

  // server/get.vue: each pool's row is expanded into its volumes (server.get's included volumes, by
  // pool_name), among them the new instance's.
  await flow("pool volumes (the instance's among them)", async () => {
    await go(`/server/${serverId}`);
    await visible("Pool name");
    await page.waitForFunction((n) => [...document.querySelectorAll("tr.ant-table-expanded-row")].some((tr) => tr.innerText.includes(n)), cfg.instance);
  });

  // instance/get.vue: the power menu (stop, start, restart, and their forced forms); the status shown
  // changes when the operation's outcome arrives on the event stream.
  const instanceAction = async (label, key, want) => {
    await go(`/server/${serverId}/${cfg.instance}`);
    await visible("Status");
    await page.locator(".anticon-poweroff").first().click();
    const item = page.locator(".ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu-item", { hasText: new RegExp(`^${label}$`, "i") }).first();
    const r = await call("instance.action", () => item.click());
    if (r.request.instance_status !== key) throw new Error(`the panel sent instance_status ${r.request.instance_status}, want ${key}`);
    const requestID = r.request.request_id;
    await page.waitForFunction((id) => window.__events.some((d) => { try { const e = JSON.parse(d); return e.type === "instance.action" && e.request_id === id; } catch { return false; } }), requestID, { timeout: 120_000 });
    result.followed.push(`instance.action ${key}`);
    await page.waitForFunction((w) => [...document.querySelectorAll("tr")].some((tr) => /Status/.test(tr.innerText) && tr.innerText.includes(w)), want, { timeout: 30_000 });
  };
  await flow("stop the instance", () => instanceAction("Stop", "stop", "stopped"));
  await flow("start the instance", () => instanceAction("Start", "start", "running"));
  await flow("restart the instance", () => instanceAction("Restart", "restart", "running"));
  await flow("force-stop the instance", async () => {
    await go(`/server/${serverId}/${cfg.instance}`);
    await page.locator(".anticon-poweroff").first().click();
    const r = await call("instance.action", () => page.locator(".ant-dropdown:not(.ant-dropdown-hidden) .ant-dropdown-menu-item", { hasText: /^Force$/i }).first().click());
    if (r.request.instance_status !== "stop-force") throw new Error(`the panel sent ${r.request.instance_status}`);
    await page.waitForFunction((id) => window.__events.some((d) => { try { const e = JSON.parse(d); return e.type === "instance.action" && e.request_id === id; } catch { return false; } }), r.request.request_id, { timeout: 120_000 });
    await page.waitForFunction(() => [...document.querySelectorAll("tr")].some((tr) => /Status/.test(tr.innerText) && tr.innerText.includes("stopped")), null, { timeout: 30_000 });
  });

  await flow("API tokens: create, list, revoke", async () => {
    await go("/settings/api-tokens");
    await visible("Token type");
    await page.click('.ant-tabs-tab:has-text("Create new")');
    const r = await call("token.create", () => page.click('button:has-text("Create")'));
    state.apiToken = r.json?.data?.attributes?.token;
    if (!state.apiToken) throw new Error(`token.create answered no token: ${JSON.stringify(r.json).slice(0, 200)}`);
    await page.waitForFunction((t) => [...document.querySelectorAll("textarea")].some((e) => e.value.includes(t)), state.apiToken);
    await go("/settings/api-tokens");
    await visible("Token type");
    const before = await page.locator('button:has-text("Revoke")').count();
    if (before < 2) throw new Error(`${before} revocable tokens listed`);
    await call("token.revoke", async () => {
      await page.locator('button:has-text("Revoke")').first().click();
      const ok = page.locator('.ant-popover button:has-text("OK"), .ant-popover button:has-text("Yes"), .ant-modal button:has-text("OK")').first();
      if (await ok.isVisible().catch(() => false)) await ok.click();
    });
  });

  await flow("SSH keys: add, list, delete", async () => {
    await go("/settings/ssh-keys");
    await page.click('.ant-tabs-tab:has-text("Add")');
    // The panel names the key after its comment when the key is typed in: the name goes second.
    await page.fill("#form_item_key_public", cfg.sshKey);
    await page.fill("#form_item_key_name", "panel key");
    await call("ssh-key.add", () => page.click('form button:has-text("Add")'));
    await go("/settings/ssh-keys");
    await visible("panel key");
    await call("ssh-key.delete", async () => {
      await page.locator("tr:has-text('panel key') button").first().click();
      const ok = page.locator('.ant-popover button:has-text("OK"), .ant-popover button:has-text("Yes"), .ant-modal button:has-text("OK")').first();
      if (await ok.isVisible().catch(() => false)) await ok.click();
    });
  });

  await flow("security keys: add a passkey", async () => {
    await go("/settings/security-keys");
    const n = () => result.calls.filter((c) => c.endpoint === "user.credentialMake" && c.status === 200).length;
    const before = n();
    await call("user.credentialMake", () => page.click('button:has-text("Create")'));
    await page.waitForFunction(() => true); // let the browser answer the virtual authenticator
    for (let i = 0; i < 100 && n() < before + 2; i++) await page.waitForTimeout(100);
    if (n() < before + 2) throw new Error("the passkey's registration was not sent");
    await go("/settings/security-keys");
    await page.waitForSelector(".ant-table-row");
  });

  await flow("change e-mail with the mailed code", async () => {
    await go("/settings/change-email");
    const mark = mailMark();
    state.email = `changed-${Date.now()}@example.org`;
    await page.fill("#form_item_user_email", state.email);
    await call("user.emailChange", () => page.click('button:has-text("Verify")'));
    const code = await mailedCode(state.email, mark);
    // The code form sends itself once the code has its 36 characters.
    await call("user.emailChange", () => page.fill("#form_item_user_code", code));
    await go("/settings/change-email");
    await page.waitForFunction((e) => document.getElementById("form_item_user_email")?.value === e, state.email);
  });

  await flow("change password", async () => {
    await go("/settings/change-password");
    state.password = cfg.password + " changed";
    await page.fill("#form_item_user_password", state.password);
    await page.fill("#form_item_user_passwordRepeat", state.password);
    await call("user.passwordChange", () => page.click('button:has-text("Change")'));
  });

  await flow("log out", logout);

  await flow("log in with the new password", async () => {
    await passwordLogin(cfg.login, state.password || cfg.password);
  });

  await flow("passkey login", async () => {
    await logout();
    await page.fill("#form_item_user_login", cfg.login);
    const r = await call("user.assertionVerify", () => page.locator("button:right-of(:text('Login'))").first().click());
    await page.waitForURL((u) => !u.pathname.startsWith("/demo/auth"));
    await visible(`${cfg.login}, Hello!`);
    if (!r.json) throw new Error("no answer");
  });

  await flow("security keys: delete the passkey", async () => {
    await go("/settings/security-keys");
    await page.waitForSelector(".ant-table-row");
    await call("user.credentialDelete", async () => {
      await page.locator(".ant-table-row button").first().click();
      const ok = page.locator('.ant-popover button:has-text("OK"), .ant-popover button:has-text("Yes"), .ant-modal button:has-text("OK")').first();
      if (await ok.isVisible().catch(() => false)) await ok.click();
    });
  });

  await flow("register with the mailed code, then log in", async () => {
    await logout().catch(() => go("/auth/login"));
    await go("/auth/register");
    const mark = mailMark();
    state.newLogin = `panel${Date.now() % 100000}`;
    state.newEmail = `${state.newLogin}@example.org`;
    state.newPassword = "new account password";
    await page.fill("#form_item_user_login", state.newLogin);
    await page.fill("#form_item_user_email", state.newEmail);
    await page.fill("#form_item_user_password", state.newPassword);
    await page.fill("#form_item_user_passwordRepeat", state.newPassword);
    await call("user.register", () => page.click('button:has-text("Register")'));
    const code = await mailedCode(state.newEmail, mark);
    // The code form sends itself once the code has its 36 characters.
    await call("user.register", () => page.fill("#form_item_user_code", code));
    await page.waitForURL((u) => u.pathname.startsWith("/demo/auth/login"));
    await passwordLogin(state.newLogin, state.newPassword);
  });

  await flow("add a server by trust token", async () => {
    // The same LXD daemon under another name: deskhub refuses a server added twice.
    await addServer(cfg.lxd.tokenHost || cfg.lxd.host, cfg.lxd.port, cfg.lxd.token);
  });

  await flow("recover the account with the mailed code", async () => {
    await logout().catch(() => {});
    await go("/auth/recovery");
    const mark = mailMark();
    await page.fill("#form_item_user_email", state.newEmail);
    await call("user.recovery", () => page.click('button:has-text("Recovery")'));
    const code = await mailedCode(state.newEmail, mark);
    await page.fill("#form_item_user_code", code);
    await call("user.recovery", () => page.locator("form button").first().click());
    state.newPassword = "recovered account password";
    await page.fill("#form_item_user_password", state.newPassword);
    await page.fill("#form_item_user_passwordRepeat", state.newPassword);
    await call("user.recovery", () => page.locator("form button").first().click());
    await passwordLogin(state.newLogin, state.newPassword);
  });

  await flow("register with a passkey, confirm with the mailed code, log in with the passkey", async () => {
    await logout().catch(() => {});
    await go("/auth/register");
    const mark = mailMark();
    const login = `pk${Date.now() % 100000}`;
    const email = `${login}@example.org`;
    await page.fill("#form_item_user_login", login);
    await page.fill("#form_item_user_email", email);
    await call("user.credentialMake", () => page.locator("button:right-of(:text('Register'))").first().click());
    // The panel asks for the mailed code once the passkey is registered.
    await page.waitForSelector("#form_item_user_code");
    const code = await mailedCode(email, mark);
    await call("user.register", () => page.fill("#form_item_user_code", code));
    await page.waitForURL((u) => u.pathname.startsWith("/demo/auth/login"));
    await page.fill("#form_item_user_login", login);
    await call("user.assertionVerify", () => page.locator("button:right-of(:text('Login'))").first().click());
    await visible(`${login}, Hello!`);
  });
} finally {
  result.events = await page.evaluate(() => window.__events).catch(() => []);
  await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId }).catch(() => {});
  await browser.close();
  result.ms = Date.now() - started;
  process.stdout.write(JSON.stringify(result) + "\n");
}
