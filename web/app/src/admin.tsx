// admin.tsx: the administrators' pages — every user's sessions (terminate), servers (add an LXD
// server by trust password or token, load, remove), instances (start, stop, freeze, delete), images
// and deskhub's simplestreams products, and the live event stream. The app shows them only to
// administrators; the API refuses the admin calls to anyone else anyway.
import { useEffect, useState } from "preact/hooks";
import { infra, session, type Desktop } from "./api";
import { Card, Field, say, sayError, useAction, when } from "./ui";
import { go } from "./route";
import { Audit, Users } from "./admin-users";

// Pages of the management area: every user manages the LXD servers and instances they added (the
// API scopes them); administrators also see every user's sessions and every server's load.
const PAGES: [string, string, boolean][] = [["sessions", "Sessions", true], ["servers", "Servers", false], ["instances", "Instances", false],
  ["images", "Images", false], ["events", "Events", false], ["users", "Users", true], ["audit", "Audit log", true]];

export interface LiveEvent { type: string; status: string; text: string; failure: boolean }

// The event stream (config.get's stream → event.subscribe as an EventSource → event.auth) is opened once
// for the whole area: the Events page lists it, and the lists refresh when something happens.
function useStream(): { events: LiveEvent[]; state: string; tick: number } {
  const [events, setEvents] = useState<LiveEvent[]>([]);
  const [state, setState] = useState("opening");
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let closed = false;
    let retry = 0;
    let es: EventSource | null = null;
    let timer: any = null;
    const bump = () => { clearTimeout(timer); timer = setTimeout(() => setTick((t) => t + 1), 250); };
    const open = async () => {
      const cfg = await infra("config.get", {}, true);
      const id = cfg.data.attributes.stream;
      es = new EventSource(`/api/v1/event.subscribe?stream=${encodeURIComponent(id)}`);
      es.addEventListener("open", () => { infra("event.auth", { stream: id }).catch(sayError); });
      es.addEventListener("bound", () => { retry = 0; setState("bound"); bump(); });
      for (const type of ["operation", "instance", "server", "lifecycle"]) {
        es.addEventListener(type, (m: MessageEvent) => {
          let ev: any = {};
          try { ev = JSON.parse(m.data); } catch { return; }
          const d = ev.data || {};
          const what = d.instance_name || d.name || (d.server_id != null ? `server ${d.server_id}` : "");
          const text = `${ev.time ? new Date(ev.time).toLocaleTimeString() : ""} ${type} ${ev.status || ""} ${what}${ev.error ? `: ${ev.error}` : ""}`;
          setEvents((l) => [{ type, status: ev.status || "", text, failure: ev.status === "failure" }, ...l].slice(0, 200));
          if (type === "operation" && ev.status === "failure") say(`${d.action || d.kind || "operation"} ${d.instance_name || ""} failed: ${ev.error}`, true);
          if (type !== "operation" || ev.status !== "running") bump();
        });
      }
      es.onerror = () => {
        if (closed || !es || es.readyState !== EventSource.CLOSED) return;
        setState("reconnecting");
        retry = Math.min(retry + 1, 5);
        setTimeout(() => { if (!closed) open().catch(sayError); }, 1000 * retry);
      };
    };
    open().catch(sayError);
    return () => { closed = true; clearTimeout(timer); es?.close(); };
  }, []);
  useEffect(() => { document.body.dataset.stream = state; return () => { delete document.body.dataset.stream; }; }, [state]);
  return { events, state, tick };
}

export function Admin(props: { page: string; admin: boolean }) {
  const pages = PAGES.filter(([, , adminOnly]) => props.admin || !adminOnly);
  const page = pages.some(([p]) => p === props.page) ? props.page : pages[0][0];
  const live = useStream();
  return (
    <main id="admin" class="page">
      <nav class="tabs" aria-label={props.admin ? "Administration" : "Infrastructure"}>
        {pages.map(([p, label]) => (
          <a key={p} href={`#/admin/${p}`} id={`admin-tab-${p}`} aria-current={p === page ? "page" : undefined}>{label}</a>
        ))}
      </nav>
      {page === "sessions" && <Sessions />}
      {page === "servers" && <Servers admin={props.admin} tick={live.tick} />}
      {page === "instances" && <Instances tick={live.tick} />}
      {page === "images" && <Images />}
      {page === "events" && <Events events={live.events} state={live.state} />}
      {page === "users" && <Users />}
      {page === "audit" && <Audit />}
    </main>
  );
}

