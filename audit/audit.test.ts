/**
 * The audit chain in the database (sql/0027_audit.sql) and its tools (audit/): concurrent writers
 * (audit.append at once, or auth's log through its deferred trigger) that commit, roll back and
 * roll back to savepoints chain in commit order with nothing lost (fast-check); an edited,
 * deleted or reordered entry is found by `nextmavens audit verify`; append-only for every API role; audit.capture() on any table; retention exports then removes a
 * prefix and verify continues from the anchor.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../backup/store.ts';
import { runCli } from '../test/helpers/cli.ts';
import { createTestDatabase, TEST_JWT_SECRET, type TestDatabase } from '../test/helpers/db.ts';
import { canonical, entryHash, GENESIS, parseExportLine, verifyChain } from './chain.ts';
import { exportAuditLog } from './export.ts';
import { removeExpired } from './retention.ts';
import { anchor, entries } from './store.ts';
import { verifyAuditLog } from './verify.ts';

let db: TestDatabase;
let scratch: string;

beforeAll(async () => {
  db = await createTestDatabase();
  scratch = await mkdtemp(path.join(os.tmpdir(), 'nm-audit-'));
});
afterAll(async () => {
  await db?.drop();
  await rm(scratch, { recursive: true, force: true });
});

const append = (c: pg.ClientBase | pg.Pool, action: string, detail: object) =>
  c.query<{ id: string }>(`select audit.append($1, null, $2) as id`, [action, detail]).then((r) => Number(r.rows[0].id));

/** An entry through audit.append (at once), or through auth's log (its trigger appends at commit). */
async function write(c: pg.ClientBase, via: 'append' | 'auth-log', detail: { run: number; key: string }): Promise<void> {
  if (via === 'append') await append(c, 'test.append', detail);
  else await c.query(`insert into auth.audit_log_entries (payload) values ($1)`, [{ action: 'test', ...detail }]);
}

/** A transaction of one writer: its appends (with pauses while holding the chain), and how it ends. */
const txArb = fc.record({
  via: fc.constantFrom('append' as const, 'auth-log' as const),
  appends: fc.integer({ min: 1, max: 3 }),
  pauseMs: fc.integer({ min: 0, max: 3 }),
  end: fc.constantFrom('commit', 'rollback', 'savepoint-rollback'),
  startDelayMs: fc.integer({ min: 0, max: 4 }),
});

describe('the encoding', () => {
  it('is the one docs/audit.md spells out', () => {
    const e = { id: '7', at: '2026-12-02T06:15:12.285885Z', tenant_id: null, actor_id: null, actor_role: 'postgres', action: 'ddl.create_table', target: 'public.audit_probe', detail: '{}', ip: null, prev_hash: GENESIS.hash, hash: '' };
    expect(canonical(e)).toBe('1:7,27:2026-12-02T06:15:12.285885Z,-,-,8:postgres,16:ddl.create_table,18:public.audit_probe,2:{},-,');
    expect(canonical({ ...e, target: 'Zoë' })).toContain(',4:Zoë,');
    expect(entryHash(e)).toBe(createHash('sha256').update(`nextmavens-audit-v1\n${'0'.repeat(64)}\n${canonical(e)}`).digest('hex'));
  });
});

