/**
 * Private-channel authorization by RLS on realtime.messages, as Supabase Realtime does it: in
 * one transaction that is always rolled back, rows for the topic are inserted by the owner and
 * then read as the caller (read = receive), and the caller's own inserts are tried under
 * savepoints (write = send broadcasts / track presence). `realtime.topic()` returns the topic.
 *
 * This runs on the admin pool because the owner-side insert and the caller-side select must
 * share a transaction; the caller's role is set with the same statement withRequestContext
 * uses (contextStatement), with the role's own settings (ALTER ROLE … SET, e.g. anon's
 * statement_timeout) as a request would have them, and only roles the `authenticator` login
 * may SET ROLE to are accepted, so a token cannot reach a role a request could not. Every
 * value reaches SQL as a bind parameter; nothing the check inserts outlives the transaction.
 */
import type pg from 'pg';
import { AUTHENTICATOR_ROLE } from '../db/pool.ts';
import { contextStatement, roleOf, type JwtClaims } from '../db/request-context.ts';
import type { RoleSettings } from '../db/role-settings.ts';

export interface Permission {
  read: boolean;
  write: boolean;
}

export interface ChannelPolicies {
  broadcast: Permission;
  presence: Permission;
}

const EXTENSIONS = ['broadcast', 'presence'] as const;

export const NO_ACCESS: ChannelPolicies = { broadcast: { read: false, write: false }, presence: { read: false, write: false } };

/** Bounds a check whose role has no statement_timeout of its own (policies run on the admin pool). */
export const CHECK_TIMEOUT = '10s';

/** What `claims` may do on the private channel `subtopic` (the topic without `realtime:`). */
export async function channelPolicies(admin: pg.Pool, claims: JwtClaims, subtopic: string, roleSettings?: RoleSettings): Promise<ChannelPolicies> {
  const role = roleOf(claims);
  const own = roleSettings ? await roleSettings.of(role) : {};
  const client = await admin.connect();
  let broken: Error | undefined;
  try {
    await client.query('begin');
    // SET, not MEMBER: membership granted WITH SET FALSE does not let authenticator switch.
    const allowed = await client.query<{ ok: boolean }>(
      `select coalesce((select pg_has_role($2, r.oid, 'SET') from pg_roles r where r.rolname = $1), false) as ok`,
      [role, AUTHENTICATOR_ROLE],
    );
    if (!allowed.rows[0]?.ok) return NO_ACCESS;
    const seeded = await client.query<{ id: string; extension: string }>(
      `insert into realtime.messages (topic, extension, private, event, payload)
       select $1, e, true, 'authorization_check', '{}'::jsonb from unnest($2::text[]) e returning id::text, extension`,
      [subtopic, EXTENSIONS],
    );
    const sub = typeof claims.sub === 'string' ? claims.sub : '';
    await client.query(
      contextStatement(claims, {
        roleSettings: { statement_timeout: CHECK_TIMEOUT, ...own },
        settings: { 'realtime.topic': subtopic, 'request.jwt.claim.sub': sub, 'request.jwt.claim.role': role },
      }),
    );
    const policies: ChannelPolicies = { broadcast: { read: false, write: false }, presence: { read: false, write: false } };
    await client.query('savepoint realtime_read');
    try {
      const readable = await client.query<{ extension: string }>(`select extension from realtime.messages where id = any($1::uuid[])`, [seeded.rows.map((r) => r.id)]);
      for (const r of readable.rows) if (r.extension === 'broadcast' || r.extension === 'presence') policies[r.extension].read = true;
      await client.query('release savepoint realtime_read');
    } catch {
      await client.query('rollback to savepoint realtime_read'); // a failing policy grants nothing
    }
    for (const extension of EXTENSIONS) {
      await client.query('savepoint realtime_write');
      try {
        await client.query(`insert into realtime.messages (topic, extension, private, event, payload) values ($1, $2, true, 'authorization_check', '{}'::jsonb)`, [subtopic, extension]);
        policies[extension].write = true;
      } catch {
        // RLS refused the insert (42501) or the policy failed: no write.
      }
      await client.query('rollback to savepoint realtime_write');
    }
    return policies;
  } finally {
    await client.query('rollback').catch((err: Error) => (broken = err));
    client.release(broken);
  }
}
