// deskhub viewer: log in to the session API (/v3/api), list, start and end desktops, and show one with
// noVNC through deskhub's display relay (/ws/display/<id>?secret=…, subprotocol "binary").
//
// The page state is in <body data-state>: loading, signed-out, signed-in (the desktop list),
// connecting, connected. #status holds the last message; class "error" marks a failure, with the API's
// own {error:{message}} text.
import RFB from "./novnc/core/rfb.js";
import { API } from "./api.js";
import { $, act as actOn, say } from "./ui.js";

const store = window.sessionStorage;
const TOKEN = "deskhub.sessionToken";
const LOGIN = "deskhub.sessionLogin";

// ---- messages and state ----

function setState(state) {
  document.body.dataset.state = state;
  $("signed-out").hidden = state !== "signed-out";
  $("signed-in").hidden = state !== "signed-in";
  $("viewer").hidden = state !== "connecting" && state !== "connected";
  $("account").hidden = state === "signed-out" || state === "loading";
}

// act wraps a UI action (ui.js); a 401 means the login expired.
const act = (fn) => actOn(fn, () => {
  if (api.token) signedOut("Your login has expired; log in again.");
});

// ---- the session API ----

// api.session(call, body, token) POSTs to /v3/api/<call> and returns its result (api.js); token
// overrides the stored one ("": none).
const api = new API(TOKEN);

// ---- logging in and out ----

async function login(username, password) {
  let stage = await api.session("user/login", { username, password }, "");
  // The local provider answers "success" at once; the ssh one may ask for the password again.
  for (let i = 0; i < 4 && stage && stage.stage !== "success"; i++) {
    if (stage.stage === "password") {
      stage = await api.session("user/login/password", { password }, stage.token);
    } else if (stage.stage === "keyboard-interactive") {
      const n = (stage.prompts && stage.prompts.length) || 1;
      stage = await api.session("user/login/keyboard-interactive", { answer: Array(n).fill(password) }, stage.token);
    } else {
      throw new Error(`This page cannot answer the "${stage.stage}" login stage.`);
    }
  }
  if (!stage || stage.stage !== "success" || !stage.token) throw new Error("The login did not succeed.");
  return stage.token;
}

function signedOut(msg, isError = true) {
  disconnect();
  api.token = null;
  store.removeItem(LOGIN);
  setState("signed-out");
  if (msg) say(msg, isError);
  $("login-user").focus();
}

async function signedIn() {
  $("whoami").textContent = store.getItem(LOGIN) || "";
  setState("signed-in");
  await refresh();
}

// ---- the desktop list ----

let listGen = 0;

async function refresh() {
  const gen = ++listGen;
  const sessions = (await api.session("session/list", {})) || [];
  if (gen !== listGen) return;
  const ul = $("sessions");
  ul.replaceChildren();
  ul.dataset.count = String(sessions.length);
  ul.dataset.gen = String(gen);
  $("no-sessions").hidden = sessions.length > 0;
  for (const s of sessions) {
    const li = $("session-row").content.firstElementChild.cloneNode(true);
    li.dataset.id = s.id;
    li.querySelector(".name").textContent = s.name || s.command || s.id;
    const bits = [s.geometry, s.state, s.clients ? `${s.clients} connected` : "", s.started ? "started " + new Date(s.started).toLocaleString() : ""];
    li.querySelector(".meta").textContent = bits.filter(Boolean).join(" · ");
    li.querySelector(".connect").addEventListener("click", act(() => connect(s.id, s.name || s.command)));
    li.querySelector(".terminate").addEventListener("click", act(() => terminate(s.id)));
    ul.append(li);
    if (s.state === "running") thumbnail(s.id, li.querySelector(".thumb"));
  }
}

// thumbnail fills img with a small screenshot; a failure just leaves it blank.
async function thumbnail(id, img) {
  try {
    const shot = await api.session("session/screenshot", { id, width: 320, height: 200, format: "jpeg" });
    if (shot && shot.src) img.src = shot.src;
  } catch {
    /* the list stays usable without thumbnails */
  }
}

// fitGeometry is the size of the desktop area for a session started at "fit to window".
function fitGeometry() {
  const clamp = (n) => Math.max(64, Math.min(16384, Math.floor(n)));
  const bar = 48; // the viewer's toolbar
  const w = clamp(window.innerWidth) & ~1;
  const h = clamp(window.innerHeight - $("topbar").offsetHeight - bar) & ~1;
  return `${w}x${h}`;
}

async function start() {
  const command = $("start-command").value.trim();
  if (!command) throw new Error("Type the command to run, e.g. xterm.");
  const choice = $("start-geometry").value;
  const fit = choice === "fit";
  const geometry = fit ? fitGeometry() : choice;
  say(`Starting ${command} (${geometry})…`);
  const c = await api.session("session/start", { command, geometry });
  $("view-mode").value = fit ? "remote" : "scale";
  show(c, command);
}

async function terminate(id) {
  if (current && current.id === id) disconnect();
  await api.session("session/terminate", { id });
  say("The desktop was terminated.");
  if (api.token) {
    setState("signed-in");
    await refresh();
  }
}

// ---- the desktop view ----

let rfb = null;
let current = null; // the connect object shown

async function connect(id, title) {
  say("Connecting…");
  const c = await api.session("session/connect", { id });
  show(c, title);
}

