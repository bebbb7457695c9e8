// account.tsx: the account pages — profile, password and email change, password lock, passkeys,
// API tokens (created with a lifetime, shown once, revoked) and SSH keys.
import { useEffect, useState } from "preact/hooks";
import { infra, meFrom, type Me } from "./api";
import { Passkeys } from "./passkeys";
import { Card, copy, Field, say, sayError, useAction, when } from "./ui";

export function Account(props: { me: Me; onMe: (m: Me) => void }) {
  return (
    <main id="account" class="page grid2">
      <Profile me={props.me} onMe={props.onMe} />
      <Password me={props.me} onMe={props.onMe} />
      <Passkeys me={props.me} />
      <Tokens />
      <SSHKeys />
    </main>
  );
}

function Profile(props: { me: Me; onMe: (m: Me) => void }) {
  const { busy, run } = useAction();
  const [email, setEmail] = useState("");
  const [code, setCode] = useState("");
  const [sent, setSent] = useState(false);
  return (
    <Card title="Profile" id="profile">
      <dl class="facts">
        <dt>Login</dt><dd id="profile-login">{props.me.login}</dd>
        <dt>Email</dt><dd id="profile-email">{props.me.email}</dd>
        <dt>Role</dt><dd>{props.me.admin ? "administrator" : "user"}</dd>
      </dl>
      <form id="email-form" onSubmit={run(async () => {
        const body: any = { user_email: email };
        if (sent) body.user_code = code.trim();
        await infra("user.emailChange", body);
        if (!sent) { setSent(true); say(`A code was mailed to ${email}; type it below.`); return; }
        props.onMe(meFrom(await infra("user.get")));
        setSent(false); setEmail(""); setCode("");
        say("Your email address was changed.");
      })}>
        <Field label="New email" id="email-new" type="email" autocomplete="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required disabled={sent} />
        {sent && <Field label="Code from the mail" id="email-code" autocomplete="one-time-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} required />}
        <button type="submit" disabled={busy}>{sent ? "Confirm" : "Change email"}</button>
      </form>
    </Card>
  );
}

function Password(props: { me: Me; onMe: (m: Me) => void }) {
  const { busy, run } = useAction();
  const [pw, setPw] = useState("");
  const [pw2, setPw2] = useState("");
  const [code, setCode] = useState("");
  const [lockSent, setLockSent] = useState(false);
  return (
    <Card title="Password" id="password">
      <form id="password-form" onSubmit={run(async () => {
        if (pw !== pw2) throw new Error("The two passwords differ.");
        await infra("user.passwordChange", { user_password: pw, user_passwordRepeat: pw2 });
        setPw(""); setPw2("");
        say("Your password was changed.");
      })}>
        <Field label="New password" id="pw-new" type="password" autocomplete="new-password" value={pw} onInput={(e) => setPw(e.currentTarget.value)} required disabled={props.me.passwordLocked} />
        <Field label="Repeat it" id="pw-repeat" type="password" autocomplete="new-password" value={pw2} onInput={(e) => setPw2(e.currentTarget.value)} required disabled={props.me.passwordLocked} />
        <button type="submit" disabled={busy || props.me.passwordLocked}>Change password</button>
      </form>
      <form id="lock-form" class="lock" onSubmit={run(async () => {
        const locking = !props.me.passwordLocked;
        const body: any = { user_password_locked: locking };
        if (lockSent) body.user_code = code.trim();
        const doc = await infra("user.passwordLock", body);
        const me = meFrom(doc);
        if (me.passwordLocked === props.me.passwordLocked && !lockSent) {
          setLockSent(true);
          say("A code was mailed to you; type it to confirm.");
          return;
        }
        setLockSent(false); setCode("");
        props.onMe(me);
        say(me.passwordLocked ? "Password changes are locked." : "Password changes are unlocked.");
      })}>
        <p id="lock-state">Password changes are <strong>{props.me.passwordLocked ? "locked" : "allowed"}</strong>.</p>
        {lockSent && <Field label="Code from the mail" id="lock-code" value={code} onInput={(e) => setCode(e.currentTarget.value)} required />}
        <button type="submit" id="lock-btn" disabled={busy}>{props.me.passwordLocked ? "Unlock password changes" : "Lock password changes"}</button>
      </form>
    </Card>
  );
}

const LIFETIMES: [string, number][] = [["1 hour", 3600], ["1 day", 86400], ["30 days", 30 * 86400], ["1 year", 365 * 86400]];

function Tokens() {
  const { busy, run } = useAction();
  const [tokens, setTokens] = useState<any[] | null>(null);
  const [life, setLife] = useState(86400);
  const [fresh, setFresh] = useState("");
  const load = async () => setTokens((await infra("token.get")).data || []);
  useEffect(() => { load().catch(sayError); }, []);
  return (
    <Card title="API tokens" id="tokens">
      <form class="row" id="token-form" onSubmit={run(async () => {
        const doc = await infra("token.create", { token_lifetime: life });
        setFresh(doc.data.attributes.token);
        await load();
        say("Token created: copy it now, it is shown only once.");
      })}>
        <label class="field"><span>Lifetime</span>
          <select id="token-life" value={life} onChange={(e) => setLife(Number(e.currentTarget.value))}>
            {LIFETIMES.map(([l, s]) => <option key={s} value={s}>{l}</option>)}
          </select>
        </label>
        <button type="submit" disabled={busy}>Create a token</button>
      </form>
      {fresh && (
        <div class="once" id="token-once">
          <input readOnly value={fresh} aria-label="The new token" id="token-value" />
          <button type="button" onClick={() => copy(fresh)}>Copy</button>
          <button type="button" onClick={() => setFresh("")}>Done</button>
        </div>
      )}
      <ul class="list" id="token-list" data-count={tokens ? tokens.length : 0}>
        {(tokens || []).map((t) => {
          const a = t.attributes;
          return (
            <li key={a.token_name} data-status={a.token_status}>
              <span><code>{a.token_name}</code> <small>{a.token_type} · {a.token_status}{a.token_time_expire ? ` · until ${when(a.token_time_expire)}` : ""}</small></span>
              {a.token_status === "active" && <button type="button" class="danger" disabled={busy} onClick={run(async () => {
                await infra("token.revoke", { token_name: a.token_name });
                say("The token was revoked.");
                await load();
              })}>Revoke</button>}
            </li>
          );
        })}
      </ul>
    </Card>
  );
}

function SSHKeys() {
  const { busy, run } = useAction();
  const [keys, setKeys] = useState<any[] | null>(null);
  const [name, setName] = useState("");
  const [pub, setPub] = useState("");
  const load = async () => setKeys((await infra("ssh-key.get")).data || []);
  useEffect(() => { load().catch(sayError); }, []);
  return (
    <Card title="SSH keys" id="sshkeys">
      <ul class="list" id="ssh-list" data-count={keys ? keys.length : 0}>
        {keys && keys.length === 0 && <li class="empty">No SSH key.</li>}
        {(keys || []).map((k) => (
          <li key={k.id}>
            <span><strong>{k.attributes.key_name}</strong> <small>{k.attributes.key_type}</small></span>
            <button type="button" class="danger" disabled={busy} onClick={run(async () => {
              await infra("ssh-key.delete", { key_id: k.attributes.key_id });
              say("The SSH key was removed.");
              await load();
            })}>Remove</button>
          </li>
        ))}
      </ul>
      <form id="ssh-form" onSubmit={run(async () => {
        await infra("ssh-key.add", { key_name: name, key_public: pub.trim() });
        setName(""); setPub("");
        say("The SSH key was added.");
        await load();
      })}>
        <Field label="Name" id="ssh-name" value={name} onInput={(e) => setName(e.currentTarget.value)} required />
        <label class="field"><span>Public key</span>
          <textarea id="ssh-public" rows={3} value={pub} onInput={(e) => setPub(e.currentTarget.value)} required placeholder="ssh-ed25519 AAAA…" />
        </label>
        <button type="submit" disabled={busy}>Add the key</button>
      </form>
    </Card>
  );
}