function Sessions() {
  const { busy, run } = useAction();
  const [list, setList] = useState<Desktop[] | null>(null);
  const load = async () => setList((await session<Desktop[]>("system/session/list", {})) || []);
  useEffect(() => { load().catch(sayError); }, []);
  return (
    <Card title="Sessions of all users" id="admin-sessions">
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Table">
      <table class="table" data-count={list ? list.length : 0}>
        <thead><tr><th scope="col">User</th><th scope="col">Desktop</th><th scope="col">State</th><th scope="col">Server</th><th scope="col">Started</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
        <tbody>
          {(list || []).map((d) => (
            <tr key={d.id} data-id={d.id}>
              <td>{d.login}</td><td>{d.name || d.command}</td><td><span class={`badge state-${d.state}`}>{d.state}</span></td>
              <td>{d.serverId}</td><td>{when(d.started)}</td>
              <td><button type="button" class="danger terminate" disabled={busy} onClick={run(async () => {
                if (!window.confirm(`Terminate ${d.login}'s ${d.name || d.command}?`)) return;
                await session("session/terminate", { id: d.id });
                say("The session was terminated.");
                await load();
              })}>Terminate</button></td>
            </tr>
          ))}
        </tbody>
      </table></div>
      {list && list.length === 0 && <p>No session runs.</p>}
    </Card>
  );
}

function gib(n: number) { return `${(n / 2 ** 30).toFixed(1)} GiB`; }

function Servers(props: { admin: boolean; tick: number }) {
  const { busy, run } = useAction();
  const [load, setLoad] = useState<any[] | null>(null);
  const [servers, setServers] = useState<any[] | null>(null);
  const [f, setF] = useState({ host: "", port: "8443", secret: "", project: "", protocol: "lxd" });
  // a trust token (from `lxc config trust add`) is base64 JSON; anything else is a trust password
  const refresh = async () => {
    const [l, s] = await Promise.all([props.admin ? session("system/server/list", {}) : Promise.resolve(null), infra("server.list", { provider: "lxd" })]);
    setLoad(l);
    setServers(s.data || []);
  };
  useEffect(() => { refresh().catch(sayError); }, [props.tick]);
  const set = (k: keyof typeof f) => (e: any) => setF({ ...f, [k]: e.currentTarget.value });
  return (
    <>
      {load && <Card title="Load" id="admin-load">
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Table">
        <table class="table" data-count={load ? load.length : 0}>
          <thead><tr><th scope="col">Server</th><th scope="col">CPUs</th><th scope="col">Load (1 min)</th><th scope="col">Memory free</th><th scope="col">Sessions</th></tr></thead>
          <tbody>{(load || []).map((s) => (
            <tr key={s.id} data-id={s.id}><td>{s.hostname || s.id} <small>{s.id}</small></td><td>{s.cpus}</td><td>{s.loadAverage ? s.loadAverage[0].toFixed(2) : ""}</td>
              <td>{s.totalMemory ? `${gib(s.freeMemory)} of ${gib(s.totalMemory)}` : ""}</td><td>{s.sessions}</td></tr>
          ))}</tbody>
        </table></div>
      </Card>}
      <Card title="LXD servers" id="admin-servers">
        <ul class="list" id="server-list" data-count={servers ? servers.length : 0}>
          {servers && servers.length === 0 && <li class="empty">No LXD server was added.</li>}
          {(servers || []).map((s) => {
            const a = s.attributes;
            return (
              <li key={s.id} data-id={a.server_id} data-state={a.server_state}>
                <span><strong>{a.server_name || a.server_host}</strong> <small>{a.server_protocol} · {a.server_host}:{a.server_port} · {a.server_state}</small></span>
                <button type="button" class="danger" disabled={busy} onClick={run(async () => {
                  if (!window.confirm(`Remove ${a.server_host}? deskhub withdraws its certificate from it.`)) return;
                  await infra("server.delete", { provider: "lxd", server_id: a.server_id });
                  say("The server was removed.");
                  await refresh();
                })}>Remove</button>
              </li>
            );
          })}
        </ul>
        <form id="server-form" class="grid-form" onSubmit={run(async () => {
          const body: any = { provider: "lxd", server_host: f.host, server_port: Number(f.port), server_protocol: f.protocol, server_password: f.secret };
          if (f.project) body.server_project = f.project;
          await infra("server.add", body);
          say(`${f.host} was added.`);
          setF({ ...f, host: "", secret: "" });
          await refresh();
        })}>
          <Field label="Host" id="server-host" value={f.host} onInput={set("host")} required />
          <Field label="Port" id="server-port" type="number" value={f.port} onInput={set("port")} required />
          <label class="field"><span>Kind</span>
            <select id="server-protocol" value={f.protocol} onChange={set("protocol")}>
              <option value="lxd">LXD</option>
              <option value="incus">Incus</option>
            </select>
          </label>
          <Field label="Trust password or token" id="server-secret" type="password" autocomplete="off" value={f.secret} onInput={set("secret")} required />
          <Field label="Project (optional)" id="server-project" value={f.project} onInput={set("project")} />
          <button type="submit" class="primary" disabled={busy}>Add the server</button>
        </form>
      </Card>
    </>
  );
}

