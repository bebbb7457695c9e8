// share.tsx: a desktop's share links — create viewer or granter links, copy them, mail them, list and
// revoke them, reset all. A guest opens /#session=<id>&key=<key> and sees the desktop (types only as a
// granter: the server filters a viewer's input).
import { useEffect, useState } from "preact/hooks";
import { session, type ShareKey } from "./api";
import { copy, Dialog, Field, say, sayError, useAction } from "./ui";

export function shareLink(id: string, key: string): string {
  return new URL(`/#session=${encodeURIComponent(id)}&key=${encodeURIComponent(key)}`, window.location.href).href;
}

export function ShareDialog(props: { id: string; title: string; onClose: () => void }) {
  const { busy, run } = useAction();
  const [keys, setKeys] = useState<ShareKey[] | null>(null);
  const [email, setEmail] = useState("");
  const [perm, setPerm] = useState("viewer");
  const load = async () => setKeys((await session<ShareKey[]>("share/list", { id: props.id })) || []);
  useEffect(() => { load().catch(sayError); }, []);
  return (
    <Dialog title={`Share ${props.title}`} id="share" onClose={props.onClose}>
      <fieldset class="perm">
        <legend>Guests may</legend>
        <label class="check"><input type="radio" name="perm" value="viewer" checked={perm === "viewer"} onChange={() => setPerm("viewer")} /> watch (viewer)</label>
        <label class="check"><input type="radio" name="perm" value="granter" checked={perm === "granter"} onChange={() => setPerm("granter")} /> watch and type (granter)</label>
      </fieldset>
      <div class="row">
        <button type="button" id="share-create" class="primary" disabled={busy} onClick={run(async () => {
          setKeys(await session<ShareKey[]>("share/edit", { id: props.id, key: "", perms: [perm] }));
          say(`A ${perm} link was created.`);
        })}>Create a link</button>
      </div>
      <form class="row" id="share-mail" onSubmit={run(async () => {
        setKeys(await session<ShareKey[]>("share/email", { id: props.id, email, perms: [perm] }));
        say(`A ${perm} link was mailed to ${email}.`);
        setEmail("");
      })}>
        <Field label="Mail a link to" id="share-email" type="email" value={email} onInput={(e) => setEmail(e.currentTarget.value)} required />
        <button type="submit" disabled={busy}>Send</button>
      </form>
      <h3>Links</h3>
      {keys && keys.length === 0 && <p>No link shares this desktop.</p>}
      <ul class="keys" id="share-keys" data-count={keys ? keys.length : 0}>
        {(keys || []).map((k) => (
          <li key={k.key} data-perms={k.perms.join(",")}>
            <span class={`badge perm-${k.perms[0]}`}>{k.perms.join(", ")}</span>
            <input class="link" readOnly value={shareLink(props.id, k.key)} aria-label={`${k.perms.join(", ")} link`} />
            <button type="button" class="copy" onClick={() => copy(shareLink(props.id, k.key))}>Copy</button>
            <button type="button" class="revoke danger" disabled={busy} onClick={run(async () => {
              setKeys(await session<ShareKey[]>("share/delete", { id: props.id, key: k.key }));
              say("The link was revoked.");
            })}>Revoke</button>
          </li>
        ))}
      </ul>
      <div class="row-end">
        <button type="button" id="share-reset" class="danger" disabled={busy} onClick={run(async () => {
          setKeys(await session<ShareKey[]>("share/reset", { id: props.id }));
          say("Every link was revoked and the guests disconnected.");
        })}>Revoke all and disconnect guests</button>
      </div>
    </Dialog>
  );
}
