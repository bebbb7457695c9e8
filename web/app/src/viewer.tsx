// viewer.tsx: one desktop in the whole window through noVNC (resized to fit by default), with a
// toolbar: the dock of the desktop's windows (fed by the agent's window events: activate, close,
// tile), the clipboard panel (both ways), the keys the browser keeps (a menu), sound (muted until the
// user unmutes), share, fullscreen, disconnect and terminate. A lost connection is retried; a desktop
// that ended says so.
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { agent, APIError, session, wsURL, type Connect, type Desktop } from "./api";
import { AudioPlayer } from "./audio";
import { go, pending } from "./route";
import { ShareDialog } from "./share";
import { say, sayError, useAction } from "./ui";
import { loadRFB, type RFB as RFBType } from "./novnc";

type State = "connecting" | "connected" | "reconnecting" | "ended" | "failed";

interface Win { id: number; title: string; wm_class: string; pid: number }

// Keys the browser keeps for itself, sent from a menu: [label, keysyms pressed in order].
const KEYS: [string, number[]][] = [
  ["Ctrl+Alt+Del", [0xffe3, 0xffe9, 0xffff]],
  ["Alt+Tab", [0xffe9, 0xff09]],
  ["Alt+F4", [0xffe9, 0xffc1]],
  ["Ctrl+W", [0xffe3, 0x77]],
  ["Ctrl+T", [0xffe3, 0x74]],
  ["Ctrl+N", [0xffe3, 0x6e]],
  ["Ctrl+Q", [0xffe3, 0x71]],
  ["Super", [0xffeb]],
  ["Escape", [0xff1b]],
  ["F11", [0xffc8]],
];


