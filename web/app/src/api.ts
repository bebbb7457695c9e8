// api.ts: how the app calls deskhub's three API surfaces. Every call is same-origin and authenticated
// by the session cookie (HttpOnly, SameSite=Strict; user.cookie sets it), never by a token the script
// holds. Each request carries X-Deskhub-Request, the server's CSRF check beside Origin
// (docs/SECURITY.md).
//
//   session surface         POST /v3/api/<call>             {result}   | {error: {name, message}}
//   infrastructure surface  POST /api/v1/<resource.action>  {data, …}  | {errors: [{status, detail}]}
//   agent surface           /spawner/<session>/<endpoint>   {code, data} (on failure data is the message)

export class APIError extends Error {
  status: number;
  constructor(message: string, status: number) {
    super(message);
    this.status = status;
    this.name = "APIError";
  }
}

// onUnauthorized is called when a call that needs a login answers 401 (the login ended elsewhere).
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void) {
  onUnauthorized = fn;
}

async function send(what: string, url: string, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("X-Deskhub-Request", "1");
  try {
    return await fetch(url, { ...init, headers, credentials: "same-origin", cache: "no-store" });
  } catch (e) {
    throw new APIError(`${what}: deskhub cannot be reached (${(e as Error).message})`, 0);
  }
}

function fail(resp: Response, message: string, quiet401: boolean): never {
  if (resp.status === 401 && !quiet401) onUnauthorized();
  throw new APIError(message, resp.status);
}

// session POSTs body to /v3/api/<call> (or /v3/<call> when call starts with "system/"). stageToken
// is the token of a staged login under way (user/login/…), sent as the bearer token.
export async function session<T = any>(call: string, body: object = {}, quiet401 = false, stageToken = ""): Promise<T> {
  const url = call.startsWith("system/") ? `/v3/${call}` : `/v3/api/${call}`;
  const headers: Record<string, string> = { "Content-Type": "application/json" };
  if (stageToken) headers.Authorization = `Bearer ${stageToken}`;
  const resp = await send(call, url, { method: "POST", headers, body: JSON.stringify(body) });
  const doc = await resp.json().catch(() => null);
  if (!resp.ok || !doc || doc.error) {
    const e = doc && doc.error;
    fail(resp, (e && (e.message || e.name)) || `${call}: HTTP ${resp.status}`, quiet401);
  }
  return doc.result as T;
}

// infra POSTs body to /api/v1/<call> and returns the JSON:API document.
export async function infra<T = any>(call: string, body: object = {}, quiet401 = false): Promise<T> {
  const resp = await send(call, `/api/v1/${call}`, {
    method: "POST", headers: { "Content-Type": "application/vnd.api+json" }, body: JSON.stringify(body),
  });
  const doc = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = doc && doc.errors && doc.errors[0];
    fail(resp, (e && e.detail) || `${call}: HTTP ${resp.status}`, quiet401);
  }
  return doc as T;
}

// agent calls the agent of a session through the broker; a guest passes its share key.
export async function agent<T = any>(id: string, endpoint: string, opts: { method?: string; body?: unknown; query?: Record<string, string>; shareKey?: string } = {}): Promise<T> {
  const method = opts.method || (opts.body !== undefined ? "POST" : "GET");
  let url = `/spawner/${encodeURIComponent(id)}${endpoint}`;
  if (opts.query) url += `?${new URLSearchParams(opts.query)}`;
  const headers: Record<string, string> = {};
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.shareKey) headers["X-Share-Key"] = opts.shareKey;
  const resp = await send(endpoint, url, { method, headers, body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined });
  const doc = await resp.json().catch(() => null);
  if (!resp.ok || !doc) {
    fail(resp, (doc && typeof doc.data === "string" && doc.data) || `${endpoint}: HTTP ${resp.status}`, !!opts.shareKey);
  }
  return doc.data as T;
}

// wsURL turns a path of this origin into its websocket URL.
export function wsURL(path: string): string {
  const u = new URL(path, window.location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  return u.href;
}

// ---- shapes the app reads ----

export interface Me { id: number; login: string; email: string; admin: boolean; passwordLocked: boolean }

export function meFrom(doc: any): Me {
  const a = (doc && doc.data && doc.data.attributes) || {};
  return { id: a.user_id, login: a.user_login || a.login, email: a.user_email || a.email, admin: a.group === 1 || !!a.user_admin, passwordLocked: !!a.password_locked };
}

export interface Desktop {
  id: string; name: string; command: string; geometry: string; state: string; serverId: string;
  hostname: string; started: string; clients: number; login: string; params: Record<string, unknown>;
}

export interface Connect { id: string; url: string; password: string; geometry: string }

export interface Bookmark { id: string; command: string; name?: string; geometry?: string; tags?: string[] }

export interface ShareKey { id: string; key: string; perms: string[]; timeout?: number; keyId?: string }

// keep makes the browser keep a login's token as the session cookie, and answers the account.
export async function keep(token: string): Promise<Me> {
  return meFrom(await infra("user.cookie", { token }));
}
