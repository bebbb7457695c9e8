// admin-users.tsx: the administrators' account pages — Users (list, create, lock/unlock, reset a
// password, delete after a confirmation that names what goes) and the Audit log (newest first, a page
// at a time, filtered by login). They call admin.* (deskhub extensions), which answer 403 to anyone
// but an administrator; the app shows the pages only to administrators.
import { useEffect, useState } from "preact/hooks";
import { infra, meFrom } from "./api";
import { Card, Dialog, Field, say, sayError, useAction, when } from "./ui";

interface Account {
  user_id: number; user_login: string; user_email: string; user_admin: boolean; user_locked: boolean;
  user_password_locked: boolean; user_provider: string; user_created_at: string;
}

export function Users() {
  const { busy, run } = useAction();
  const [me, setMe] = useState("");
  const [list, setList] = useState<Account[] | null>(null);
  const [f, setF] = useState({ login: "", email: "", password: "", admin: false });
  const [reset, setReset] = useState<Account | null>(null);
  const [remove, setRemove] = useState<Account | null>(null);
  const load = async () => setList(((await infra("admin.userList")).data || []).map((r: any) => r.attributes as Account));
  useEffect(() => {
    load().catch(sayError);
    infra("user.get").then((d) => setMe(meFrom(d).login), sayError);
  }, []);
  const lock = (u: Account, locked: boolean) => run(async () => {
    const doc = await infra("admin.userLock", { user_login: u.user_login, user_locked: locked });
    const n = doc.meta && doc.meta.tokens_revoked;
    say(locked ? `${u.user_login} is locked${n ? ` (${n} token${n === 1 ? "" : "s"} revoked)` : ""}.` : `${u.user_login} is unlocked.`);
    await load();
  });
  return (
    <>
      <Card title="Create an account" id="admin-user-create">
        <form id="user-create" class="grid-form" onSubmit={run(async () => {
          await infra("admin.userCreate", { user_login: f.login.trim(), user_email: f.email.trim(), user_password: f.password, user_admin: f.admin });
          say(`${f.login.trim()} was created.`);
          setF({ login: "", email: "", password: "", admin: false });
          await load();
        })}>
          <Field label="Login" id="new-login" value={f.login} autocomplete="off" required maxLength={32}
            onInput={(e) => setF({ ...f, login: e.currentTarget.value })} />
          <Field label="Mail address" id="new-email" type="email" value={f.email} autocomplete="off" required
            onInput={(e) => setF({ ...f, email: e.currentTarget.value })} />
          <Field label="First password" id="new-password" type="password" value={f.password} autocomplete="new-password" required minLength={8}
            onInput={(e) => setF({ ...f, password: e.currentTarget.value })} />
          <label class="check"><input type="checkbox" id="new-admin" checked={f.admin} onChange={(e) => setF({ ...f, admin: e.currentTarget.checked })} /> Administrator</label>
          <button type="submit" id="user-create-btn" class="primary" disabled={busy}>Create</button>
        </form>
      </Card>
      <Card title="Accounts" id="admin-users">
        <div class="table-wrap" tabIndex={0} role="region" aria-label="Accounts">
          <table class="table stack" id="users" data-count={list ? list.length : 0}>
            <thead><tr><th scope="col">Login</th><th scope="col">Mail</th><th scope="col">Role</th><th scope="col">State</th>
              <th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>{(list || []).map((u) => {
              const self = u.user_login === me;
              return (
                <tr key={u.user_id} data-login={u.user_login} data-locked={String(u.user_locked)}>
                  <td data-label="Login"><strong>{u.user_login}</strong>{self && <small> (you)</small>}</td>
                  <td data-label="Mail" class="wrap">{u.user_email}</td>
                  <td data-label="Role">{u.user_admin ? "Administrator" : "User"}{u.user_provider !== "local" && <small> · {u.user_provider}</small>}</td>
                  <td data-label="State"><span class={`badge ${u.user_locked ? "state-locked" : "state-running"}`}>{u.user_locked ? "locked" : "active"}</span></td>
                  <td data-label="Created">{when(u.user_created_at)}</td>
                  <td class="actions">
                    {u.user_locked
                      ? <button type="button" data-action="unlock" disabled={busy} aria-label={`Unlock ${u.user_login}`} onClick={lock(u, false)}>Unlock</button>
                      : <button type="button" data-action="lock" disabled={busy || self} aria-label={`Lock ${u.user_login}`} onClick={lock(u, true)}>Lock</button>}
                    {u.user_provider === "local" &&
                      <button type="button" data-action="reset" disabled={busy} aria-label={`Reset the password of ${u.user_login}`} onClick={() => setReset(u)}>Reset password</button>}
                    <button type="button" data-action="delete" class="danger" disabled={busy || self} aria-label={`Delete ${u.user_login}`} onClick={() => setRemove(u)}>Delete</button>
                  </td>
                </tr>
              );
            })}</tbody>
          </table>
        </div>
      </Card>
      {reset && <ResetPassword user={reset} onClose={() => setReset(null)} />}
      {remove && <DeleteUser user={remove} onClose={() => setRemove(null)} onGone={() => { setRemove(null); load().catch(sayError); }} />}
    </>
  );
}