export function Viewer(props: { id: string; guestKey?: string }) {
  const { id, guestKey } = props;
  const owner = !guestKey;
  const screen = useRef<HTMLDivElement>(null);
  const rfbRef = useRef<RFBType | null>(null);
  const [state, setState] = useState<State>("connecting");
  const [title, setTitle] = useState(pending.get(id)?.title || "");
  const [message, setMessage] = useState("");
  const [mode, setMode] = useState(pending.get(id)?.mode || "scale");
  const [clipOpen, setClipOpen] = useState(false);
  const [filesOpen, setFilesOpen] = useState(false);
  const [clip, setClip] = useState("");
  const [clipCount, setClipCount] = useState({ sent: 0, received: 0 });
  const [wins, setWins] = useState<Win[]>([]);
  const [keysOpen, setKeysOpen] = useState(false);
  const [sharing, setSharing] = useState(false);
  const [muted, setMuted] = useState(true);
  const audio = useRef<AudioPlayer | null>(null);
  const attempt = useRef(0);
  const closing = useRef(false);
  const startDock = useRef<(() => void) | null>(null); // the dock's websocket, opened once the display shows
  const { busy, run } = useAction();

  useEffect(() => {
    document.body.dataset.state = state;
    document.body.dataset.session = id;
  }, [state]);

  // fetchConnect asks for a fresh display password (or uses the start's answer once).
  const fetchConnect = async (): Promise<Connect> => {
    const p = pending.get(id);
    if (p) {
      pending.delete(id);
      return p.connect;
    }
    if (guestKey) return session<Connect>("share/connect", { id, key: guestKey }, true);
    return session<Connect>("session/connect", { id });
  };

  // ended tells whether the desktop is gone (owner: not in the list any more).
  const ended = async (): Promise<boolean> => {
    if (!owner) return false;
    try {
      const list = await session<Desktop[]>("session/list", {});
      return !list.some((d) => d.id === id);
    } catch {
      return false;
    }
  };

  const connect = async () => {
    const [RFB, c] = await Promise.all([loadRFB(), fetchConnect()]);
    if (closing.current) return;
    if (!c || !c.url) throw new Error("deskhub answered without a display URL.");
    const el = screen.current!;
    el.replaceChildren();
    const r = new RFB(el, wsURL(c.url), { wsProtocols: ["binary"], credentials: { password: c.password || "" } });
    rfbRef.current = r;
    (window as any).deskhubRFB = r;
    applyMode(r, mode);
    r.focusOnClick = true;
    r.background = "var(--screen-bg)";
    r.addEventListener("connect", () => {
      if (rfbRef.current !== r) return;
      attempt.current = 0;
      setState("connected");
      setMessage("");
      window.performance.mark("deskhub-connected");
      r.focus();
      const dock = startDock.current; // the display first: the agent's window list waits for it
      startDock.current = null;
      dock?.();
    });
    r.addEventListener("disconnect", (e: any) => {
      if (rfbRef.current !== r || closing.current) return;
      rfbRef.current = null;
      (window as any).deskhubRFB = null;
      const clean = e.detail && e.detail.clean;
      lost(clean).catch(sayError);
    });
    r.addEventListener("credentialsrequired", () => r.sendCredentials({ password: c.password || "" }));
    r.addEventListener("clipboard", (e: any) => {
      setClip(e.detail.text);
      setClipCount((n) => ({ ...n, received: n.received + 1 }));
    });
    r.addEventListener("desktopname", (e: any) => setTitle((t) => t || e.detail.name));
  };

  // lost decides between "ended" and a retry with backoff (network loss, a restarting deskhub).
  const lost = async (clean: boolean) => {
    if (await ended()) {
      setState("ended");
      setMessage("This desktop has ended.");
      return;
    }
    if (guestKey && clean) {
      setState("ended");
      setMessage("The owner stopped sharing this desktop, or the link was revoked.");
      return;
    }
    const n = ++attempt.current;
    if (n > 8) {
      setState("failed");
      setMessage("The desktop cannot be reached. Try again later.");
      return;
    }
    setState("reconnecting");
    const wait = Math.min(8000, 500 * 2 ** (n - 1));
    setMessage(`The connection was lost; reconnecting in ${Math.round(wait / 1000)} s…`);
    setTimeout(() => {
      if (closing.current) return;
      connect().catch((err) => {
        if (err instanceof APIError && (err.status === 404 || err.status === 403)) {
          setState("ended");
          setMessage(guestKey ? "This share link no longer opens the desktop." : "This desktop has ended.");
        } else lost(false).catch(sayError);
      });
    }, wait);
  };

  // A layout effect: the display's connection starts right after the viewer's first render, not after
  // the next paint (when Preact runs plain effects).
  useLayoutEffect(() => {
    closing.current = false;
    connect().catch((err) => {
      setState(err instanceof APIError && err.status === 404 ? "ended" : "failed");
      setMessage(err instanceof APIError && err.status === 404 ? "This desktop has ended." : err.message);
    });
    if (owner && !title) session<Desktop[]>("session/list", {}).then((l) => {
      const d = l.find((x) => x.id === id);
      if (d) setTitle(d.name || d.command);
    }, () => {});
    // The dock: the agent's window events (owner only: the events websocket takes no share key),
    // opened once the display is connected, so that the agent's first window list (X requests to the
    // same Xvnc) does not compete with the display's handshake and first frame.
    let ws: WebSocket | null = null;
    let retry: any = null;
    const dock = () => {
      if (!owner || closing.current) return;
      ws = new WebSocket(wsURL(`/spawner/${encodeURIComponent(id)}/events`));
      ws.onmessage = (m) => {
        try {
          const ev = JSON.parse(m.data);
          if (ev.type === "window.list" && Array.isArray(ev.data)) setWins(ev.data);
        } catch { /* not JSON */ }
      };
      ws.onclose = () => { if (!closing.current) retry = setTimeout(dock, 3000); };
    };
    startDock.current = dock;
    return () => {
      startDock.current = null;
      closing.current = true;
      clearTimeout(retry);
      ws?.close();
      audio.current?.stop();
      const r = rfbRef.current;
      rfbRef.current = null;
      (window as any).deskhubRFB = null;
      try { r?.disconnect(); } catch { /* closed */ }
      delete document.body.dataset.state;
      delete document.body.dataset.session;
    };
  }, [id]);

  useEffect(() => { if (rfbRef.current) applyMode(rfbRef.current, mode); }, [mode]);

  const sendClip = () => {
    const r = rfbRef.current;
    if (!r) throw new Error("No desktop is connected.");
    r.clipboardPasteFrom(clip);
    setClipCount((n) => ({ ...n, sent: n.sent + 1 }));
  };
  const sendKeys = (syms: number[]) => {
    const r = rfbRef.current;
    if (!r) return;
    for (const k of syms) r.sendKey(k, null, true);
    for (const k of [...syms].reverse()) r.sendKey(k, null, false);
    setKeysOpen(false);
    r.focus();
  };
  const toggleSound = run(async () => {
    if (muted) {
      audio.current = audio.current || new AudioPlayer(id, { shareKey: guestKey });
      await audio.current.start();
      setMuted(false);
    } else {
      audio.current?.stop();
      setMuted(true);
    }
  });
  const leave = () => go(guestKey ? "/" : "/");

  return (
    <div id="viewer" class={`viewer state-${state}`}>
      <div id="toolbar" role="toolbar" aria-label="Desktop">
        {owner && <a href="#/" class="back" aria-label="Back to the launcher">←</a>}
        <span id="session-title" class="title">{title || (guestKey ? "Shared desktop" : id)}</span>
        {owner && (
          <ul id="dock" class="dock" aria-label="Windows" data-count={wins.length}>
            {wins.map((w) => (
              <li key={w.id} data-id={w.id}>
                <button type="button" class="win" title={w.title} onClick={run(() => agent(id, "/activatewindows", { body: { windowsid: [w.id] } }))}>{w.title || w.wm_class || `window ${w.id}`}</button>
                <button type="button" class="win-close icon" aria-label={`Close ${w.title || w.wm_class}`} onClick={run(() => agent(id, "/closewindows", { body: { windowsid: [w.id] } }))}>✕</button>
              </li>
            ))}
            {wins.length > 1 && <li><button type="button" id="tile" onClick={run(() => agent(id, "/placeAllWindows", { body: {} }))}>Tile</button></li>}
          </ul>
        )}
        <span class="spacer" />
        <label class="compact">
          <span class="sr-only">View</span>
          <select id="view-mode" value={mode} onChange={(e) => setMode(e.currentTarget.value)} aria-label="View">
            <option value="remote">Resize desktop to window</option>
            <option value="scale">Scale to window</option>
            <option value="none">Actual size</option>
          </select>
        </label>
        <button type="button" id="clip-toggle" aria-expanded={clipOpen} onClick={() => setClipOpen(!clipOpen)}>Clipboard</button>
        {owner && <button type="button" id="files-toggle" aria-expanded={filesOpen} onClick={() => setFilesOpen(!filesOpen)}>Files</button>}
        <div class="menu">
          <button type="button" id="keys-toggle" aria-expanded={keysOpen} aria-haspopup="true" onClick={() => setKeysOpen(!keysOpen)}>Keys</button>
          {keysOpen && (
            <ul class="menu-list" id="keys-menu">
              {KEYS.map(([label, syms]) => <li key={label}><button type="button" onClick={() => sendKeys(syms)}>{label}</button></li>)}
            </ul>
          )}
        </div>
        <button type="button" id="sound" aria-pressed={!muted} disabled={busy} onClick={toggleSound}>{muted ? "Unmute" : "Mute"}</button>
        {owner && <button type="button" id="share-btn" onClick={() => setSharing(true)}>Share</button>}
        <button type="button" id="fullscreen" onClick={() => document.fullscreenElement ? document.exitFullscreen() : document.documentElement.requestFullscreen().catch(() => {})}>Full screen</button>
        <button type="button" id="disconnect" onClick={() => { say("Disconnected; the desktop keeps running."); leave(); }}>{owner ? "Disconnect" : "Leave"}</button>
        {owner && <button type="button" id="terminate" class="danger" disabled={busy} onClick={run(async () => {
          if (!window.confirm("Terminate this desktop? Its programs end.")) return;
          closing.current = true;
          await session("session/terminate", { id });
          say("The desktop was terminated.");
          go("/");
        })}>Terminate</button>}
      </div>
      {clipOpen && (
        <div id="clip-panel" class="panel-float">
          <label for="clipboard">Clipboard: text typed here goes to the desktop; text copied there shows up here.</label>
          <textarea id="clipboard" rows={4} spellcheck={false} value={clip} data-sent={clipCount.sent} data-received={clipCount.received}
            onInput={(e) => { setClip(e.currentTarget.value); try { rfbRef.current?.clipboardPasteFrom(e.currentTarget.value); } catch { /* not connected */ } }} />
          <button type="button" id="clip-send" onClick={() => { try { sendClip(); say("Clipboard sent to the desktop."); } catch (e) { sayError(e); } }}>Send to desktop</button>
        </div>
      )}
      {filesOpen && <FilesPanel id={id} />}
      {message && (
        <div id="viewer-message" class={`overlay state-${state}`} role="alert">
          <p>{message}</p>
          {(state === "ended" || state === "failed") && (owner ? <a href="#/" class="button primary">Back to your desktops</a> : <a href="#/" class="button">Close</a>)}
        </div>
      )}
      <div id="screen" ref={screen} tabIndex={-1} role="application" aria-label="Remote desktop" />
      {sharing && <ShareDialog id={id} title={title || id} onClose={() => setSharing(false)} />}
    </div>
  );
}

