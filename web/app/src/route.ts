// route.ts: the app's routes live in the URL's fragment (#/, #/d/<id>, #/account, #/admin/<page>), so
// the one page at / serves them all and a reload comes back to the same view. A share link keeps the
// form deskhub mails (#session=<id>&key=<key>).
import { useEffect, useState } from "preact/hooks";
import type { Connect } from "./api";

export function currentRoute(): string {
  const h = window.location.hash.slice(1);
  return h.startsWith("/") ? h : h.includes("session=") ? h : "/";
}

// routeListeners are told of a go() at once: the browser's hashchange event comes a task later, which
// on a busy machine delayed opening a desktop just started by tens of milliseconds.
const routeListeners = new Set<() => void>();

export function go(path: string) {
  window.location.hash = path;
  for (const f of routeListeners) f();
}

export function useRoute(): string {
  const [r, setR] = useState(currentRoute());
  useEffect(() => {
    const f = () => setR(currentRoute());
    window.addEventListener("hashchange", f);
    routeListeners.add(f);
    return () => {
      window.removeEventListener("hashchange", f);
      routeListeners.delete(f);
    };
  }, []);
  return r;
}

// pending holds the connect answer of a desktop just started or connected from the launcher, so the
// viewer opens it without asking again.
// mode is the viewer's initial view: "remote" (the desktop follows the window) for a desktop started at
// the window's size, else "scale".
export const pending = new Map<string, { connect: Connect; title: string; mode?: string }>();
