// login.tsx: the one login of both surfaces. Password and host accounts go through the session
// surface's staged login (user/login: the local provider answers success at once, the ssh provider
// asks for the password, keyboard-interactive answers or a public key); passkeys log in without a
// login name; register and recover use the mailed code. Every way ends in keep(token): the server
// keeps the token as the HttpOnly session cookie and the script drops it. The public-key stage is
// answered here with a private key the user picks or pastes (sshkey.ts, loaded only then): the key
// never leaves the page, deskhub gets the public key and a signature of the bytes the sshd asks for.
import { useEffect, useRef, useState } from "preact/hooks";
import { infra, keep, session, type Me } from "./api";
import { passkeyLogin } from "./webauthn";
import { Field, say, useAction } from "./ui";
import type { PrivateKey } from "./sshkey";

// loadKey parses a private key file with dist/sshkey.js, imported the first time a key is picked.
async function loadKey(text: string): Promise<PrivateKey> {
  const url = "/app/sshkey.js";
  const m = (await import(url)) as typeof import("./sshkey");
  return m.PrivateKey.parse(text);
}
const b64 = (b: Uint8Array) => btoa(Array.from(b, (c) => String.fromCharCode(c)).join(""));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

interface Stage { stage: string; token: string; prompt?: string; prompts?: string[]; echo?: boolean[]; instruction?: string; host?: string; data?: string; algorithm?: string }

type Mode = "login" | "register" | "recover";

export function Login(props: { onIn: (me: Me) => void }) {
  const [mode, setMode] = useState<Mode>("login");
  const [cfg, setCfg] = useState<any>({});
  useEffect(() => {
    infra("config.get", {}, true).then((d) => setCfg(d.data.attributes || {}), () => {});
  }, []);
  return (
    <main id="login" class="login">
      <div class="login-box">
        <h1 class="brand-big">deskhub</h1>
        <nav class="tabs" aria-label="Ways in">
          <button type="button" aria-pressed={mode === "login"} onClick={() => setMode("login")}>Log in</button>
          {!cfg.disable_user_registration && <button type="button" id="tab-register" aria-pressed={mode === "register"} onClick={() => setMode("register")}>Register</button>}
          {!cfg.disable_user_recovery && <button type="button" id="tab-recover" aria-pressed={mode === "recover"} onClick={() => setMode("recover")}>Forgot password</button>}
        </nav>
        {mode === "login" && <PasswordLogin onIn={props.onIn} passkeys={cfg.webauth_enabled !== false} />}
        {mode === "register" && <Register onIn={props.onIn} />}
        {mode === "recover" && <Recover onDone={() => setMode("login")} />}
      </div>
    </main>
  );
}