function applyMode(r: RFBType, mode: string) {
  r.scaleViewport = mode === "scale";
  r.resizeSession = mode === "remote";
  r.clipViewport = mode === "none";
  r.dragViewport = false;
}

// toBase64 encodes bytes in chunks (String.fromCharCode takes a bounded number of arguments).
function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

// FilesPanel uploads files into the desktop user's home and downloads one from it, through the agent
// (/spawner/<id>/files).
function FilesPanel(props: { id: string }) {
  const { busy, run } = useAction();
  const [path, setPath] = useState("");
  const [done, setDone] = useState<string[]>([]);
  const upload = (input: HTMLInputElement) => run(async () => {
    const files = input.files ? [...input.files] : [];
    for (const f of files) {
      const content = toBase64(new Uint8Array(await f.arrayBuffer()));
      try {
        await agent(props.id, "/files", { method: "PUT", body: { path: f.name, content } });
      } catch (err) {
        if (!(err instanceof APIError && err.status === 409) || !window.confirm(`${f.name} exists in the home. Replace it?`)) throw err;
        await agent(props.id, "/files", { method: "PUT", body: { path: f.name, content, overwrite: true } });
      }
      setDone((d) => [...d, f.name]);
      say(`${f.name} was uploaded to the home.`);
    }
    input.value = "";
  })();
  const download = run(async () => {
    const f = await agent(props.id, "/files", { query: { path: path.trim() } });
    const bin = atob(f.content);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const url = URL.createObjectURL(new Blob([bytes], { type: f.mime || "application/octet-stream" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = path.trim().split("/").pop() || "download";
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    say(`${path.trim()} was downloaded.`);
  });
  return (
    <div id="files-panel" class="panel-float">
      <label class="field"><span>Upload into the home</span>
        <input type="file" id="file-upload" multiple disabled={busy} onChange={(e) => upload(e.currentTarget)} />
      </label>
      {done.length > 0 && <p id="uploaded" data-count={done.length}>Uploaded: {done.join(", ")}</p>}
      <form class="row" onSubmit={download}>
        <label class="field"><span>Download from the home</span>
          <input id="file-path" value={path} placeholder="Documents/report.pdf" onInput={(e) => setPath(e.currentTarget.value)} required />
        </label>
        <button type="submit" id="file-download" disabled={busy}>Download</button>
      </form>
    </div>
  );
}