const ACTIONS: [string, string][] = [["start", "Start"], ["stop", "Stop"], ["stop-force", "Force stop"], ["restart", "Restart"],
  ["freeze", "Freeze"], ["unfreeze", "Unfreeze"], ["delete", "Delete"]];

let rid = 0;
const requestID = (what: string) => `ui-${what}-${Date.now().toString(36)}-${++rid}`;

function Instances(props: { tick: number }) {
  const { busy, run } = useAction();
  const [list, setList] = useState<any[] | null>(null);
  const [servers, setServers] = useState<any[]>([]);
  const [server, setServer] = useState("");
  const [images, setImages] = useState<any[]>([]);
  const [image, setImage] = useState("");
  const [name, setName] = useState("");
  const load = async () => setList((await infra("instance.list", { provider: "lxd" })).data || []);
  useEffect(() => { load().catch(sayError); }, [props.tick]);
  useEffect(() => {
    infra("server.list", { provider: "lxd" }).then((d) => {
      setServers(d.data || []);
      if (d.data && d.data[0]) setServer(String(d.data[0].attributes.server_id));
    }, sayError);
  }, [props.tick]);
  useEffect(() => {
    if (!server) return;
    infra("image.list", { provider: "lxd", server_id: Number(server) }).then((d) => {
      setImages(d.data || []);
      const first = d.data && d.data[0];
      if (first) setImage(first.attributes.image_aliases[0] ? `alias:${first.attributes.image_aliases[0]}` : `fp:${first.attributes.image_fingerprint}`);
    }, sayError);
  }, [server]);
  return (
    <>
      <Card title="Launch an instance" id="admin-launch">
        <form id="launch" class="grid-form" onSubmit={run(async () => {
          if (!image) throw new Error("The server has no image to launch.");
          const [kind, value] = [image.slice(0, image.indexOf(":")), image.slice(image.indexOf(":") + 1)];
          const body: any = { provider: "lxd", server_id: Number(server), instance_name: name.trim(), request_id: requestID("launch") };
          body[kind === "alias" ? "image_alias" : "image_fingerprint"] = value;
          await infra("instance.add", body);
          say(`Launching ${body.instance_name}…`);
        })}>
          <label class="field"><span>Server</span>
            <select id="launch-server" value={server} onChange={(e) => setServer(e.currentTarget.value)}>
              {servers.map((s) => <option key={s.id} value={s.attributes.server_id}>{s.attributes.server_name || s.attributes.server_host}</option>)}
            </select>
          </label>
          <label class="field"><span>Image</span>
            <select id="launch-image" value={image} onChange={(e) => setImage(e.currentTarget.value)}>
              {images.map((im) => {
                const a = im.attributes;
                const v = a.image_aliases[0] ? `alias:${a.image_aliases[0]}` : `fp:${a.image_fingerprint}`;
                return <option key={im.id} value={v}>{a.image_aliases.join(", ") || a.image_fingerprint.slice(0, 12)} ({a.image_os || ""} {a.image_release || ""})</option>;
              })}
            </select>
          </label>
          <Field label="Name" id="launch-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required pattern="[a-zA-Z0-9-]+" />
          <button type="submit" id="launch-btn" class="primary" disabled={busy || !servers.length}>Launch</button>
        </form>
      </Card>
      <Card title="Instances" id="admin-instances">
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Table">
        <table class="table" id="instances" data-count={list ? list.length : 0}>
          <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Type</th><th scope="col">Server</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>{(list || []).map((i) => {
            const a = i.attributes;
            return (
              <tr key={i.id} data-id={a.instance_id} data-name={a.instance_name} data-status={a.instance_status}>
                <td>{a.instance_name}</td><td>{a.instance_status}</td><td>{a.instance_type}</td><td>{a.server_id}</td>
                <td class="actions">{ACTIONS.map(([act, label]) => (
                  <button key={act} type="button" data-action={act} class={act === "delete" ? "danger" : ""} disabled={busy}
                    aria-label={`${label} ${a.instance_name}`} onClick={run(async () => {
                      if (act === "delete" && !window.confirm(`Delete ${a.instance_name}?`)) return;
                      await infra("instance.action", { provider: "lxd", instance_id: a.instance_id, instance_status: act, request_id: requestID(act) });
                      say(`${label} ${a.instance_name}: requested.`);
                    })}>{label}</button>
                ))}</td>
              </tr>
            );
          })}</tbody>
        </table></div>
        {list && list.length === 0 && <p id="no-instances">No instance.</p>}
      </Card>
    </>
  );
}

