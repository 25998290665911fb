/**
 * The `net_http` task: one request of net.http_get / http_post / http_delete
 * (sql/0019_automation.sql), made through the egress guard (core/egress.ts) and answered as
 * pg_net answers, in net._http_response (status_code, content_type, headers, content,
 * timed_out, error_msg). Like pg_net, a request is made once: a failure is an answer with
 * error_msg, not a retry.
 */
import type { Task } from 'graphile-worker';
import type pg from 'pg';
import { EgressTimeout, egressRequest, type EgressPolicy } from '../core/egress.ts';
import { netRequest, saveNetResponse } from './store.ts';

export const NET_HTTP_TASK = 'net_http';
/** Largest response body kept in net._http_response.content. */
const MAX_CONTENT_BYTES = 1024 * 1024;

export function netHttpTask(deps: { pool: pg.Pool; policy: EgressPolicy }): Task {
  return async (payload) => {
    const id = Number((payload as { id?: unknown })?.id);
    if (!Number.isSafeInteger(id)) return;
    const r = await netRequest(deps.pool, id);
    if (!r) return;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) headers[k] = typeof v === 'string' ? v : JSON.stringify(v);
    try {
      const url = new URL(r.url);
      for (const [k, v] of Object.entries(r.params)) url.searchParams.append(k, typeof v === 'string' ? v : JSON.stringify(v));
      const res = await egressRequest(deps.policy, { method: r.method, url: url.toString(), headers, body: r.body ?? undefined, timeoutMs: r.timeout_milliseconds, maxBodyBytes: MAX_CONTENT_BYTES });
      await saveNetResponse(deps.pool, id, {
        statusCode: res.status,
        contentType: res.contentType ?? null,
        headers: res.headers,
        content: res.body.toString('utf8'),
        timedOut: false,
        error: null,
      });
    } catch (err) {
      const timedOut = err instanceof EgressTimeout;
      await saveNetResponse(deps.pool, id, { statusCode: null, contentType: null, headers: null, content: null, timedOut, error: (err as Error).message || String(err) });
    }
  };
}