describe('concurrent writers', () => {
  it('chain in commit order: verify passes, every committed entry is there once, no rolled-back one is', async () => {
    const clients = await Promise.all([0, 1, 2, 3].map(async () => {
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      return c;
    }));
    try {
      let run = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(txArb, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 4 }), async (writers) => {
          run++;
          const committed = new Set<string>();
          const discarded = new Set<string>();
          await Promise.all(writers.map(async (txs, w) => {
            const c = clients[w];
            for (const [t, tx] of txs.entries()) {
              await new Promise((r) => setTimeout(r, tx.startDelayMs));
              await c.query('begin');
              const keys: string[] = [];
              if (tx.end === 'savepoint-rollback') {
                // An append undone by a savepoint, then one that stays.
                await c.query('savepoint s');
                const undone = `${run}:${w}:${t}:undone`;
                await write(c, tx.via, { run, key: undone });
                await c.query('rollback to savepoint s');
                discarded.add(undone);
              }
              for (let n = 0; n < tx.appends; n++) {
                const key = `${run}:${w}:${t}:${n}`;
                await write(c, tx.via, { run, key });
                keys.push(key);
                if (tx.pauseMs) await new Promise((r) => setTimeout(r, tx.pauseMs));
              }
              if (tx.end === 'rollback') {
                await c.query('rollback');
                keys.forEach((k) => discarded.add(k));
              } else {
                await c.query('commit');
                keys.forEach((k) => committed.add(k));
              }
            }
          }));
          const { rows } = await db.admin.query<{ key: string; id: string }>(`select detail ->> 'key' as key, id from audit.entries where (detail ->> 'run')::int = $1 order by id`, [run]);
          const found = rows.map((r) => r.key);
          expect(new Set(found).size).toBe(found.length);
          expect(new Set(found)).toEqual(committed);
          for (const k of discarded) expect(found).not.toContain(k);
          // Within a writer's transaction the entries keep their order.
          const idOf = new Map(rows.map((r) => [r.key, Number(r.id)]));
          for (const k of committed) {
            const [r, w, t, n] = k.split(':');
            if (Number(n) > 0) expect(idOf.get(k)!).toBeGreaterThan(idOf.get(`${r}:${w}:${t}:${Number(n) - 1}`)!);
          }
          const result = await verifyAuditLog(db.admin);
          expect(result).toMatchObject({ ok: true });
          const { rows: gaps } = await db.admin.query(`select count(*)::int as n, max(id) - min(id) + 1 as span from audit.entries`);
          expect(gaps[0].n).toBe(Number(gaps[0].span));
        }),
        { numRuns: 30 },
      );
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });
});

