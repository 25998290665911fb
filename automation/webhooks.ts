/**
 * The `webhook_deliver` task: POSTs the due deliveries of one hook (recorded by its row trigger,
 * one job queued per transaction, sql/0019_automation.sql) — Supabase's payload `{type, table,
 * schema, record, old_record}` — through the egress guard (core/egress.ts), in batches claimed
 * with a lease (several workers never send one twice at once), signed with the hook's secret:
 *
 *   X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>
 *   X-Webhook-Id: <delivery id> (the same on every retry: receivers can drop duplicates)
 *
 * A 2xx answer delivers it. Anything else (another status, a timeout, a refused connection) is
 * retried after retryBaseMs · 2^(attempt-1) (at most an hour) until the hook's max_attempts,
 * then the delivery is dead (webhooks.retry(id) queues it again). A target the egress policy
 * refuses is dead at once. Every attempt is logged in webhooks.attempts.
 */
import { createHmac } from 'node:crypto';
import type { Task } from 'graphile-worker';
import type pg from 'pg';
import { EgressRefused, egressRequest, type EgressPolicy } from '../core/egress.ts';
import { claimDeliveries, hook, recordAttempts, type AttemptOutcome, type DueDelivery, type Hook } from './store.ts';

export const WEBHOOK_DELIVER_TASK = 'webhook_deliver';
/** Bytes of the receiver's answer kept in the log. */
const EXCERPT_BYTES = 1024;
const MAX_RETRY_MS = 3_600_000;
/** Deliveries one job claims (and POSTs in parallel) at a time. */
const BATCH = 50;
/** How long past the hook's timeout a claimed delivery stays leased to its worker. */
const LEASE_MARGIN_MS = 30_000;

export interface WebhookDeps {
  pool: pg.Pool;
  policy: EgressPolicy;
  retryBaseMs: number;
}

/** The signature header's value for `body` under `secret`. */
export function webhookSignature(secret: string, body: string | Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Delay before the attempt after `attempt` (1-based) failed. */
export const retryDelay = (baseMs: number, attempt: number) => Math.min(MAX_RETRY_MS, baseMs * 2 ** (attempt - 1));

/** One POST of a delivery; its outcome (never throws). */
async function attempt(deps: WebhookDeps, h: Hook, d: DueDelivery): Promise<AttemptOutcome> {
  const body = JSON.stringify(d.payload);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'NextMavens-Webhooks/1' };
  for (const [k, v] of Object.entries(h.headers)) headers[k.toLowerCase()] = typeof v === 'string' ? v : JSON.stringify(v);
  headers['x-webhook-id'] = d.id;
  headers['x-webhook-signature'] = webhookSignature(h.secret, body);
  const n = d.attempts + 1;
  const started = performance.now();
  let statusCode: number | null = null;
  let excerpt: string | null = null;
  let error: string | null = null;
  let refused = false;
  try {
    const res = await egressRequest(deps.policy, { method: 'POST', url: h.url, headers, body, timeoutMs: h.timeout_ms, maxBodyBytes: EXCERPT_BYTES });
    statusCode = res.status;
    excerpt = res.body.toString('utf8');
    if (statusCode < 200 || statusCode > 299) error = `HTTP ${statusCode}`;
  } catch (err) {
    refused = err instanceof EgressRefused;
    error = (err as Error).message || String(err);
  }
  const latencyMs = Math.round(performance.now() - started);
  const status = error === null ? 'delivered' : refused || n - d.retried_after >= h.max_attempts ? 'dead' : 'retrying';
  return { id: d.id, attempt: n, status, statusCode, latencyMs, excerpt, error, retryInMs: retryDelay(deps.retryBaseMs, n - d.retried_after) };
}

/** Delivers every due delivery of one hook, BATCH at a time, each batch's POSTs in parallel. */
export function webhookDeliverTask(deps: WebhookDeps): Task {
  return async (payload) => {
    const hookId = Number((payload as { hook?: unknown })?.hook);
    if (!Number.isSafeInteger(hookId)) return;
    const h = await hook(deps.pool, hookId);
    if (!h?.enabled) return;
    for (;;) {
      const batch = await claimDeliveries(deps.pool, hookId, BATCH, h.timeout_ms + LEASE_MARGIN_MS);
      if (!batch.length) return;
      await recordAttempts(deps.pool, hookId, await Promise.all(batch.map((d) => attempt(deps, h, d))));
      if (batch.length < BATCH) return;
    }
  };
}
