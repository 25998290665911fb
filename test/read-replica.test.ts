/**
 * Reads on a real streaming replica (test/helpers/replica.ts) with DATABASE_READ_URL, through
 * supabase-js and GraphQL: REST GET/HEAD and GraphQL queries are answered by the replica, writes
 * (and GET RPC of volatile functions) by the primary, `X-Read-Primary: true` reads the primary;
 * a replica whose replay lags past READ_REPLICA_MAX_LAG, or that is down, is skipped for the
 * primary. Which server answered is told by what it has replayed: replay is paused on the
 * replica, so a row written afterwards exists only on the primary. RLS holds on the replica as
 * on the primary: another tenant's user sees nothing of the first tenant's rows.
 */
import { createClient, type SupabaseClient } from '@supabase/supabase-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type RunningStack } from '../cli/stack.ts';
import { loadConfig, type Config } from '../config/load.ts';
import { READ_PRIMARY_HEADER } from '../db/read-pools.ts';
import { fixturePool, TEST_JWT_SECRET, testToken } from './helpers/db.ts';
import { startReplicaPair, type ReplicaPair } from './helpers/replica.ts';
import { TENANT_A, TENANT_B, twoTenantsSql } from './helpers/two-tenants.ts';
import { until } from './helpers/wait.ts';

const A = TENANT_A;
const B = TENANT_B;
const ANN = '11111111-1111-4111-8111-11111111111a';
const BOB = '11111111-1111-4111-8111-11111111111b';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
const MAX_LAG_MS = 5000;

const SQL = `
  ${twoTenantsSql('items')}
  create function public.item_count() returns bigint language sql stable as $$ select count(*) from public.items $$;
  create function public.item_count_volatile() returns bigint language sql volatile as $$ select count(*) from public.items $$;
  grant execute on function public.item_count(), public.item_count_volatile() to authenticated;
`;

