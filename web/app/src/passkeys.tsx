// passkeys.tsx: the account page's passkeys — add one (with an optional name), rename, remove. The
// name travels with the credential (user.credentialMake's credential_name) and changes with
// user.credentialRename (deskhub extensions).
import { useEffect, useState } from "preact/hooks";
import { infra, type Me } from "./api";
import { addPasskey } from "./webauthn";
import { Card, Field, say, sayError, useAction, when } from "./ui";

export function Passkeys(props: { me: Me }) {
  const { busy, run } = useAction();
  const [keys, setKeys] = useState<any[] | null>(null);
  const [name, setName] = useState("");
  const [editing, setEditing] = useState("");
  const [newName, setNewName] = useState("");
  const load = async () => setKeys((await infra("user.credentialGet")).data || []);
  useEffect(() => { load().catch(sayError); }, []);
  return (
    <Card title="Passkeys" id="passkeys">
      <ul class="list" id="passkey-list" data-count={keys ? keys.length : 0}>
        {keys && keys.length === 0 && <li class="empty">No passkey yet.</li>}
        {(keys || []).map((k) => {
          const id = k.attributes.credential_id || k.id;
          const label = k.attributes.credential_name || "Unnamed passkey";
          if (editing === id) {
            return (
              <li key={id} data-id={id}>
                <form class="row passkey-rename" id="passkey-rename" onSubmit={run(async () => {
                  await infra("user.credentialRename", { credential_id: id, credential_name: newName.trim() });
                  say(newName.trim() ? `The passkey is now called ${newName.trim()}.` : "The passkey's name was removed.");
                  setEditing("");
                  await load();
                })}>
                  <Field label={`New name for ${label}`} id="passkey-new-name" value={newName} maxLength={64} autocomplete="off"
                    onInput={(e) => setNewName(e.currentTarget.value)} />
                  <button type="submit" class="primary" id="passkey-rename-save" disabled={busy}>Save</button>
                  <button type="button" onClick={() => { setEditing(""); say(""); /* a refused name's error ends with the form */ }}>Cancel</button>
                </form>
              </li>
            );
          }
          return (
            <li key={id} data-id={id} data-name={k.attributes.credential_name || ""}>
              <span><strong class="passkey-name">{label}</strong> <small>added {when(k.attributes.credential_created_at || k.attributes.key_timeadd)}
                {k.attributes.credential_last_used_at ? ` · last used ${when(k.attributes.credential_last_used_at)}` : ""}</small></span>
              <span class="row-end">
                <button type="button" data-action="rename" disabled={busy} aria-label={`Rename ${label}`}
                  onClick={() => { setEditing(id); setNewName(k.attributes.credential_name || ""); }}>Rename</button>
                <button type="button" class="danger" data-action="remove" disabled={busy} aria-label={`Remove ${label}`} onClick={run(async () => {
                  await infra("user.credentialDelete", { credential_id: id });
                  say("The passkey was removed.");
                  await load();
                })}>Remove</button>
              </span>
            </li>
          );
        })}
      </ul>
      <form class="row" id="passkey-add" onSubmit={run(async () => {
        say("Follow your browser to create the passkey…");
        await addPasskey(props.me.login, name.trim());
        setName("");
        await load();
        say("Passkey added: you can now log in with it, without typing your login.");
      })}>
        <Field label="Name (optional)" id="passkey-name" value={name} maxLength={64} autocomplete="off" placeholder="e.g. Work laptop"
          onInput={(e) => setName(e.currentTarget.value)} />
        <button type="submit" id="add-passkey" disabled={busy}>Add a passkey</button>
      </form>
    </Card>
  );
}