function ResetPassword(props: { user: Account; onClose: () => void }) {
  const { busy, run } = useAction();
  const [pw, setPw] = useState("");
  const [again, setAgain] = useState("");
  return (
    <Dialog title={`New password for ${props.user.user_login}`} id="reset-dialog" onClose={props.onClose}>
      <form id="reset-form" onSubmit={run(async () => {
        say(`Setting the password of ${props.user.user_login}…`);
        if (pw !== again) throw new Error("The two passwords differ.");
        const doc = await infra("admin.userPasswordReset", { user_login: props.user.user_login, user_password: pw });
        say(`The password of ${props.user.user_login} was set; ${doc.meta.tokens_revoked} login${doc.meta.tokens_revoked === 1 ? "" : "s"} ended.`);
        props.onClose();
      })}>
        <p>Their open logins end; API tokens stay.</p>
        <input type="text" name="username" autocomplete="username" value={props.user.user_login} hidden readOnly />
        <Field label="New password" id="reset-password" type="password" autocomplete="new-password" required minLength={8} value={pw} onInput={(e) => setPw(e.currentTarget.value)} />
        <Field label="The new password again" id="reset-again" type="password" autocomplete="new-password" required minLength={8} value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        <div class="row-end">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" id="reset-btn" class="primary" disabled={busy}>Set the password</button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteUser(props: { user: Account; onClose: () => void; onGone: () => void }) {
  const { busy, run } = useAction();
  const [typed, setTyped] = useState("");
  const login = props.user.user_login;
  return (
    <Dialog title={`Delete ${login}?`} id="delete-dialog" onClose={props.onClose}>
      <form id="delete-form" onSubmit={run(async () => {
        const doc = await infra("admin.userDelete", { user_login: login, user_confirm: true });
        const m = doc.meta;
        say(`${login} was deleted with ${m.tokens} token(s), ${m.ssh_keys} SSH key(s), ${m.credentials} passkey(s) and ${m.sessions} session record(s).`);
        props.onGone();
      })}>
        <p>The account goes with its tokens, SSH keys, passkeys and session records. This cannot be undone; the audit log keeps its entries.</p>
        <Field label={`Type ${login} to confirm`} id="delete-confirm" autocomplete="off" value={typed} onInput={(e) => setTyped(e.currentTarget.value)} />
        <div class="row-end">
          <button type="button" onClick={props.onClose}>Cancel</button>
          <button type="submit" id="delete-btn" class="danger" disabled={busy || typed !== login}>Delete {login}</button>
        </div>
      </form>
    </Dialog>
  );
}

interface Entry {
  audit_id: number; audit_at: string; audit_actor: string; audit_action: string; audit_target: string;
  audit_detail?: Record<string, unknown>; audit_remote_addr: string;
}

const PAGE = 25;

export function Audit() {
  const { busy, run } = useAction();
  const [login, setLogin] = useState("");
  const [filter, setFilter] = useState("");
  // pages[i] is the audit_before of page i (0: the newest); next is the cursor of the page after.
  const [pages, setPages] = useState<number[]>([0]);
  const [entries, setEntries] = useState<Entry[] | null>(null);
  const [next, setNext] = useState(0);
  const load = async (before: number, who: string) => {
    const body: Record<string, unknown> = { audit_limit: PAGE };
    if (before) body.audit_before = before;
    if (who) body.user_login = who;
    const doc = await infra("admin.auditList", body);
    setEntries((doc.data || []).map((r: any) => r.attributes as Entry));
    setNext((doc.meta && doc.meta.next_before) || 0);
  };
  useEffect(() => { load(pages[pages.length - 1], filter).catch(sayError); }, [pages, filter]);
  const page = pages.length;
  return (
    <Card title="Audit log" id="admin-audit">
      <form id="audit-filter" class="row" role="search" onSubmit={run(() => { setPages([0]); setFilter(login.trim()); })}>
        <Field label="Login" id="audit-login" value={login} autocomplete="off" hint="What this login did, or what was done to it"
          onInput={(e) => setLogin(e.currentTarget.value)} />
        <button type="submit" id="audit-filter-btn" disabled={busy}>Filter</button>
        {filter && <button type="button" id="audit-clear" onClick={() => { setLogin(""); setPages([0]); setFilter(""); }}>Show all</button>}
      </form>
      <nav class="row" aria-label="Audit log pages">
        <button type="button" id="audit-newer" disabled={page === 1} onClick={() => setPages(pages.slice(0, -1))}>Newer</button>
        <span id="audit-page">Page {page}</span>
        <button type="button" id="audit-older" disabled={!next} onClick={() => setPages([...pages, next])}>Older</button>
      </nav>
      <div class="table-wrap" tabIndex={0} role="region" aria-label="Audit entries">
        <table class="table stack" id="audit" data-count={entries ? entries.length : 0} data-page={page}>
          <thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">From</th><th scope="col">Detail</th></tr></thead>
          <tbody>{(entries || []).map((e) => (
            <tr key={e.audit_id} data-action={e.audit_action} data-target={e.audit_target}>
              <td data-label="When">{when(e.audit_at)}</td><td data-label="Who">{e.audit_actor}</td><td data-label="Action"><code>{e.audit_action}</code></td>
              <td data-label="Target" class="wrap">{e.audit_target}</td><td data-label="From">{e.audit_remote_addr}</td>
              <td data-label="Detail" class="wrap"><small>{e.audit_detail ? Object.entries(e.audit_detail).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") : ""}</small></td>
            </tr>
          ))}</tbody>
        </table>
      </div>
      {entries && entries.length === 0 && <p id="audit-empty">No entry{filter ? ` for ${filter}` : ""}.</p>}
    </Card>
  );
}
