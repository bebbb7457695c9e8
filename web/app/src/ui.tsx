// ui.tsx: the app's small component set: a status line, fields, buttons that report their failure,
// a card, a dialog, and the hook that runs an action with a busy state.
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

// ---- the status line: one per page, role=status, announced politely ----

type Message = { text: string; error: boolean };
type Listener = (m: Message) => void;
const listeners = new Set<Listener>();
let last: Message = { text: "", error: false }; // a page that mounts its status line shows the last message
export function say(text: string, error = false) {
  last = { text, error };
  for (const l of listeners) l(last);
}
export function sayError(e: unknown) {
  say(e instanceof Error ? e.message : String(e), true);
}

export function Status() {
  const [m, setM] = useState(last);
  useEffect(() => {
    listeners.add(setM);
    return () => void listeners.delete(setM);
  }, []);
  return (
    <p id="status" role="status" aria-live="polite" class={m.error ? "error" : ""}>
      {m.text}
    </p>
  );
}

// useAction wraps an async action: busy while it runs, its failure said on the status line.
export function useAction() {
  const [busy, setBusy] = useState(false);
  const run = (fn: () => Promise<unknown> | unknown) => async (e?: Event) => {
    if (e && e.type === "submit") e.preventDefault();
    setBusy(true);
    try {
      await fn();
    } catch (err) {
      sayError(err);
    } finally {
      setBusy(false);
    }
  };
  return { busy, run };
}

// Field is a labelled input.
export function Field(props: { label: string; hint?: string } & JSX.InputHTMLAttributes<HTMLInputElement>) {
  const { label, hint, ...rest } = props;
  return (
    <label class="field">
      <span>{label}</span>
      <input {...rest} />
      {hint && <small>{hint}</small>}
    </label>
  );
}

export function Card(props: { title?: string; children: ComponentChildren; class?: string; id?: string }) {
  return (
    <section class={`card ${props.class || ""}`} id={props.id} aria-label={props.title}>
      {props.title && <h2>{props.title}</h2>}
      {props.children}
    </section>
  );
}

// Dialog is a modal <dialog> shown while mounted; Escape or the close button calls onClose.
export function Dialog(props: { title: string; onClose: () => void; children: ComponentChildren; id?: string }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
    const close = (e: Event) => {
      e.preventDefault();
      props.onClose();
    };
    d?.addEventListener("cancel", close);
    return () => d?.removeEventListener("cancel", close);
  }, []);
  return (
    <dialog ref={ref} class="dialog" id={props.id} aria-labelledby={`${props.id || "dlg"}-title`}>
      <header>
        <h2 id={`${props.id || "dlg"}-title`}>{props.title}</h2>
        <button type="button" class="icon" aria-label="Close" onClick={props.onClose}>✕</button>
      </header>
      {props.children}
    </dialog>
  );
}

// copy puts text on the browser's clipboard (falls back to selecting it).
export async function copy(text: string) {
  try {
    await navigator.clipboard.writeText(text);
    say("Copied to the clipboard.");
  } catch {
    say("Copy it by hand: the browser refused the clipboard.", true);
  }
}

export function when(s?: string | number | null): string {
  if (!s) return "";
  const d = typeof s === "number" ? new Date(s * 1000) : new Date(s);
  return isNaN(d.getTime()) ? "" : d.toLocaleString();
}

// useVisible says whether an element is on screen and the tab is shown.
export function useVisible<T extends Element>(): [preact.RefObject<T>, boolean] {
  const ref = useRef<T>(null);
  const [onScreen, setOnScreen] = useState(false);
  const [shown, setShown] = useState(!document.hidden);
  useEffect(() => {
    const el = ref.current;
    const io = new IntersectionObserver((es) => setOnScreen(es.some((e) => e.isIntersecting)));
    if (el) io.observe(el);
    const vis = () => setShown(!document.hidden);
    document.addEventListener("visibilitychange", vis);
    return () => {
      io.disconnect();
      document.removeEventListener("visibilitychange", vis);
    };
  }, []);
  return [ref, onScreen && shown];
}