describe('read replicas (DATABASE_READ_URL)', () => {
  let pair: ReplicaPair;
  let config: Config;
  let stack: RunningStack;
  let ann: SupabaseClient;
  let annPrimary: SupabaseClient;
  let bob: SupabaseClient;
  let annToken: string;

  const titles = async (c: SupabaseClient) => {
    const { data, error } = await c.from('items').select('title').order('id');
    expect(error).toBeNull();
    return data!.map((r) => r.title as string);
  };
  const gql = async (token: string, query: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${stack.url}/graphql/v1`, { method: 'POST', headers: { apikey: config.anonKey, authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query }) });
    return (await res.json()) as { data?: any; errors?: unknown[] };
  };
  const pause = () => pair.onReplica('select pg_wal_replay_pause()');
  const resume = () => pair.onReplica('select pg_wal_replay_resume()');

  beforeAll(async () => {
    pair = await startReplicaPair();
    config = await loadConfig({
      DATABASE_URL: pair.primaryUrl,
      DATABASE_READ_URL: pair.replicaUrl,
      READ_REPLICA_MAX_LAG: String(MAX_LAG_MS),
      READ_REPLICA_CHECK_INTERVAL: '100',
      JWT_SECRET: TEST_JWT_SECRET,
      LOG_LEVEL: 'silent',
      DATA_DIR: `/tmp/nextmavens-replica-stack-${process.pid}`,
      ALERT_INTERVAL: '3600',
      RATE_LIMIT_REST: '0',
      RATE_LIMIT_GRAPHQL: '0',
      RATE_LIMIT_STORAGE: '0',
      RATE_LIMIT_REALTIME: '0',
      RATE_LIMIT_AUTH: '0',
    });
    config.port = 0;
    config.host = '127.0.0.1';
    stack = await startStack(config, pino({ level: 'silent' }));
    const admin = fixturePool(pair.primaryUrl);
    await admin.query(SQL);
    await admin.end();
    annToken = await testToken({ sub: ANN, role: 'authenticated', tenant_id: A });
    const bobToken = await testToken({ sub: BOB, role: 'authenticated', tenant_id: B });
    const as = (token: string, headers: Record<string, string> = {}) => createClient(stack.url, config.anonKey, { ...opts, global: { headers: { Authorization: `Bearer ${token}`, ...headers } } });
    ann = as(annToken);
    annPrimary = as(annToken, { [READ_PRIMARY_HEADER]: 'true' });
    bob = as(bobToken);
    // The schema cache reloads after the DDL (db/schema-watch.ts); GraphQL's watch mode too.
    await until(async () => !(await annPrimary.from('items').select('id')).error && !(await gql(annToken, '{ items { totalCount } }')).errors, 15_000, 'the schema cache');
    expect((await ann.from('items').insert({ title: 'one' })).error).toBeNull();
    expect((await bob.from('items').insert({ title: 'bob' })).error).toBeNull();
    await pair.caughtUp();
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
    await pair?.close();
  });

  it('the replica answers reads (RLS as on the primary); writes go to the primary; X-Read-Primary reads it', async () => {
    await until(async () => (await titles(ann)).join() === 'one', 10_000, 'reads on the caught-up replica');
    expect(await titles(bob)).toEqual(['bob']);
    await pause();
    try {
      // A write while replay is paused: the primary takes it, the replica does not replay it.
      const { data: inserted, error } = await ann.from('items').insert({ title: 'two' }).select('title').single();
      expect(error).toBeNull();
      expect(inserted).toEqual({ title: 'two' });
      // Reads (GET and HEAD) come from the replica: it has not replayed 'two'.
      expect(await titles(ann)).toEqual(['one']);
      const { count } = await ann.from('items').select('*', { count: 'exact', head: true });
      expect(count).toBe(1);
      expect((await ann.rpc('item_count', undefined, { get: true })).data).toBe(1);
      // A volatile function is never sent to a replica, even by GET.
      expect((await ann.rpc('item_count_volatile', undefined, { get: true })).data).toBe(2);
      // GraphQL queries too; its mutations run on the primary.
      expect((await gql(annToken, '{ items { nodes { title } } }')).data.items.nodes).toEqual([{ title: 'one' }]);
      const created = await gql(annToken, 'mutation { createItem(input: { item: { title: "three" } }) { item { title } } }');
      expect(created.errors).toBeUndefined();
      // Read-your-writes: the header sends the read to the primary.
      expect(await titles(annPrimary)).toEqual(['one', 'two', 'three']);
      expect((await gql(annToken, '{ items { nodes { title } } }', { [READ_PRIMARY_HEADER]: 'true' })).data.items.nodes.map((n: { title: string }) => n.title)).toEqual(['one', 'two', 'three']);
      // The other tenant sees only its own row, wherever it reads.
      expect(await titles(bob)).toEqual(['bob']);

      // Replay stays paused: once the replica lags past READ_REPLICA_MAX_LAG, reads go to the primary.
      await until(async () => (await titles(ann)).length === 3, 4 * MAX_LAG_MS, 'reads to fall back to the primary');
      expect((await gql(annToken, '{ items { nodes { title } } }')).data.items.nodes).toHaveLength(3);
      expect(await titles(bob)).toEqual(['bob']);
    } finally {
      await resume();
    }
    await pair.caughtUp();
    expect(await titles(ann)).toEqual(['one', 'two', 'three']);
  }, 60_000);

  it('a replica that is down is skipped: reads go to the primary without an error', async () => {
    await pair.stopReplica();
    await ann.from('items').insert({ title: 'five' });
    const now = await titles(ann);
    expect(now).toContain('five');
    const { count, error } = await ann.from('items').select('*', { count: 'exact', head: true });
    expect(error).toBeNull();
    expect(count).toBe(now.length);
    const q = await gql(annToken, '{ items { nodes { title } } }');
    expect(q.errors).toBeUndefined();
    expect(q.data.items.nodes.map((n: { title: string }) => n.title)).toContain('five');
    expect(await titles(bob)).toEqual(['bob']);
  }, 30_000);
});
