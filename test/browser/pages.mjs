// pages.mjs visits every page of the web app in headless Chromium — the login, the launcher, the
// account page and the management pages — as an administrator, in the light and the dark theme, on a
// desktop-sized window and on a 390-px-wide phone, and for each runs axe-core (serious and critical
// violations), measures horizontal overflow and the layout shift while data arrives, and writes a
// screenshot into <screenshot dir>. Then, as a user who is not an administrator, it checks that the
// administrators' page is not offered and that the API refuses it anyway.
//
//   node test/browser/pages.mjs <base url> <admin login> <user login> <password> [<screenshot dir>]
import { axe, launch, login, recorder, settle, shot, sleep, watch } from "./lib.mjs";

const [base, admin, user, password, shots] = process.argv.slice(2);
if (!base || !admin || !user || !password) {
  console.error("usage: node pages.mjs <base url> <admin login> <user login> <password> [<screenshot dir>]");
  process.exit(2);
}
const { result, step, finish } = recorder("pages.mjs");
const PAGES = [
  ["launcher", "#/", "#start-form"],
  ["account", "#/account", "#ssh-form"],
  ["admin-sessions", "#/admin/sessions", "#admin-sessions"],
  ["admin-servers", "#/admin/servers", "#server-form"],
  ["admin-instances", "#/admin/instances", "#launch"],
  ["admin-images", "#/admin/images", "#admin-products"],
  ["admin-events", "#/admin/events", "#admin-events"],
  ["admin-users", "#/admin/users", "#admin-users"],
  ["admin-audit", "#/admin/audit", "#admin-audit"],
];
result.pages = [];
let browser;
try {
  for (const [theme, width, height] of [["light", 1280, 800], ["dark", 1280, 800], ["light", 390, 844], ["dark", 390, 844]]) {
    browser = await launch({ viewport: { width, height }, colorScheme: theme });
    const page = browser.context.pages()[0] || (await browser.context.newPage());
    const foreign = watch(page, base);
    // Layout shifts, summed like CLS (entries without recent input).
    await page.addInitScript(() => {
      window.__cls = 0;
      new PerformanceObserver((l) => { for (const e of l.getEntries()) if (!e.hadRecentInput) window.__cls += e.value; })
        .observe({ type: "layout-shift", buffered: true });
    });
    const suffix = `${theme}-${width}`;
    const measure = async (name) => {
      await sleep(400); // data arrived (lists, thumbnails)
      const m = await page.evaluate(() => ({
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        cls: Math.round(window.__cls * 1000) / 1000,
        bg: getComputedStyle(document.body).backgroundColor,
      }));
      const violations = await axe(page);
      result.pages.push({ name, theme, width, ...m, violations });
      // Every page in the light theme on a desktop; the launcher and the account page in every variant.
      if (width === 1280 && theme === "light") await shot(page, shots, name);
      else if (name === "launcher" || name === "account") await shot(page, shots, `${name}-${suffix}`);
    };
    await page.goto(new URL("/", base).href);
    await settle(page, "signed-out", "the login page");
    await measure("login");
    await login(page, base, admin, password);
    for (const [name, hash, sel] of PAGES) {
      await page.goto(new URL(`/${hash}`, base).href);
      await settle(page, "signed-in", name);
      await page.waitForSelector(sel);
      await measure(name);
    }
    result.foreign = (result.foreign || []).concat(foreign);
    step(`pages at ${width}px, ${theme}`);
    await browser.close();
    browser = null;
  }

  // A user who is not an administrator.
  browser = await launch();
  const page = browser.context.pages()[0] || (await browser.context.newPage());
  watch(page, base);
  await login(page, base, user, password);
  result.userNav = await page.$eval("#nav-admin", (a) => a.textContent);
  await page.goto(new URL("/#/admin/sessions", base).href);
  await page.waitForSelector("#admin nav");
  result.userTabs = await page.$$eval("#admin nav a", (as) => as.map((a) => a.id));
  const r = await page.request.post(new URL("/v3/system/session/list", base).href, {
    data: {}, headers: { "X-Deskhub-Request": "1", Origin: new URL(base).origin },
  });
  result.userSystemListStatus = r.status();
  step("a user sees no administrators' page; the API refuses it");
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack ? e.stack : e);
  console.error(`pages.mjs: ${result.error}`);
} finally {
  if (browser) await browser.close();
}
finish();
