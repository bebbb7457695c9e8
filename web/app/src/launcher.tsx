// launcher.tsx: bookmarks and suggested applications as tiles, the start form (command, size — fit
// to the window by default —, server when there are several, now or at a time) and the running
// desktops as cards with live thumbnails (session/screenshot, refreshed only while the card is on
// screen and the tab shown), state, server, start time and actions.
import { useEffect, useState } from "preact/hooks";
import { session, type Bookmark, type Connect, type Desktop } from "./api";
import { Card, Dialog, Field, say, sayError, useAction, useVisible, when } from "./ui";
import { ShareDialog } from "./share";
import { go, pending } from "./route";

const SIZES = ["800x600", "1024x768", "1280x800", "1280x1024", "1600x900", "1920x1080"];

// fitGeometry is the browser window's size, the default size of a new desktop.
export function fitGeometry(): string {
  const clamp = (n: number) => Math.max(64, Math.min(16384, Math.floor(n)));
  return `${clamp(window.innerWidth) & ~1}x${clamp(window.innerHeight) & ~1}`;
}

export function Launcher() {
  const [desktops, setDesktops] = useState<Desktop[] | null>(null);
  const [marks, setMarks] = useState<{ bookmarks: Bookmark[]; suggestions: Bookmark[] }>({ bookmarks: [], suggestions: [] });
  const [servers, setServers] = useState<string[]>([]);
  const [gen, setGen] = useState(0);

  const refresh = async () => {
    const list = (await session<Desktop[]>("session/list", {})) || [];
    setDesktops(list);
    setGen((g) => g + 1);
  };
  useEffect(() => {
    refresh().catch(sayError);
    session("bookmark/list").then((b) => setMarks({ bookmarks: b.bookmarks || [], suggestions: b.suggestions || [] }), () => {});
    session("system/session/profile").then((p) => setServers(p.servers || []), () => {});
    const t = setInterval(() => { if (!document.hidden) refresh().catch(() => {}); }, 10000);
    return () => clearInterval(t);
  }, []);

  return (
    <main id="launcher" class="page">
      <StartPanel servers={servers} marks={marks} onScheduled={refresh} />
      <Card title="Your desktops" id="running">
        <div class="row-end"><button type="button" id="refresh" onClick={() => refresh().catch(sayError)}>Refresh</button></div>
        {desktops === null && <ul class="cards"><li class="desk skeleton" aria-hidden="true" /></ul>}
        {desktops && desktops.length === 0 && <p id="no-sessions">No desktop is running. Start one above.</p>}
        <ul id="sessions" class="cards" data-count={desktops ? desktops.length : 0} data-gen={gen}>
          {(desktops || []).map((d) => <DesktopCard key={d.id} d={d} onChange={() => refresh().catch(sayError)} />)}
        </ul>
      </Card>
    </main>
  );
}

// open goes to the viewer with the answer of session/start or session/connect.
function open(c: Connect, title: string, mode = "scale") {
  pending.set(c.id, { connect: c, title, mode });
  go(`/d/${encodeURIComponent(c.id)}`);
}

