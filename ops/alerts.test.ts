/**
 * Alerts end to end over a real stack whose Postgres sits behind a TCP proxy: a local fake
 * Telegram Bot API and webhook receivers assert what was sent. Deployment hooks, a job failing its
 * last attempt, a 5xx rate over the threshold (and its resolution), and Postgres taken away under
 * the running stack: exactly one "down" after ALERT_DB_DOWN_SECONDS, one "resolved" when it is back.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStackBehindProxy, type StackBehindProxy } from '../test/helpers/db-outage.ts';
import { startAlertReceivers, type AlertReceivers } from '../test/helpers/alert-receivers.ts';
import { until } from '../test/helpers/wait.ts';

const BOT_TOKEN = '123456:test-bot-token';
const CHANNEL = '-1001234567890';
const SECRET = 'webhook-signing-secret';
const HOOK_TOKEN = 'deploy-hook-token-0123456789';

let t: StackBehindProxy;
let rx: AlertReceivers;

beforeAll(async () => {
  rx = await startAlertReceivers();
  t = await startStackBehindProxy({
    fixtures: 'rest-basic.sql',
    sql: `create function public.boom() returns int language plpgsql as $$ begin raise exception 'boom' using errcode = 'XX000'; end $$;`,
    env: {
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_CHANNEL_ID: CHANNEL,
      TELEGRAM_API_URL: rx.url,
      ALERT_WEBHOOK_URL: `${rx.url}/hook`,
      ALERT_WEBHOOK_SECRET: SECRET,
      ALERT_SLACK_WEBHOOK_URL: `${rx.url}/slack`,
      ALERT_DISCORD_WEBHOOK_URL: `${rx.url}/discord`,
      ALERT_INTERVAL: '1',
      ALERT_DB_DOWN_SECONDS: '2',
      ALERT_WINDOW_MINUTES: '1',
      DEPLOY_HOOK_TOKEN: HOOK_TOKEN,
    },
  });
}, 60_000);

afterAll(async () => {
  await t?.close();
  await rx?.close();
});

const telegramTexts = (match: string) => rx.telegram(BOT_TOKEN).filter((m) => m.text.includes(match)).map((m) => m.text);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function verifySignature(header: string | undefined, raw: string): boolean {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  return !!m && createHmac('sha256', SECRET).update(`${m[1]}.${raw}`).digest('hex') === m[2];
}

describe('deployment hooks', () => {
  it('refuse a request without the token, and bad bodies with 400', async () => {
    const none = await fetch(`${t.stack.url}/ops/hooks/deploy`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"failed"}' });
    expect(none.status).toBe(401);
    const wrong = await fetch(`${t.stack.url}/ops/hooks/deploy?token=${HOOK_TOKEN}x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"failed"}' });
    expect(wrong.status).toBe(401);
    const bad = await fetch(`${t.stack.url}/ops/hooks/deploy?token=${HOOK_TOKEN}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"status":"maybe"}' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ code: 'bad_request', message: expect.any(String) });
  });

  it("turn Dokploy's build error into one critical alert on every channel", async () => {
    const body = {
      title: 'Build Error',
      message: 'Build failed with errors',
      projectName: 'shop',
      applicationName: 'api',
      applicationType: 'application',
      errorMessage: 'npm ERR! code ELIFECYCLE',
      buildLink: 'https://dokploy.example.com/project/1/services/application/2',
      timestamp: new Date().toISOString(),
      status: 'error',
      type: 'build',
    };
    const res = await fetch(`${t.stack.url}/ops/hooks/dokploy`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${HOOK_TOKEN}` }, body: JSON.stringify(body) });
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ accepted: true, outcome: 'failed' });
    await until(() => telegramTexts('deployment of shop/api failed').length === 1, 15_000, 'the Telegram message');
    const [text] = telegramTexts('deployment of shop/api failed');
    expect(text).toContain('npm ERR! code ELIFECYCLE');
    expect(text).toContain('[critical]');
    expect(rx.telegram(BOT_TOKEN).at(-1)!.chat_id).toBe(CHANNEL);
    await until(() => rx.at('/hook').some((r) => r.json?.rule === 'deploy_failed'), 15_000, 'the webhook');
    const hook = rx.at('/hook').find((r) => r.json?.rule === 'deploy_failed')!;
    expect(verifySignature(hook.headers['x-nextmavens-signature'] as string, hook.raw)).toBe(true);
    expect(hook.json).toMatchObject({ status: 'event', severity: 'critical', details: { url: body.buildLink } });
    await until(() => rx.at('/slack').some((r) => String(r.json?.text).includes('shop/api')) && rx.at('/discord').some((r) => String(r.json?.content).includes('shop/api')), 15_000, 'Slack and Discord');
  });

  it('retry a delivery the channel refused, with back-off, until it is sent once', async () => {
    rx.failNext(1, '/bot');
    const res = await fetch(`${t.stack.url}/ops/hooks/deploy?token=${HOOK_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'failed', service: 'worker', id: 'run-7', message: 'tests failed' }),
    });
    expect(res.status).toBe(202);
    await until(() => telegramTexts('deployment of worker failed').length === 1, 20_000, 'the retried message');
    expect(rx.failed).toEqual([`/bot${BOT_TOKEN}/sendMessage`]);
    await sleep(1000);
    expect(telegramTexts('deployment of worker failed')).toHaveLength(1);
  });

  it('take a generic CI hook: a success is an info event', async () => {
    const res = await fetch(`${t.stack.url}/ops/hooks/deploy?token=${HOOK_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'succeeded', service: 'web', environment: 'production', id: 'run-42' }),
    });
    expect(res.status).toBe(202);
    await until(() => telegramTexts('deployment of web (production) succeeded').length === 1, 15_000, 'the success message');
    // The same deployment reported twice is one event.
    const again = await fetch(`${t.stack.url}/ops/hooks/deploy?token=${HOOK_TOKEN}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ status: 'succeeded', service: 'web', environment: 'production', id: 'run-42' }),
    });
    expect(await again.json()).toMatchObject({ alert: null });
  });
});

describe('rules', () => {
  it('a job that fails its last attempt is alerted once', async () => {
    await t.db.admin.query(`select graphile_worker.add_job('send_email', $1::json, max_attempts := 1)`, [JSON.stringify({ action: 'signup', user_id: 'not-a-uuid', email: 'x@example.com' })]);
    await until(() => telegramTexts('failed its last attempt').length === 1, 20_000, 'the failed-job alert');
    expect(telegramTexts('failed its last attempt')[0]).toContain('send_email');
    await sleep(2500);
    expect(telegramTexts('failed its last attempt')).toHaveLength(1);
  });

  it('an error rate over the threshold fires once and resolves once', async () => {
    const call = async (path: string) => {
      const res = await fetch(`${t.stack.url}/rest/v1/${path}`, { headers: { apikey: t.db.config.anonKey } });
      await res.body?.cancel();
      return res.status;
    };
    for (let i = 0; i < 25; i++) expect(await call('rpc/boom')).toBe(500);
    await until(() => telegramTexts('FIRING').some((m) => m.includes('rest:') && m.includes('failed (5xx)')), 15_000, 'the error-rate alert');
    await sleep(2500);
    expect(telegramTexts('failed (5xx)').filter((m) => m.includes('FIRING'))).toHaveLength(1);
    // Enough good requests bring the window under 5 %.
    for (let i = 0; i < 40; i++) await Promise.all(Array.from({ length: 15 }, () => call('clients')));
    await until(() => telegramTexts('RESOLVED').some((m) => m.includes('failed (5xx)')), 15_000, 'the resolution');
    await sleep(2500);
    expect(telegramTexts('failed (5xx)')).toHaveLength(2);
  });
});

describe('the database taken away under the running stack', () => {
  it('sends exactly one "down" after ALERT_DB_DOWN_SECONDS and one "resolved" when it is back', async () => {
    const sentBefore = rx.telegram(BOT_TOKEN).length;
    const cutAt = Date.now();
    await t.proxy.cut();
    await until(() => telegramTexts('database is unreachable').length >= 1, 20_000, 'the down alert');
    expect(Date.now() - cutAt).toBeGreaterThanOrEqual(2000);
    const [down] = telegramTexts('database is unreachable');
    expect(down).toMatch(/^🔴 FIRING \[critical\] the database is unreachable/);
    // Still down: nothing more.
    await sleep(3000);
    expect(telegramTexts('database is unreachable')).toHaveLength(1);
    expect(rx.at('/hook').filter((r) => r.json?.rule === 'database_down')).toHaveLength(1);

    await t.proxy.restore();
    await until(() => telegramTexts('database is unreachable').length === 2, 30_000, 'the resolution');
    expect(telegramTexts('database is unreachable')[1]).toMatch(/^✅ RESOLVED/);
    await sleep(3000);
    expect(telegramTexts('database is unreachable')).toHaveLength(2);
    // Nothing else about the outage: no "service down", no error rate.
    expect(rx.telegram(BOT_TOKEN).slice(sentBefore).map((m) => m.text.split('\n')[0])).toEqual([down.split('\n')[0], expect.stringMatching(/^✅ RESOLVED \[critical\] the database is unreachable/)]);
    const hooks = rx.at('/hook').filter((r) => r.json?.rule === 'database_down');
    expect(hooks.map((h) => h.json.status)).toEqual(['firing', 'resolved']);
    for (const h of hooks) expect(verifySignature(h.headers['x-nextmavens-signature'] as string, h.raw)).toBe(true);
    // The episode is on record.
    const { rows } = await t.db.admin.query(`select rule, started_at, resolved_at from nextmavens.alerts where rule = 'database_down'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].resolved_at.getTime()).toBeGreaterThan(rows[0].started_at.getTime());
  }, 90_000);
});
