// The admin API from the page: JSON in and out, the session cookie sent by the browser, the
// CSRF token (from /admin/api/me or sign-in) on every mutating request.
import { h } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

let csrf = '';
export const setCsrf = (token) => (csrf = token || '');

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

/** `api('POST', '/tables', body)` → parsed JSON; throws ApiError on 4xx/5xx. */
export async function api(method, path, body, extra = {}) {
  const headers = { ...extra.headers };
  if (method !== 'GET') headers['x-csrf-token'] = csrf;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    payload = body;
    headers['content-type'] = 'application/octet-stream';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`/admin/api${path}`, { method, headers, body: payload, credentials: 'same-origin', cache: 'no-store' });
  if (extra.raw) {
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => ({})));
    return res;
  }
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { message: text };
  }
  if (!res.ok) {
    if (res.status === 401 && path !== '/login' && path !== '/me') window.dispatchEvent(new Event('admin:signed-out'));
    throw new ApiError(res.status, json);
  }
  return json;
}

/** `encodeURIComponent` for each path segment. */
export const seg = (...parts) => parts.map((p) => encodeURIComponent(p)).join('/');

/** A cell's text: JSON values as JSON, null as NULL. */
export function cellText(v) {
  if (v === null || v === undefined) return 'NULL';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** An error as the page shows it (announced to screen readers). */
export function Alert({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message || String(error)}</p>`;
}

/** `[data, error, reload]` of an async loader, reloaded when `deps` change. */
export function useLoad(fn, deps) {
  const [state, setState] = useState({ data: undefined, error: null });
  const reload = () => fn().then((data) => setState({ data, error: null }), (error) => setState({ data: undefined, error }));
  useEffect(() => {
    reload();
  }, deps);
  return [state.data, state.error, reload];
}