function StartPanel(props: { servers: string[]; marks: { bookmarks: Bookmark[]; suggestions: Bookmark[] }; onScheduled: () => void }) {
  const { busy, run } = useAction();
  const [command, setCommand] = useState("xterm");
  const [size, setSize] = useState("fit");
  const [server, setServer] = useState("");
  const [later, setLater] = useState(false);
  const [at, setAt] = useState("");

  const start = async (cmd: string, name?: string, geometry?: string) => {
    if (!cmd.trim()) throw new Error("Type the command to run, e.g. xterm.");
    const g = geometry || (size === "fit" ? fitGeometry() : size);
    const body: any = { command: cmd.trim(), geometry: g };
    if (name) body.name = name;
    if (server) body.serverId = server;
    say(`Starting ${name || cmd} (${g})…`);
    window.performance.mark("deskhub-start");
    const c = await session<Connect>("session/start", body);
    open(c, name || cmd, geometry || size !== "fit" ? "scale" : "remote");
  };
  const submit = run(async () => {
    if (!later) return start(command);
    if (!at) throw new Error("Choose when the desktop should start.");
    const body: any = { command: command.trim(), at: new Date(at).toISOString(), geometry: size === "fit" ? fitGeometry() : size };
    if (server) body.serverId = server;
    await session("session/schedule", body);
    say(`${command} will start at ${new Date(at).toLocaleString()}.`);
    props.onScheduled();
  });
  const tiles = [...props.marks.bookmarks.map((b) => ({ ...b, kind: "bookmark" })), ...props.marks.suggestions.map((b) => ({ ...b, kind: "suggestion" }))];
  return (
    <Card title="Start" id="start">
      {tiles.length > 0 && (
        <ul class="tiles" id="tiles" aria-label="Applications">
          {tiles.map((b) => (
            <li key={`${b.kind}-${b.id}`}>
              <button type="button" class="tile" data-kind={b.kind} disabled={busy} onClick={run(() => start(b.command, b.name, b.geometry && b.geometry !== "rootless" ? b.geometry : undefined))}>
                <span class="tile-icon" aria-hidden="true">{(b.name || b.command).slice(0, 1).toUpperCase()}</span>
                <span>{b.name || b.command}</span>
              </button>
            </li>
          ))}
        </ul>
      )}
      <form id="start-form" class="start-form" onSubmit={submit} aria-label="Start a desktop">
        <Field label="Command" id="start-command" name="command" value={command} onInput={(e) => setCommand(e.currentTarget.value)} required />
        <label class="field"><span>Size</span>
          <select id="start-geometry" value={size} onChange={(e) => setSize(e.currentTarget.value)}>
            <option value="fit">Fit to window</option>
            {SIZES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        {props.servers.length > 1 && (
          <label class="field"><span>Server</span>
            <select id="start-server" value={server} onChange={(e) => setServer(e.currentTarget.value)}>
              <option value="">Automatic</option>
              {props.servers.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </label>
        )}
        <label class="check"><input type="checkbox" id="start-later" checked={later} onChange={(e) => setLater(e.currentTarget.checked)} /> Later</label>
        {later && <Field label="At" id="start-at" type="datetime-local" value={at} onInput={(e) => setAt(e.currentTarget.value)} required />}
        <button id="start-btn" type="submit" class="primary" disabled={busy}>{later ? "Schedule" : "Start"}</button>
      </form>
    </Card>
  );
}

function Thumb(props: { id: string; running: boolean }) {
  const [ref, visible] = useVisible<HTMLDivElement>();
  const [src, setSrc] = useState("");
  useEffect(() => {
    if (!visible || !props.running) return;
    let stop = false;
    const shot = () => session("session/screenshot", { id: props.id, width: 320, height: 200, format: "jpeg" }, true)
      .then((s) => { if (!stop && s && s.src) setSrc(s.src); }, () => {});
    shot();
    const t = setInterval(shot, 5000);
    return () => { stop = true; clearInterval(t); };
  }, [visible, props.running]);
  return (
    <div ref={ref} class="thumb">
      {src ? <img src={src} alt="" width={320} height={200} /> : <span class="thumb-empty" aria-hidden="true" />}
    </div>
  );
}

function DesktopCard(props: { d: Desktop; onChange: () => void }) {
  const d = props.d;
  const { busy, run } = useAction();
  const [sharing, setSharing] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const title = d.name || d.command || d.id;
  const connect = run(async () => {
    say(`Opening ${title}…`);
    const c = await session<Connect>("session/connect", { id: d.id });
    open(c, title);
  });
  return (
    <li class="desk" data-id={d.id} data-state={d.state}>
      <button type="button" class="thumb-btn" onClick={connect} aria-label={`Open ${title}`} disabled={busy}>
        <Thumb id={d.id} running={d.state === "running"} />
      </button>
      <div class="desk-info">
        <strong class="name">{title}</strong>
        <span class="meta">
          <span class={`badge state-${d.state}`}>{d.state}</span> {d.geometry} · {d.hostname || d.serverId}
          {d.clients ? ` · ${d.clients} connected` : ""}
        </span>
        <span class="meta">started {when(d.started)}</span>
      </div>
      <div class="desk-actions">
        <button type="button" class="connect primary" onClick={connect} disabled={busy}>Open</button>
        <button type="button" class="share" onClick={() => setSharing(true)}>Share</button>
        <button type="button" class="rename" onClick={() => setRenaming(true)}>Rename</button>
        <button type="button" class="disconnect" disabled={busy} onClick={run(async () => { await session("session/disconnect", { id: d.id }); say(`Everyone was disconnected from ${title}.`); props.onChange(); })}>Disconnect</button>
        <button type="button" class="terminate danger" disabled={busy} onClick={run(async () => {
          if (!window.confirm(`Terminate ${title}? Its programs end.`)) return;
          await session("session/terminate", { id: d.id });
          say(`${title} was terminated.`);
          props.onChange();
        })}>Terminate</button>
      </div>
      {sharing && <ShareDialog id={d.id} title={title} onClose={() => setSharing(false)} />}
      {renaming && <RenameDialog d={d} onClose={() => { setRenaming(false); props.onChange(); }} />}
    </li>
  );
}

function RenameDialog(props: { d: Desktop; onClose: () => void }) {
  const { busy, run } = useAction();
  const [name, setName] = useState(props.d.name || "");
  return (
    <Dialog title="Rename the desktop" id="rename" onClose={props.onClose}>
      <form onSubmit={run(async () => {
        await session("session/params", { id: props.d.id, params: { name } });
        say("Renamed.");
        props.onClose();
      })}>
        <Field label="Name" id="rename-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <button type="submit" class="primary" disabled={busy}>Save</button>
      </form>
    </Dialog>
  );
}