describe('append-only', () => {
  it('no API role may insert, update, delete or truncate; the owner is stopped by the triggers', async () => {
    await append(db.admin, 'test.fixture', { n: 1 });
    for (const role of ['anon', 'authenticated', 'service_role']) {
      for (const sql of [
        `insert into audit.entries (id, at, action, prev_hash, hash) values (999999, now(), 'forged', '', '')`,
        `update audit.entries set action = 'x'`,
        `delete from audit.entries`,
        `truncate audit.entries`,
        `select audit.append('forged')`,
        `select audit.prune(1)`,
        `update audit.anchor set last_hash = 'x'`,
      ]) {
        const c = await db.admin.connect();
        try {
          await c.query('begin');
          await c.query(`set local role ${role}`);
          await expect(c.query(sql), `${role}: ${sql}`).rejects.toThrow(/permission denied/);
        } finally {
          await c.query('rollback');
          c.release();
        }
      }
    }
    await expect(db.admin.query(`update audit.entries set action = 'x' where id = 1`)).rejects.toThrow(/append-only: UPDATE on audit.entries/);
    await expect(db.admin.query(`delete from audit.entries where id = 1`)).rejects.toThrow(/append-only: DELETE on audit.entries/);
    await expect(db.admin.query(`truncate audit.entries`)).rejects.toThrow(/append-only: TRUNCATE on audit.entries/);
    // audit.record is service_role's: actor, role and tenant from the request's claims.
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('request.jwt.claims', $1, true)`, [JSON.stringify({ role: 'service_role', sub: 'svc-1', tenant_id: '00000000-0000-4000-8000-00000000aaaa' })]);
      await c.query('set local role service_role');
      const id = (await c.query(`select audit.record('app.export', 'report-7', '{"rows": 3}') as id`)).rows[0].id;
      const { rows } = await c.query(`select * from audit.entries where id = $1`, [id]);
      expect(rows[0]).toMatchObject({ action: 'app.export', target: 'report-7', actor_id: 'svc-1', actor_role: 'service_role', tenant_id: '00000000-0000-4000-8000-00000000aaaa', detail: { rows: 3 } });
    } finally {
      await c.query('rollback');
      c.release();
    }
  });
});

describe('audit.capture()', () => {
  it('records inserts, the changed columns of updates and deletes of any table, secrets excluded', async () => {
    await db.admin.query(`
      create table public.capture_probe (id int primary key, tenant_id uuid, name text, secret text);
      create trigger audit after insert or update or delete on public.capture_probe
        for each row execute function audit.capture('exclude=secret');
      insert into public.capture_probe values (1, '00000000-0000-4000-8000-00000000bbbb', 'one', 'pw1'), (2, null, 'two', 'pw2');
      update public.capture_probe set name = 'uno', secret = 'pw3' where id = 1;
      update public.capture_probe set secret = 'pw4' where id = 2;
      delete from public.capture_probe where id = 2;
    `);
    const { rows } = await db.admin.query(`select action, target, tenant_id, detail from audit.entries where action like 'public.capture_probe.%' order by id`);
    expect(rows).toEqual([
      { action: 'public.capture_probe.insert', target: '1', tenant_id: '00000000-0000-4000-8000-00000000bbbb', detail: { new: { id: 1, tenant_id: '00000000-0000-4000-8000-00000000bbbb', name: 'one' } } },
      { action: 'public.capture_probe.insert', target: '2', tenant_id: null, detail: { new: { id: 2, tenant_id: null, name: 'two' } } },
      { action: 'public.capture_probe.update', target: '1', tenant_id: '00000000-0000-4000-8000-00000000bbbb', detail: { old: { name: 'one' }, new: { name: 'uno' } } },
      // The update of row 2 changed only an excluded column: no entry.
      { action: 'public.capture_probe.delete', target: '2', tenant_id: null, detail: { old: { id: 2, tenant_id: null, name: 'two' } } },
    ]);
    // The tenant admin API's actor settings (auth/store/tenants.ts recordActor) name who acted.
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query(`select set_config('nextmavens.actor_id', 'root-1', true), set_config('nextmavens.actor_via', 'super_admin', true), set_config('nextmavens.super_admin_foreign', 'true', true)`);
      await c.query(`insert into public.capture_probe values (3, null, 'three', 'pw')`);
      await c.query('commit');
    } finally {
      c.release();
    }
    const { rows: acted } = await db.admin.query(`select actor_id, actor_role, detail from audit.entries where action = 'public.capture_probe.insert' and target = '3'`);
    expect(acted).toEqual([{ actor_id: 'root-1', actor_role: 'super_admin', detail: { new: { id: 3, tenant_id: null, name: 'three' }, super_admin_foreign: true } }]);
    const ddl = await db.admin.query(`select action, target, actor_role from audit.entries where target = 'public.capture_probe' and action like 'ddl.%'`);
    expect(ddl.rows).toEqual([{ action: 'ddl.create_table', target: 'public.capture_probe', actor_role: expect.any(String) }]);
    expect((await verifyAuditLog(db.admin)).ok).toBe(true);
  });
});

describe('nextmavens audit verify', () => {
  const cli = () => runCli({ dir: scratch, env: { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: path.join(scratch, 'data'), LOG_LEVEL: 'silent' } }, ['audit', 'verify']);

  /** Runs `sql` as the superuser with triggers off (session_replication_role = replica). */
  async function tamper(sql: string, params: unknown[] = []): Promise<void> {
    const c = await db.admin.connect();
    try {
      await c.query('begin');
      await c.query('set local session_replication_role = replica');
      await c.query(sql, params);
      await c.query('commit');
    } catch (err) {
      await c.query('rollback');
      throw err;
    } finally {
      c.release();
    }
  }

  async function middle(): Promise<number> {
    for (let i = 0; i < 5; i++) await append(db.admin, 'test.tamper', { i });
    const { rows } = await db.admin.query<{ id: string }>(`select max(id) - 2 as id from audit.entries`);
    return Number(rows[0].id);
  }

  const row = async (id: number) => (await db.admin.query(`select * from audit.entries where id = $1`, [id])).rows[0];

  it('OK on an untouched chain, with the count and the head', async () => {
    // Multi-byte text: lengths are UTF-8 bytes in SQL and in Node alike.
    await db.admin.query(`select audit.append('test.unicode', 'Zoë/日本', $1, null, 'ünï', null, '::1')`, [{ name: 'Zoë 🎉', n: 1.50, nested: { 'ключ': [true, null] } }]);
    const { code, out } = await cli();
    const { rows } = await db.admin.query(`select count(*)::int as n, max(id)::int as head from audit.entries`);
    expect(out).toContain(`audit log OK: ${rows[0].n} entries verified from the start; head ${rows[0].head} `);
    expect(code).toBe(0);
  });

  it('an edited entry: exit 1, the entry named', async () => {
    const id = await middle();
    const original = await row(id);
    await tamper(`update audit.entries set detail = '{"i": 99}' where id = $1`, [id]);
    let r = await cli();
    expect(r.code).toBe(1);
    expect(r.out).toContain(`audit log BROKEN at entry ${id}: entry ${id} (test.tamper at `);
    expect(r.out).toContain('was edited');
    // Edited with its hash recomputed: the next entry no longer follows it.
    await tamper(`update audit.entries set hash = audit.hash_of(entries) where id = $1`, [id]);
    r = await cli();
    expect(r.code).toBe(1);
    expect(r.out).toContain(`BROKEN at entry ${id + 1}: entry ${id + 1} (test.tamper at`);
    expect(r.out).toContain(`does not follow entry ${id}`);
    await tamper(`update audit.entries set detail = $2, hash = $3 where id = $1`, [id, original.detail, original.hash]);
    expect((await cli()).code).toBe(0);
  });

  it('a deleted entry: exit 1, the missing entry named', async () => {
    const id = await middle();
    // The row as JSON from the server: the timestamp with its microseconds.
    const original = (await db.admin.query(`select to_jsonb(e)::text as j from audit.entries e where id = $1`, [id])).rows[0].j;
    await tamper(`delete from audit.entries where id = $1`, [id]);
    const r = await cli();
    expect(r.code).toBe(1);
    expect(r.out).toContain(`audit log BROKEN at entry ${id}: entry ${id} is missing (deleted)`);
    await tamper(`insert into audit.entries select * from jsonb_populate_record(null::audit.entries, $1::jsonb)`, [original]);
    expect((await cli()).code).toBe(0);
  });

  it('two entries swapped: exit 1, the first of them named', async () => {
    const id = await middle();
    const swap = async () => {
      await tamper(`update audit.entries set id = -id where id in ($1::bigint, $1::bigint + 1)`, [id]);
      await tamper(`update audit.entries set id = case when id = -$1::bigint then $1::bigint + 1 else $1::bigint end where id in (-$1::bigint, -$1::bigint - 1)`, [id]);
    };
    await swap();
    const r = await cli();
    expect(r.code).toBe(1);
    expect(r.out).toContain(`audit log BROKEN at entry ${id}: `);
    await swap();
    expect((await cli()).code).toBe(0);
  });

  it('a forged entry slipped in (the later ones renumbered): exit 1', async () => {
    const id = await middle();
    await tamper(`update audit.entries set id = -id where id > $1`, [id]);
    await tamper(`update audit.entries set id = -id + 1 where id < 0`);
    const prev = await row(id);
    await tamper(`insert into audit.entries (id, at, action, detail, prev_hash, hash) values ($1, now(), 'forged', '{}', $2, '')`, [id + 1, prev.hash]);
    await tamper(`update audit.entries set hash = audit.hash_of(entries) where id = $1`, [id + 1]);
    const r = await cli();
    expect(r.code).toBe(1);
    // The forged entry itself is well-formed; the one after it no longer follows.
    expect(r.out).toContain(`BROKEN at entry ${id + 2}: entry ${id + 2} (test.tamper at`);
    await tamper(`delete from audit.entries where id = $1`, [id + 1]);
    await tamper(`update audit.entries set id = -id where id > $1`, [id + 1]);
    await tamper(`update audit.entries set id = -id - 1 where id < 0`);
    expect((await cli()).code).toBe(0);
  });
});

describe('retention and export', () => {
  it('exports the expired prefix, removes it, and the chain verifies from the anchor and across the files', async () => {
    const target = path.join(scratch, 'backups');
    const store = await openStore({ kind: 'dir', dir: target });
    try {
      const before = await db.admin.query<{ id: string; hash: string }>(`select id, hash from audit.entries order by id desc limit 1`);
      const cutoffId = Number(before.rows[0].id);
      await new Promise((r) => setTimeout(r, 20));
      const cutoff = new Date();
      await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 3; i++) await append(db.admin, 'test.after-cutoff', { i });

      const result = await removeExpired(db.admin, store, cutoff);
      expect(result).toMatchObject({ first: 1, last: cutoffId, count: cutoffId, removed: cutoffId, name: `audit/removed/000000000001-${String(cutoffId).padStart(12, '0')}.jsonl` });
      expect(await anchor(db.admin)).toMatchObject({ id: cutoffId, hash: before.rows[0].hash });
      const left = await db.admin.query(`select min(id)::int as first, count(*)::int as n from audit.entries`);
      expect(left.rows[0]).toEqual({ first: cutoffId + 1, n: 3 });
      // Nothing left to expire before the same cut-off.
      expect(await removeExpired(db.admin, store, cutoff)).toBeUndefined();

      // verify continues from the anchor, also through the command.
      const verified = await verifyAuditLog(db.admin);
      expect(verified).toMatchObject({ ok: true, count: 3, start: { id: cutoffId } });
      const r = await runCli({ dir: scratch, env: { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: path.join(scratch, 'data'), LOG_LEVEL: 'silent' } }, ['audit', 'verify']);
      expect(r.out).toContain(`audit log OK: 3 entries verified from the anchor after entry ${cutoffId}`);
      expect(r.code).toBe(0);

      // The removed file and the database are one chain from the genesis.
      const removed = (await readFile(path.join(target, result!.name), 'utf8')).trim().split('\n').map(parseExportLine);
      expect(removed).toHaveLength(cutoffId);
      const stored = [];
      for await (const e of entries(db.admin)) stored.push(e);
      expect(await verifyChain([...removed, ...stored], GENESIS)).toMatchObject({ ok: true, count: cutoffId + 3 });

      // A new append continues the chain from the anchor.
      await append(db.admin, 'test.after-prune', {});
      expect(await verifyAuditLog(db.admin)).toMatchObject({ ok: true, count: 4 });

      // `audit export` writes what is stored (from the anchor on); `--to` another target.
      const exported = await exportAuditLog(db.admin, store);
      expect(exported).toMatchObject({ count: 4, first: cutoffId + 1, last: cutoffId + 4 });
      const other = path.join(scratch, 'elsewhere');
      const cli = await runCli({ dir: scratch, env: { DATABASE_URL: db.url, JWT_SECRET: TEST_JWT_SECRET, DATA_DIR: path.join(scratch, 'data'), LOG_LEVEL: 'silent' } }, ['audit', 'export', '--to', other]);
      expect(cli.code).toBe(0);
      const [file] = await readdir(path.join(other, 'audit', 'exports'));
      expect(cli.out).toContain(`exported 4 audit entries (entries ${cutoffId + 1}..${cutoffId + 4})`);
      expect(cli.out).toContain(path.join(other, 'audit', 'exports', file));
      const lines = (await readFile(path.join(other, 'audit', 'exports', file), 'utf8')).trim().split('\n').map(parseExportLine);
      expect(await verifyChain(lines, { id: cutoffId, hash: before.rows[0].hash })).toMatchObject({ ok: true, count: 4 });
    } finally {
      store.close();
    }
  });

  it('refuses to remove a prefix that does not verify', async () => {
    const store = await openStore({ kind: 'dir', dir: path.join(scratch, 'refused') });
    try {
      const { rows } = await db.admin.query<{ id: string }>(`select min(id) as id from audit.entries`);
      const c = await db.admin.connect();
      try {
        await c.query('begin');
        await c.query('set local session_replication_role = replica');
        await c.query(`update audit.entries set detail = '{"edited": true}' where id = $1`, [rows[0].id]);
        await c.query('commit');
      } finally {
        c.release();
      }
      await expect(removeExpired(db.admin, store, new Date())).rejects.toThrow(`audit retention refused: the chain is broken at entry ${rows[0].id}`);
      expect((await db.admin.query(`select min(id) as id from audit.entries`)).rows[0].id).toBe(rows[0].id);
    } finally {
      store.close();
    }
  });
});