function wsURL(path) {
  const u = new URL(path, window.location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

// show opens the connect object's display in noVNC.
function show(c, title) {
  disconnect();
  if (!c || !c.url) throw new Error("deskhub answered without a display URL.");
  current = c;
  document.body.dataset.session = c.id;
  $("session-title").textContent = `${title || c.id} · ${c.geometry || ""}`;
  setState("connecting");
  const screen = $("screen");
  screen.replaceChildren();
  const r = new RFB(screen, wsURL(c.url), { wsProtocols: ["binary"], credentials: { password: c.password || "" } });
  rfb = r;
  window.deskhubRFB = r; // for debugging and the browser tests
  applyViewMode();
  r.focusOnClick = true;
  r.background = "#404040";
  r.addEventListener("connect", () => {
    if (rfb !== r) return;
    setState("connected");
    say(`Connected to ${title || c.id}.`);
    r.focus();
  });
  r.addEventListener("disconnect", (e) => {
    if (rfb !== r) return;
    rfb = null;
    const clean = e.detail && e.detail.clean;
    current = null;
    delete document.body.dataset.session;
    const msg = clean ? "Disconnected." : "The connection to the desktop was lost (it may have ended, or the connect password expired).";
    if (!api.token) {
      // A guest (share link) has no desktop list to go back to: show the login form with the message.
      setState("signed-out");
      say(msg, !clean);
      return;
    }
    setState("signed-in");
    say(msg, !clean);
    refresh().catch((err) => say(err.message, true));
  });
  r.addEventListener("credentialsrequired", () => r.sendCredentials({ password: c.password || "" }));
  r.addEventListener("securityfailure", (e) => {
    say(`The desktop refused the connection: ${(e.detail && e.detail.reason) || "security failure"}`, true);
  });
  r.addEventListener("clipboard", (e) => {
    const ta = $("clipboard");
    ta.value = e.detail.text;
    ta.dataset.received = String(Number(ta.dataset.received) + 1);
  });
  r.addEventListener("desktopname", (e) => {
    $("session-title").textContent = `${title || e.detail.name} · ${c.geometry || ""}`;
  });
}

// disconnect closes the view; the desktop keeps running.
function disconnect() {
  const r = rfb;
  rfb = null;
  current = null;
  delete document.body.dataset.session;
  window.deskhubRFB = null;
  if (r) {
    try {
      r.disconnect();
    } catch {
      /* already closed */
    }
  }
  $("screen").replaceChildren();
}

function applyViewMode() {
  if (!rfb) return;
  const mode = $("view-mode").value;
  rfb.scaleViewport = mode === "scale";
  rfb.resizeSession = mode === "remote";
  rfb.clipViewport = mode === "none";
  rfb.dragViewport = false;
}

function sendClipboard() {
  if (!rfb) throw new Error("No desktop is connected.");
  const ta = $("clipboard");
  rfb.clipboardPasteFrom(ta.value);
  ta.dataset.sent = String(Number(ta.dataset.sent) + 1);
}

// ---- wiring ----

function init() {
  $("login-form").addEventListener("submit", act(async () => {
    const user = $("login-user").value.trim();
    const password = $("login-password").value;
    if (!user || !password) throw new Error("Type your login and password.");
    say("Logging in…");
    const token = await login(user, password);
    api.token = token;
    store.setItem(LOGIN, user);
    $("login-password").value = "";
    say("");
    await signedIn();
  }));
  $("logout").addEventListener("click", act(async () => {
    try {
      await api.session("user/logout", {});
    } finally {
      signedOut("You are logged out.", false);
    }
  }));
  $("start-form").addEventListener("submit", act(start));
  $("refresh").addEventListener("click", act(refresh));
  $("disconnect").addEventListener("click", act(async () => {
    disconnect();
    setState("signed-in");
    say("Disconnected; the desktop keeps running.");
    await refresh();
  }));
  $("terminate").addEventListener("click", act(async () => {
    if (current) await terminate(current.id);
  }));
  $("ctrl-alt-del").addEventListener("click", () => rfb && rfb.sendCtrlAltDel());
  $("view-mode").addEventListener("change", applyViewMode);
  $("clip-toggle").addEventListener("click", () => {
    const p = $("clip-panel");
    p.hidden = !p.hidden;
    $("clip-toggle").setAttribute("aria-expanded", String(!p.hidden));
  });
  $("clipboard").addEventListener("input", act(async () => {
    if (rfb) sendClipboard();
  }));
  $("clip-send").addEventListener("click", act(async () => {
    sendClipboard();
    say("Clipboard sent to the desktop.");
  }));
  window.addEventListener("beforeunload", disconnect);
  // Keep the login alive while the page is open (the token otherwise expires after the login TTL).
  setInterval(() => {
    if (!api.token) return;
    api.session("user/keepalive", {}).catch((e) => {
      if (e.status === 401) signedOut("Your login has expired; log in again.");
    });
  }, 4 * 60 * 1000);

  // A share link (#session=…&key=…, as share/email mails it) opens the shared desktop without a login.
  const share = new URLSearchParams(window.location.hash.slice(1));
  if (share.get("session") && share.get("key")) {
    act(async () => {
      say("Connecting to the shared desktop…");
      const c = await api.session("share/connect", { id: share.get("session"), key: share.get("key") });
      show(c, "shared desktop");
    })();
    return;
  }
  if (api.token) {
    act(signedIn)();
  } else {
    signedOut("", false);
  }
}

init();
