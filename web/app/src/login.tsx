// login.tsx: the one login of both surfaces. Password and host accounts go through the session
// surface's staged login (user/login: the local provider answers success at once, the ssh provider
// asks for the password, keyboard-interactive answers or a public key); passkeys log in without a
// login name; register and recover use the mailed code. Every way ends in keep(token): the server
// keeps the token as the HttpOnly session cookie and the script drops it.
import { useEffect, useState } from "preact/hooks";
import { infra, keep, session, type Me } from "./api";
import { passkeyLogin } from "./webauthn";
import { Field, say, useAction } from "./ui";

interface Stage { stage: string; token: string; prompt?: string; prompts?: string[]; echo?: boolean[]; instruction?: string; host?: string }

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

  const advance = async (st: Stage) => {
    // The ssh provider's first password stage takes the password typed above.
    for (let i = 0; i < 2 && st.stage === "password" && password; i++) {
      st = await session<Stage>("user/login/password", { password }, true, st.token);
      if (st.stage === "password") break;
    }
    if (st.stage === "success") {
      setStage(null);
      setPassword("");
      say("");
      props.onIn(await keep(st.token));
      return;
    }
    if (st.stage === "public-key") {
      throw new Error(`${st.host || "The server"} asks for an SSH key, which this page cannot use: log in with a password or a passkey.`);
    }
    setAnswers((st.prompts || [st.prompt || ""]).map(() => ""));
    setStage(st);
    say(st.stage === "password" ? "The password was refused; type it again." : "The server asks more:");
  };

  const submit = run(async () => {
    if (!stage) {
      if (!user.trim() || !password) throw new Error("Type your login and password.");
      say("Logging in…");
      await advance(await session<Stage>("user/login", { username: user.trim(), password }, true));
      return;
    }
    if (stage.stage === "password") {
      await advance(await session<Stage>("user/login/password", { password: answers[0] }, true, stage.token));
    } else {
      await advance(await session<Stage>("user/login/keyboard-interactive", { answer: answers }, true, stage.token));
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
            <Field label="Password" id="login-password" name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required />
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
