// deskhub infrastructure page: log in to the infrastructure API (/api/v1, JSON:API), list the LXD/Incus
// servers and their instances, add a server, launch and drive instances, and follow the event stream
// (config.get → event.subscribe as an EventSource → event.auth) to show operation outcomes and LXD
// lifecycle events as they happen.
//
// State for tests and styles: <body data-state> (loading, signed-out, signed-in) and data-stream
// (closed, open, bound); rows carry data-id / data-name / data-state / data-status; each event in
// #events carries data-type, data-status and data-request.

import { API } from "./api.js";
import { $, act as actOn, say } from "./ui.js";

const TOKEN = "deskhub.infraToken";

function setState(state) {
  document.body.dataset.state = state;
  $("signed-out").hidden = state !== "signed-out";
  $("signed-in").hidden = state !== "signed-in";
  $("account").hidden = state !== "signed-in";
}

// api.infra(call, body, token) POSTs to /api/v1/<call> and returns the JSON:API document (api.js);
// token overrides the stored one ("": none).
const api = new API(TOKEN);

// act wraps a UI action (ui.js); a 401 means the login expired.
const act = (fn) => actOn(fn, () => signedOut("Your login has expired; log in again."));

const requestID = (what) => `ui-${what}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

// ---- servers ----

let servers = [];

async function loadServers() {
  const doc = await api.infra("server.list", { provider: "lxd", server_id: 0 });
  servers = doc.data || [];
  const body = $("servers").querySelector("tbody");
  body.replaceChildren();
  for (const s of servers) {
    const a = s.attributes;
    const tr = document.createElement("tr");
    tr.dataset.id = s.id;
    tr.dataset.state = a.server_state;
    cell(tr, s.id);
    cell(tr, a.server_name);
    cell(tr, a.server_path ? `unix:${a.server_path}` : `${a.server_host}:${a.server_port}`);
    cell(tr, a.server_project);
    cell(tr, a.server_version);
    cell(tr, a.server_owner);
    cell(tr, a.server_state, `state-${a.server_state}`);
    body.appendChild(tr);
  }
  $("servers").dataset.count = String(servers.length);
  $("no-servers").hidden = servers.length > 0;
  const sel = $("launch-server");
  const keep = sel.value;
  sel.replaceChildren(...servers.map((s) => new Option(`${s.id}: ${s.attributes.server_name || s.attributes.server_host}`, s.id)));
  if (keep && servers.some((s) => String(s.id) === keep)) sel.value = keep;
  await loadImages();
}

async function loadImages() {
  const sel = $("launch-image");
  const id = Number($("launch-server").value);
  if (!id) {
    sel.replaceChildren();
    return;
  }
  const doc = await api.infra("image.list", { provider: "lxd", server_id: id });
  const opts = [];
  for (const im of doc.data || []) {
    const a = im.attributes;
    const label = `${a.image_aliases.join(", ") || a.image_fingerprint.slice(0, 12)} (${a.image_os || a.image_type} ${a.image_release || ""})`;
    const o = new Option(label, a.image_aliases[0] || a.image_fingerprint);
    o.dataset.kind = a.image_aliases[0] ? "alias" : "fingerprint";
    opts.push(o);
  }
  sel.replaceChildren(...opts);
}

// ---- instances ----

async function loadInstances() {
  const doc = await api.infra("instance.list", { provider: "lxd" });
  const list = doc.data || [];
  const body = $("instances").querySelector("tbody");
  body.replaceChildren();
  for (const inst of list) {
    const a = inst.attributes;
    const tr = document.createElement("tr");
    tr.dataset.id = inst.id;
    tr.dataset.name = a.instance_name;
    tr.dataset.status = a.instance_status;
    cell(tr, a.instance_name);
    cell(tr, a.server_id);
    cell(tr, a.instance_type);
    cell(tr, a.instance_status, `status-${a.instance_status}`);
    cell(tr, a.instance_owner);
    const td = cell(tr, "");
    td.appendChild($("instance-actions").content.cloneNode(true));
    for (const b of td.querySelectorAll("button[data-action]")) {
      b.addEventListener("click", act(() => instanceAction(a, b.dataset.action)));
    }
    body.appendChild(tr);
  }
  $("instances").dataset.count = String(list.length);
  $("no-instances").hidden = list.length > 0;
  const unreachable = doc.meta && doc.meta.unreachable_servers;
  if (unreachable && unreachable.length) say(`Servers ${unreachable.join(", ")} do not answer; their instances are not shown.`, true);
}

async function instanceAction(a, action) {
  if (action === "delete" && !window.confirm(`Delete instance ${a.instance_name}?`)) return;
  const rid = requestID(action);
  await api.infra("instance.action", { instance_id: a.instance_id, instance_status: action, request_id: rid, provider: "lxd" });
  say(`${action} ${a.instance_name}: requested (${rid})`);
}

async function refresh() {
  await loadServers();
  await loadInstances();
}

let refreshTimer = 0;
function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => refresh().catch((e) => say(e.message, true)), 150);
}

// ---- the event stream ----

let source = null;
let retry = 0;

function streamState(state, text) {
  document.body.dataset.stream = state;
  $("stream-state").textContent = text;
}

function logEvent(type, ev) {
  const li = document.createElement("li");
  li.dataset.type = type;
  li.dataset.status = ev.status || "";
  li.dataset.request = ev.request_id || "";
  if (ev.status === "failure") li.className = "failure";
  const d = ev.data || {};
  const what = d.instance_name || d.name || (d.server_id != null ? `server ${d.server_id}` : "");
  const t = ev.time ? new Date(ev.time).toLocaleTimeString() : "";
  li.textContent = `${t} ${type} ${ev.status || ""} ${what}${ev.request_id ? ` [${ev.request_id}]` : ""}${ev.error ? `: ${ev.error}` : ""}`;
  const ol = $("events");
  ol.prepend(li);
  while (ol.children.length > 100) ol.lastChild.remove();
}

async function openStream() {
  closeStream();
  const cfg = await api.infra("config.get", {}, "");
  const id = cfg.data.attributes.stream;
  const es = new EventSource(`/api/v1/event.subscribe?stream=${encodeURIComponent(id)}`);
  source = es;
  let bound = false;
  streamState("open", "stream opening…");
  const bind = async () => {
    if (bound || source !== es) return;
    bound = true;
    try {
      await api.infra("event.auth", { stream: id });
    } catch (e) {
      bound = false;
      say(`event stream: ${e.message}`, true);
    }
  };
  es.addEventListener("open", bind);
  es.addEventListener("bound", () => {
    retry = 0;
    streamState("bound", "live");
    scheduleRefresh(); // anything that happened while the stream was away
  });
  for (const type of ["operation", "instance", "server", "lifecycle"]) {
    es.addEventListener(type, (m) => {
      let ev = {};
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      logEvent(type, ev);
      if (type === "operation" && ev.status === "failure") say(`${ev.data?.action || ev.data?.kind || "operation"} ${ev.data?.instance_name || ""} failed: ${ev.error}`, true);
      if (type !== "operation" || ev.status !== "running") scheduleRefresh();
    });
  }
  const reopen = () => {
    if (source !== es) return;
    es.close();
    source = null;
    streamState("closed", "stream closed; reconnecting…");
    retry = Math.min(retry + 1, 5);
    setTimeout(() => {
      if (api.token && !source) openStream().catch((e) => say(`event stream: ${e.message}`, true));
    }, 1000 * retry);
  };
  es.addEventListener("close", reopen);
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED || !bound) reopen();
  };
}

function closeStream() {
  if (source) source.close();
  source = null;
  streamState("closed", "stream closed");
}

// ---- log in / out ----

function signedOut(msg) {
  api.token = null;
  closeStream();
  setState("signed-out");
  if (msg) say(msg, true);
}

async function signedIn() {
  const me = await api.infra("user.get", {});
  $("whoami").textContent = me.data.attributes.user_login;
  setState("signed-in");
  await refresh();
  await openStream();
}

async function start() {
  $("login-form").addEventListener("submit", act(async () => {
    const doc = await api.infra("user.login", { user_login: $("login-user").value, user_password: $("login-password").value }, "");
    api.token = doc.data.attributes.token;
    $("login-password").value = "";
    say("");
    await signedIn();
  }));
  $("logout").addEventListener("click", act(async () => {
    try {
      await api.infra("user.logout", {});
    } finally {
      signedOut("");
    }
  }));
  $("refresh").addEventListener("click", act(refresh));
  $("launch-server").addEventListener("change", act(loadImages));
  $("add-server").addEventListener("submit", act(async () => {
    const doc = await api.infra("server.add", {
      server_host: $("add-host").value.trim(),
      server_port: Number($("add-port").value),
      server_protocol: $("add-protocol").value,
      server_project: $("add-project").value.trim(),
      server_password: $("add-password").value,
    });
    $("add-password").value = "";
    say(`Server ${doc.data.id} added (certificate ${doc.data.attributes.server_certificate_fingerprint.slice(0, 12)}…)`);
    await refresh();
  }));
  $("launch").addEventListener("submit", act(async () => {
    const img = $("launch-image").selectedOptions[0];
    if (!img) throw new Error("the server has no image to launch");
    const rid = requestID("launch");
    const body = { server_id: Number($("launch-server").value), instance_name: $("launch-name").value.trim(), request_id: rid, provider: "lxd" };
    body[img.dataset.kind === "alias" ? "image_alias" : "image_fingerprint"] = img.value;
    await api.infra("instance.add", body);
    say(`Launching ${body.instance_name} (${rid})…`);
  }));
  if (!api.token) {
    setState("signed-out");
    return;
  }
  try {
    await signedIn();
  } catch (e) {
    signedOut(e.status === 401 ? "Your login has expired; log in again." : e.message);
  }
}

start();
