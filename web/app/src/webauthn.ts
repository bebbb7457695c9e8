// webauthn.ts: passkeys. Options and answers travel as JSON with base64url binaries.
import { infra } from "./api";

export function enc(buf: ArrayBuffer): string {
  let s = "";
  for (const x of new Uint8Array(buf)) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function dec(str: string): ArrayBuffer {
  let s = String(str).replace(/-/g, "+").replace(/_/g, "/");
  while (s.length % 4) s += "=";
  const bin = atob(s);
  const b = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
  return b.buffer;
}

function need() {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    throw new Error("This browser cannot use passkeys here (WebAuthn needs https or localhost).");
  }
}

function credentialJSON(cred: any): object {
  const r = cred.response;
  const out: any = {
    id: cred.id, rawId: enc(cred.rawId), type: cred.type,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response: { clientDataJSON: enc(r.clientDataJSON) },
  };
  if (cred.authenticatorAttachment) out.authenticatorAttachment = cred.authenticatorAttachment;
  if (r.attestationObject) {
    out.response.attestationObject = enc(r.attestationObject);
    if (r.getTransports) out.response.transports = r.getTransports();
  } else {
    out.response.authenticatorData = enc(r.authenticatorData);
    out.response.signature = enc(r.signature);
    if (r.userHandle) out.response.userHandle = enc(r.userHandle);
  }
  return out;
}

// passkeyLogin runs a discoverable passkey login (no login name) and answers the login's token.
export async function passkeyLogin(): Promise<string> {
  need();
  const opts = await infra("user.assertionGet", { user_login: "" });
  const pk = { ...opts.data.attributes.options.publicKey };
  pk.challenge = dec(pk.challenge);
  pk.allowCredentials = (pk.allowCredentials || []).map((c: any) => ({ ...c, id: dec(c.id) }));
  const cred = await navigator.credentials.get({ publicKey: pk });
  if (!cred) throw new Error("No passkey was chosen.");
  const doc = await infra("user.assertionVerify", { user_login: "", credential: credentialJSON(cred) });
  return doc.data.attributes.token;
}

// addPasskey registers a new passkey for the logged-in account, named name ("": no name).
export async function addPasskey(login: string, name = ""): Promise<void> {
  need();
  const opts = await infra("user.credentialMake", { user_login: login });
  const pk = { ...opts.data.attributes.options.publicKey };
  pk.challenge = dec(pk.challenge);
  pk.user = { ...pk.user, id: dec(pk.user.id) };
  pk.excludeCredentials = (pk.excludeCredentials || []).map((c: any) => ({ ...c, id: dec(c.id) }));
  const cred = await navigator.credentials.create({ publicKey: pk });
  if (!cred) throw new Error("The browser created no passkey.");
  const body: Record<string, unknown> = { user_login: login, credential: credentialJSON(cred) };
  if (name) body.credential_name = name;
  await infra("user.credentialMake", body);
}
