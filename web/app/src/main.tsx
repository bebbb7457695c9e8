// main.tsx: the deskhub web app — one page at / for both surfaces. It asks user.get (the session
// cookie authenticates it) and shows the login or the app; the route is in the URL's fragment.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { infra, meFrom, session, setUnauthorizedHandler, type Me } from "./api";
import { Login } from "./login";
import { Launcher } from "./launcher";
import { Viewer } from "./viewer";
import { Account } from "./account";
import { Admin } from "./admin";
import { go, useRoute } from "./route";
import { say, sayError, Status } from "./ui";

// Tabs of the same browser log out together (the cookie is shared; this tells the other pages).
const channel = "BroadcastChannel" in window ? new BroadcastChannel("deskhub") : null;

function theme(): string {
  return localStorage.getItem("deskhub.theme") || "auto";
}
function applyTheme(t: string) {
  if (t === "auto") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = t;
}

function App() {
  const route = useRoute();
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [th, setTh] = useState(theme());

  useEffect(() => {
    setUnauthorizedHandler(() => {
      setMe(null);
      say("Your login has ended; log in again.", true);
    });
    infra("user.get", {}, true).then((d) => setMe(meFrom(d)), () => setMe(null));
    channel?.addEventListener("message", (m) => {
      if (m.data === "logout") setMe(null);
      if (m.data === "login") infra("user.get", {}, true).then((d) => setMe(meFrom(d)), () => {});
    });
  }, []);
  useEffect(() => {
    if (!me) return;
    const t = setInterval(() => session("user/keepalive").catch(() => {}), 4 * 60 * 1000);
    return () => clearInterval(t);
  }, [me]);
  useEffect(() => {
    applyTheme(th);
    localStorage.setItem("deskhub.theme", th);
  }, [th]);
  // body[data-state] says where the app is (the browser tests wait on it): loading, signed-out,
  // signed-in; the viewer sets connecting, connected, reconnecting, ended or failed.
  const viewing = route.includes("session=") || (/^\/d\//.test(route) && !!me);
  useEffect(() => {
    document.body.dataset.route = route;
    if (!viewing) document.body.dataset.state = me === undefined ? "loading" : me ? "signed-in" : "signed-out";
  }, [me, route]);

  // A share link opens the shared desktop without a login.
  const share = new URLSearchParams(route.startsWith("/") ? "" : route);
  if (share.get("session") && share.get("key")) {
    return (<><Viewer id={share.get("session")!} guestKey={share.get("key")!} /><Status /></>);
  }
  if (me === undefined) return <div class="boot" aria-busy="true" />;
  if (me === null) {
    return (
      <>
        <Login onIn={(m) => { setMe(m); channel?.postMessage("login"); }} />
        <Status />
      </>
    );
  }

  const viewer = route.match(/^\/d\/([^/]+)$/);
  if (viewer) return (<><Viewer id={decodeURIComponent(viewer[1])} /><Status /></>);

  const logout = async () => {
    try {
      await infra("user.logout");
    } catch (e) {
      sayError(e);
    }
    channel?.postMessage("logout");
    setMe(null);
    go("/");
    say("You are logged out.");
  };
  const section = route.split("/")[1] || "";
  const admin = route.match(/^\/admin(?:\/(\w+))?/);
  return (
    <>
      <a href="#main" class="skip">Skip to the content</a>
      <header id="topbar" class="topbar">
        <a class="brand" href="#/">deskhub</a>
        <nav aria-label="Main">
          <a href="#/" id="nav-desktops" aria-current={section === "" ? "page" : undefined}>Desktops</a>
          <a href="#/account" id="nav-account" aria-current={section === "account" ? "page" : undefined}>Account</a>
          <a href="#/admin" id="nav-admin" aria-current={section === "admin" ? "page" : undefined}>{me.admin ? "Admin" : "Infrastructure"}</a>
        </nav>
        <span class="spacer" />
        <label class="compact">
          <span class="sr-only">Theme</span>
          <select id="theme" aria-label="Theme" value={th} onChange={(e) => setTh(e.currentTarget.value)}>
            <option value="auto">Auto theme</option>
            <option value="light">Light</option>
            <option value="dark">Dark</option>
          </select>
        </label>
        <span id="whoami" class="who">{me.login}</span>
        <button type="button" id="logout" onClick={logout}>Log out</button>
      </header>
      <Status />
      <div id="main" tabIndex={-1}>
        {section === "account" ? <Account me={me} onMe={setMe} />
          : admin ? <Admin page={admin[1] || ""} admin={me.admin} />
          : <Launcher />}
      </div>
    </>
  );
}

applyTheme(theme());
render(<App />, document.getElementById("app")!);