function PasswordLogin(props: { onIn: (me: Me) => void; passkeys: boolean }) {
  const { busy, run } = useAction();
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [stage, setStage] = useState<Stage | null>(null);
  const [answers, setAnswers] = useState<string[]>([]);
  const [key, setKey] = useState<PrivateKey | null>(null);
  const [keyText, setKeyText] = useState("");
  const [passphrase, setPassphrase] = useState("");

  const picked = useRef(0); // the latest key text read (a slower read of older text is dropped)
  const pickKey = (text: string) => {
    const n = ++picked.current;
    setKeyText(text);
    setKey(null);
    if (!text.trim()) return;
    loadKey(text).then((k) => { if (n === picked.current) { setKey(k); say(""); } },
      (e) => { if (n === picked.current) say((e as Error).message, true); });
  };

  // advance answers stage st: on its own when it can (typed is the password typed above, not yet
  // given to a stage; the key signs), else by showing its prompts.
  const advance = async (st: Stage, typed: string): Promise<void> => {
    // The ssh provider's password stage, or a keyboard-interactive round asking only for the password
    // (PAM's "Password:"), takes the password typed above, once.
    if (typed && st.stage === "password") {
      return advance(await session<Stage>("user/login/password", { password: typed }, true, st.token), "");
    }
    const prompts = st.prompts || [];
    if (typed && st.stage === "keyboard-interactive" && prompts.length === 1 && !(st.echo && st.echo[0]) && /^\s*password:?\s*$/i.test(prompts[0])) {
      return advance(await session<Stage>("user/login/keyboard-interactive", { answer: [typed] }, true, st.token), "");
    }
    if (st.stage === "success") {
      setStage(null);
      setPassword("");
      if (key) { key.forget(); setKey(null); setKeyText(""); setPassphrase(""); }
      say("");
      props.onIn(await keep(st.token));
      return;
    }
    if (st.stage === "public-key") {
      if (!key) throw new Error(`${st.host || "The server"} asks for an SSH key: pick your private key under "Use an SSH key" and log in again.`);
      if (!st.data) { // the sshd asks which key: offer the public key
        say("Offering the SSH key…");
        return advance(await session<Stage>("user/login/public-key", { publicKey: b64(key.publicKey) }, true, st.token), typed);
      }
      // The sshd accepts the key: sign what it asks, here, with the private key.
      say("Signing with the SSH key…");
      const sig = await key.sign(unb64(st.data), st.algorithm || key.type);
      return advance(await session<Stage>("user/login/public-key/signed", { signature: b64(sig) }, true, st.token), typed);
    }
    setAnswers((st.prompts || [st.prompt || ""]).map(() => ""));
    setStage(st);
    say(st.stage === "password" ? "The server asks for the password:" : "The server asks more:");
  };

  const submit = run(async () => {
    if (!stage) {
      if (!user.trim() || (!password && !keyText.trim())) throw new Error("Type your login and password (or pick an SSH key).");
      if (keyText.trim() && !key) throw new Error("The SSH key could not be read; pick or paste another.");
      if (key && key.encrypted && !key.unlocked) {
        if (!passphrase) throw new Error("Type the SSH key's passphrase.");
        say("Opening the SSH key…");
        await key.unlock(passphrase);
      }
      say("Logging in…");
      const first = await session<Stage>("user/login", { username: user.trim(), password: password || undefined, usePK: !!key }, true);
      // user/login answered the first password stage with the password already; any other first stage did not use it.
      await advance(first, password);
      return;
    }
    if (stage.stage === "password") {
      await advance(await session<Stage>("user/login/password", { password: answers[0] }, true, stage.token), "");
    } else {
      await advance(await session<Stage>("user/login/keyboard-interactive", { answer: answers }, true, stage.token), "");
    }
  });

  const passkey = run(async () => {
    say("Choose your passkey in the browser's prompt…");
    const token = await passkeyLogin();
    say("");
    props.onIn(await keep(token));
  });

  return (
    <div>
      <form id="login-form" onSubmit={submit} aria-label="Log in">
        {!stage && (
          <>
            <Field label="Login" id="login-user" name="username" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required />
            <Field label="Password" id="login-password" name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required={!keyText.trim()} />
            <details id="login-key" class="login-key">
              <summary>Use an SSH key</summary>
              <p class="hint">For host accounts whose server asks for a key. The private key stays in this page: deskhub gets only the public key and a signature.</p>
              <label class="field">
                <span>Private key file</span>
                <input id="login-key-file" type="file" onChange={(e) => { const f = e.currentTarget.files && e.currentTarget.files[0]; if (f) f.text().then(pickKey); }} />
              </label>
              <label class="field">
                <span>or paste it</span>
                <textarea id="login-key-text" rows={3} spellcheck={false} autocomplete="off" placeholder="-----BEGIN OPENSSH PRIVATE KEY-----" value={keyText} onInput={(e) => pickKey(e.currentTarget.value)} />
              </label>
              {key && <p id="login-key-info" data-type={key.type}>{key.type} key{key.comment ? ` (${key.comment})` : ""}{key.encrypted ? ", protected by a passphrase" : ""}</p>}
              {key && key.encrypted && <Field label="Key passphrase" id="login-key-pass" type="password" autocomplete="off" value={passphrase} onInput={(e) => setPassphrase(e.currentTarget.value)} />}
            </details>
          </>
        )}
        {stage && (
          <fieldset id="login-stage" data-stage={stage.stage}>
            <legend>{stage.host ? `${stage.host} asks` : "The server asks"}</legend>
            {stage.instruction && <p>{stage.instruction}</p>}
            {(stage.prompts || [stage.prompt || "Password"]).map((p, i) => (
              <Field key={i} label={p || "Answer"} class="stage-answer" type={stage.echo && stage.echo[i] ? "text" : "password"} value={answers[i] || ""}
                onInput={(e) => { const a = [...answers]; a[i] = e.currentTarget.value; setAnswers(a); }} autocomplete="off" />
            ))}
          </fieldset>
        )}
        <button id="login-btn" type="submit" class="primary" disabled={busy}>{stage ? "Answer" : "Log in"}</button>
        {stage && <button type="button" onClick={() => setStage(null)}>Start again</button>}
      </form>
      {props.passkeys && (
        <div class="or">
          <span>or</span>
          <button id="passkey-login" type="button" onClick={passkey} disabled={busy}>Log in with a passkey</button>
        </div>
      )}
    </div>
  );
}

