// api.js: how deskhub's pages call its three API surfaces — one call function per envelope, and the
// token a page keeps in sessionStorage (API).
//
//   session surface         POST /v3/api/<call>            {result}    | {error: {name, message}}
//   infrastructure surface  POST /api/v1/<resource.action>  {data, …}   | {errors: [{status, detail}]}
//   agent surface           /spawner/<session>/<endpoint>   {code, data} (on failure data is the message)
//
// A failure throws APIError: the server's own message, the HTTP status (0 when deskhub cannot be
// reached) and, on the session surface, the error's name.

// APIError is a failed API call.
export class APIError extends Error {
  constructor(message, status, name) {
    super(message);
    this.status = status;
    this.name = name || "APIError";
  }
}

// send makes the request; a network failure becomes an APIError of status 0.
async function send(what, url, init) {
  try {
    return await fetch(url, init);
  } catch (e) {
    throw new APIError(`${what}: deskhub cannot be reached (${e.message})`, 0);
  }
}

function headers(token, contentType) {
  const h = {};
  if (contentType) h["Content-Type"] = contentType;
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

// sessionCall POSTs body to /v3/api/<call> ("session/list") and returns the answer's result.
export async function sessionCall(call, body, token) {
  const resp = await send(call, `/v3/api/${call}`, {
    method: "POST", headers: headers(token, "application/json"), body: JSON.stringify(body || {}), cache: "no-store",
  });
  const doc = await resp.json().catch(() => null);
  if (!resp.ok || !doc || doc.error) {
    const err = doc && doc.error;
    throw new APIError((err && (err.message || err.name)) || `${call}: HTTP ${resp.status}`, resp.status, err && err.name);
  }
  return doc.result;
}

// infraCall POSTs body to /api/v1/<call> ("server.list") and returns the JSON:API document.
export async function infraCall(call, body, token) {
  const resp = await send(call, `/api/v1/${call}`, {
    method: "POST", headers: headers(token, "application/vnd.api+json"), body: JSON.stringify(body || {}),
  });
  const doc = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = doc && doc.errors && doc.errors[0];
    throw new APIError((e && e.detail) || `${call}: HTTP ${resp.status}`, resp.status);
  }
  return doc;
}

// agentCall calls the agent of session sessionID through the broker (/spawner/<id><endpoint>,
// endpoint "/version") and returns the answer's data. opts: method (GET unless a body is given),
// query (an object, for GET), body (sent as JSON), token, shareKey (X-Share-Key: a guest's key).
export async function agentCall(sessionID, endpoint, opts = {}) {
  const method = opts.method || (opts.body !== undefined ? "POST" : "GET");
  let url = `/spawner/${encodeURIComponent(sessionID)}${endpoint}`;
  if (opts.query) url += `?${new URLSearchParams(opts.query)}`;
  const h = headers(opts.token, opts.body !== undefined ? "application/json" : "");
  if (opts.shareKey) h["X-Share-Key"] = opts.shareKey;
  const init = { method, headers: h, cache: "no-store" };
  if (opts.body !== undefined) init.body = JSON.stringify(opts.body);
  const resp = await send(endpoint, url, init);
  const doc = await resp.json().catch(() => null);
  if (!resp.ok || !doc) {
    const msg = doc && typeof doc.data === "string" && doc.data;
    throw new APIError(msg || `${endpoint}: HTTP ${resp.status}`, resp.status);
  }
  return doc.data;
}

// API binds the three calls to the token a page keeps in sessionStorage under tokenKey. Each call
// takes the token last: undefined sends the stored one, "" none.
export class API {
  constructor(tokenKey) {
    this.tokenKey = tokenKey;
  }

  // token is the stored token (null when none); setting null or "" forgets it.
  get token() {
    return window.sessionStorage.getItem(this.tokenKey);
  }

  set token(t) {
    if (t) window.sessionStorage.setItem(this.tokenKey, t);
    else window.sessionStorage.removeItem(this.tokenKey);
  }

  session(call, body, token = this.token) {
    return sessionCall(call, body, token);
  }

  infra(call, body, token = this.token) {
    return infraCall(call, body, token);
  }

  agent(sessionID, endpoint, opts = {}) {
    return agentCall(sessionID, endpoint, Object.assign({ token: this.token }, opts));
  }
}
