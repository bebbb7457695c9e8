// ui.js: what deskhub's pages share on screen — element lookup, the status line, and act, which wraps
// a UI action (buttons stay disabled while it runs; its failure becomes the status). API calls are in
// api.js.
export const $ = (id) => document.getElementById(id);

// say shows msg in #status; class "error" marks a failure.
export function say(msg, isError) {
  const st = $("status");
  st.textContent = msg || "";
  st.className = isError ? "error" : "";
}

// act wraps fn as an event handler: the element that fired stays disabled while fn runs, and a
// failure is said as the status; onUnauthorized runs when it was a 401 (the login expired).
export function act(fn, onUnauthorized) {
  return async (ev) => {
    if (ev && ev.preventDefault) ev.preventDefault();
    const el = ev && ev.currentTarget;
    if (el && "disabled" in el) el.disabled = true;
    try {
      await fn(ev);
    } catch (e) {
      say(e.message || String(e), true);
      if (e.status === 401 && onUnauthorized) onUnauthorized();
    } finally {
      if (el && "disabled" in el) el.disabled = false;
    }
  };
}