function Register(props: { onIn: (me: Me) => void }) {
  const { busy, run } = useAction();
  const [f, setF] = useState({ login: "", email: "", password: "", code: "" });
  const [sent, setSent] = useState(false);
  const set = (k: keyof typeof f) => (e: any) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = run(async () => {
    const body: any = { user_login: f.login, user_email: f.email, user_password: f.password, user_passwordRepeat: f.password };
    if (sent) body.user_code = f.code.trim();
    await infra("user.register", body, true);
    if (!sent) {
      setSent(true);
      say(`A code was mailed to ${f.email}; type it below.`);
      return;
    }
    const doc = await infra("user.login", { user_login: f.login, user_password: f.password }, true);
    props.onIn(await keep(doc.data.attributes.token));
  });
  return (
    <form id="register-form" onSubmit={submit} aria-label="Register">
      <Field label="Login" id="reg-login" autocomplete="username" value={f.login} onInput={set("login")} required disabled={sent} />
      <Field label="Email" id="reg-email" type="email" autocomplete="email" value={f.email} onInput={set("email")} required disabled={sent} />
      <Field label="Password" id="reg-password" type="password" autocomplete="new-password" value={f.password} onInput={set("password")} required disabled={sent} />
      {sent && <Field label="Code from the mail" id="reg-code" autocomplete="one-time-code" value={f.code} onInput={set("code")} required />}
      <button type="submit" class="primary" id="reg-btn" disabled={busy}>{sent ? "Create the account" : "Mail me a code"}</button>
    </form>
  );
}

function Recover(props: { onDone: () => void }) {
  const { busy, run } = useAction();
  const [f, setF] = useState({ email: "", password: "", code: "" });
  const [sent, setSent] = useState(false);
  const set = (k: keyof typeof f) => (e: any) => setF({ ...f, [k]: e.currentTarget.value });
  const submit = run(async () => {
    if (!sent) {
      await infra("user.recovery", { user_email: f.email }, true);
      setSent(true);
      say(`If ${f.email} has an account, a code was mailed to it.`);
      return;
    }
    await infra("user.recovery", { user_email: f.email, user_code: f.code.trim(), user_password: f.password, user_passwordRepeat: f.password }, true);
    say("Your password was changed; log in with it.");
    props.onDone();
  });
  return (
    <form id="recover-form" onSubmit={submit} aria-label="Recover the password">
      <Field label="Email" id="rec-email" type="email" autocomplete="email" value={f.email} onInput={set("email")} required disabled={sent} />
      {sent && <Field label="Code from the mail" id="rec-code" autocomplete="one-time-code" value={f.code} onInput={set("code")} required />}
      {sent && <Field label="New password" id="rec-password" type="password" autocomplete="new-password" value={f.password} onInput={set("password")} required />}
      <button type="submit" class="primary" id="rec-btn" disabled={busy}>{sent ? "Set the password" : "Mail me a code"}</button>
    </form>
  );
}