function Images() {
  const [servers, setServers] = useState<any[]>([]);
  const [images, setImages] = useState<Record<string, any[]>>({});
  const [products, setProducts] = useState<any>(null);
  useEffect(() => {
    infra("server.list", { provider: "lxd" }).then(async (s) => {
      setServers(s.data || []);
      for (const srv of s.data || []) {
        infra("image.list", { provider: "lxd", server_id: srv.attributes.server_id }).then((d) => setImages((m) => ({ ...m, [srv.attributes.server_id]: d.data || [] })), () => {});
      }
    }, sayError);
    fetch("/api/v1/simplestream.list", { credentials: "same-origin" }).then((r) => r.json()).then((d) => setProducts(d.data), () => setProducts([]));
  }, []);
  const prods = Array.isArray(products) ? products : products ? Object.values(products) : [];
  return (
    <>
      {servers.map((s) => (
        <Card key={s.id} title={`Images on ${s.attributes.server_name || s.attributes.server_host}`}>
          <ul class="list">{(images[s.attributes.server_id] || []).map((im) => (
            <li key={im.id}><span><strong>{(im.attributes.image_aliases || []).join(", ") || im.attributes.image_fingerprint.slice(0, 12)}</strong> <small>{im.attributes.image_description} · {im.attributes.image_architecture}</small></span></li>
          ))}</ul>
        </Card>
      ))}
      <Card title="deskhub's simplestreams products" id="admin-products">
        <ul class="list" id="product-list" data-count={prods.length}>
          {products !== null && prods.length === 0 && <li class="empty">No product is published.</li>}
          {prods.map((p: any, i: number) => {
            const a = p.attributes || p;
            return <li key={p.id || i}><span><strong>{a.product_name || a.name || p.id}</strong> <small>{a.product_os || a.os || ""} {a.product_release || a.release || ""} {a.product_arch || a.arch || ""}</small></span></li>;
          })}
        </ul>
      </Card>
    </>
  );
}

function Events(props: { events: LiveEvent[]; state: string }) {
  return (
    <Card title="Live events" id="admin-events">
      <p>Stream: <span id="stream-state" class={`badge stream-${props.state}`}>{props.state === "bound" ? "live" : props.state}</span></p>
      <ol class="events" id="events" data-count={props.events.length}>
        {props.events.map((e, i) => <li key={props.events.length - i} data-type={e.type} data-status={e.status} class={e.failure ? "failure" : ""}>{e.text}</li>)}
      </ol>
      {props.events.length === 0 && <p>Nothing happened yet.</p>}
    </Card>
  );
}

export function adminGo(page: string) { go(`/admin/${page}`); }
