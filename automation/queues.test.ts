/**
 * Queues (pgmq's API, sql/0020_queues.sql) as Supabase Queues exposes them: pgmq_public in
 * REST_SCHEMAS, called with supabase-js `.schema('pgmq_public').rpc(…)`; service_role may use
 * every queue, authenticated only what grants and RLS on the queue's table allow, anon nothing.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testToken } from '../test/helpers/db.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

let t: TestStack;
let service: SupabaseClient;
let anon: SupabaseClient;
const USER = '22222222-2222-4222-8222-222222222222';

const client = (key: string, token?: string) =>
  createClient(t.stack.url, key, { auth: { persistSession: false }, global: token ? { headers: { Authorization: `Bearer ${token}` } } : {} });

beforeAll(async () => {
  t = await startTestStack({ env: { REST_SCHEMAS: 'public,pgmq_public' } });
  await t.db.admin.query(`select pgmq.create('jobs'); select pgmq.create('private_jobs');`);
  service = client(t.db.config.serviceRoleKey);
  anon = client(t.db.config.anonKey);
});

afterAll(async () => {
  await t?.close();
});

describe('pgmq_public over REST (supabase-js)', () => {
  it('send, send_batch, read with a visibility timeout, pop, archive, delete', async () => {
    const q = service.schema('pgmq_public');
    const sent = await q.rpc('send', { queue_name: 'jobs', message: { n: 1 } });
    expect(sent.error).toBeNull();
    expect(sent.data).toEqual([1]);
    const batch = await q.rpc('send_batch', { queue_name: 'jobs', messages: [{ n: 2 }, { n: 3 }, { n: 4 }] });
    expect(batch.data).toEqual([2, 3, 4]);
    const delayed = await q.rpc('send', { queue_name: 'jobs', message: { n: 5 }, sleep_seconds: 60 });
    expect(delayed.data).toEqual([5]);

    const read = await q.rpc('read', { queue_name: 'jobs', sleep_seconds: 30, n: 2 });
    expect(read.error).toBeNull();
    const msgs = (read.data as { msg_id: number; read_ct: number; enqueued_at: string; vt: string; message: unknown }[]).sort((a, b) => a.msg_id - b.msg_id);
    expect(msgs.map((m) => [m.msg_id, m.read_ct, m.message])).toEqual([[1, 1, { n: 1 }], [2, 1, { n: 2 }]]);
    expect(Object.keys(msgs[0]).sort()).toEqual(['enqueued_at', 'message', 'msg_id', 'read_ct', 'vt']);
    expect(new Date(msgs[0].vt).getTime() - Date.now()).toBeGreaterThan(25_000);
    // Hidden for 30 s: the next read gets the next ones; the delayed message is not visible yet.
    const next = await q.rpc('read', { queue_name: 'jobs', sleep_seconds: 30, n: 10 });
    expect((next.data as { msg_id: number }[]).map((m) => m.msg_id).sort()).toEqual([3, 4]);
    expect((await q.rpc('read', { queue_name: 'jobs', sleep_seconds: 30, n: 10 })).data).toEqual([]);

    expect((await q.rpc('archive', { queue_name: 'jobs', message_id: 1 })).data).toBe(true);
    expect((await q.rpc('delete', { queue_name: 'jobs', message_id: 2 })).data).toBe(true);
    expect((await q.rpc('delete', { queue_name: 'jobs', message_id: 2 })).data).toBe(false);
    const archived = await t.db.admin.query(`select msg_id, read_ct, message from pgmq.a_jobs`);
    expect(archived.rows).toEqual([{ msg_id: '1', read_ct: 1, message: { n: 1 } }]);

    // pop takes the oldest visible message off the queue.
    await t.db.admin.query(`select pgmq.set_vt('jobs', 3, 0)`);
    const popped = await q.rpc('pop', { queue_name: 'jobs' });
    expect((popped.data as { msg_id: number }[]).map((m) => m.msg_id)).toEqual([3]);
    const left = await t.db.admin.query(`select msg_id from pgmq.q_jobs order by msg_id`);
    expect(left.rows.map((r) => r.msg_id)).toEqual(['4', '5']);
  });

  it('pgmq.metrics and list_queues report the queues', async () => {
    const { rows } = await t.db.admin.query(`select * from pgmq.metrics('jobs')`);
    expect(rows[0]).toMatchObject({ queue_name: 'jobs', queue_length: '2', total_messages: '5' });
    expect(typeof rows[0].oldest_msg_age_sec).toBe('number');
    const all = await t.db.admin.query(`select queue_name from pgmq.metrics_all()`);
    expect(all.rows.map((r) => r.queue_name)).toEqual(['jobs', 'private_jobs']);
    const list = await t.db.admin.query(`select queue_name, is_partitioned, is_unlogged from pgmq.list_queues()`);
    expect(list.rows).toEqual([
      { queue_name: 'jobs', is_partitioned: false, is_unlogged: false },
      { queue_name: 'private_jobs', is_partitioned: false, is_unlogged: false },
    ]);
  });

  it('read_with_poll waits for a message sent meanwhile; set_vt and purge_queue', async () => {
    await t.db.admin.query(`select pgmq.create('polled')`);
    const started = Date.now();
    const empty = await t.db.admin.query(`select * from pgmq.read_with_poll('polled', 30, 1, max_poll_seconds => 1, poll_interval_ms => 50)`);
    expect(empty.rows).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    setTimeout(() => void t.db.admin.query(`select pgmq.send('polled', '{"late": true}')`), 300);
    const waited = await t.db.admin.query(`select msg_id, message from pgmq.read_with_poll('polled', 30, 1, max_poll_seconds => 5, poll_interval_ms => 50)`);
    expect(waited.rows).toEqual([{ msg_id: '1', message: { late: true } }]);
    await t.db.admin.query(`select pgmq.set_vt('polled', 1, 0)`);
    expect((await t.db.admin.query(`select msg_id, read_ct from pgmq.read('polled', 30, 5)`)).rows).toEqual([{ msg_id: '1', read_ct: 2 }]);
    expect((await t.db.admin.query(`select pgmq.purge_queue('polled') as n`)).rows[0].n).toBe('1');
    expect((await t.db.admin.query(`select pgmq.drop_queue('polled') as ok`)).rows[0].ok).toBe(true);
    expect((await t.db.admin.query(`select to_regclass('pgmq.q_polled') as t`)).rows[0].t).toBeNull();
  });

  it('refuses anon; authenticated gets exactly what grants and RLS on the queue table allow', async () => {
    const byAnon = await anon.schema('pgmq_public').rpc('send', { queue_name: 'jobs', message: {} });
    expect(byAnon.error?.code).toBe('42501');
    const user = client(t.db.config.anonKey, await testToken({ role: 'authenticated', sub: USER }));
    const denied = await user.schema('pgmq_public').rpc('send', { queue_name: 'private_jobs', message: { owner: USER } });
    expect(denied.status).toBe(403);
    expect(denied.error?.code).toBe('42501');
    await t.db.admin.query(`
      grant select, insert, update, delete on pgmq.q_private_jobs to authenticated;
      alter table pgmq.q_private_jobs enable row level security;
      create policy own_messages on pgmq.q_private_jobs to authenticated
        using (message ->> 'owner' = auth.uid()::text) with check (message ->> 'owner' = auth.uid()::text);`);
    expect((await user.schema('pgmq_public').rpc('send', { queue_name: 'private_jobs', message: { owner: USER } })).data).toEqual([1]);
    expect((await user.schema('pgmq_public').rpc('send', { queue_name: 'private_jobs', message: { owner: 'someone else' } })).error?.code).toBe('42501');
    await service.schema('pgmq_public').rpc('send', { queue_name: 'private_jobs', message: { owner: 'other' } });
    const mine = await user.schema('pgmq_public').rpc('read', { queue_name: 'private_jobs', sleep_seconds: 0, n: 10 });
    expect((mine.data as { message: unknown }[]).map((m) => m.message)).toEqual([{ owner: USER }]);
  });

  it('answers bad queue names and unknown queues with a 4xx in PostgREST shape', async () => {
    const bad = await service.schema('pgmq_public').rpc('send', { queue_name: 'x; drop table y', message: {} });
    expect(bad.status).toBe(400);
    expect(bad.error?.message).toMatch(/invalid queue name/);
    const missing = await service.schema('pgmq_public').rpc('read', { queue_name: 'nope', sleep_seconds: 1, n: 1 });
    expect(missing.status).toBeGreaterThanOrEqual(400);
    expect(missing.status).toBeLessThan(500);
    expect(missing.error?.code).toBe('42P01');
  });
});
