/**
 * The admin dashboard's SQL (sql/0035_admin.sql), over the owner connection the admin server runs
 * on: accounts, sessions, sign-in failures, saved snippets and history, and the audit entries of
 * admin actions (audit.append of sql/0027_audit.sql). The table editor's SQL is in table-store.ts.
 */
import type pg from 'pg';

export type Db = pg.Pool | pg.ClientBase;

export const ADMIN_ROLES = ['owner', 'developer', 'read_only'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminUser {
  id: string;
  email: string;
  role: AdminRole;
  totp_enabled: boolean;
  created_at: Date;
  last_sign_in_at: Date | null;
}

export interface AdminSecrets extends AdminUser {
  password_hash: string;
  totp_secret: string | null;
}

const USER_COLUMNS = 'id, email, role, totp_enabled, created_at, last_sign_in_at';

export async function countAdmins(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from nextmavens.admin_users');
  return rows[0].n;
}

/** A new admin; undefined when the email is taken. With `onlyIfFirst`, only while no admin exists (the first-run page). */
export async function insertAdmin(db: Db, a: { email: string; passwordHash: string; role: AdminRole; onlyIfFirst?: boolean }): Promise<AdminUser | undefined> {
  const { rows } = await db.query<AdminUser>(
    `insert into nextmavens.admin_users (email, password_hash, role)
     select $1, $2, $3 where not $4 or not exists (select from nextmavens.admin_users)
     on conflict do nothing returning ${USER_COLUMNS}`,
    [a.email.trim(), a.passwordHash, a.role, a.onlyIfFirst === true],
  );
  return rows[0];
}

export async function adminByEmail(db: Db, email: string): Promise<AdminSecrets | undefined> {
  const { rows } = await db.query<AdminSecrets>(`select ${USER_COLUMNS}, password_hash, totp_secret from nextmavens.admin_users where lower(email) = lower($1)`, [email.trim()]);
  return rows[0];
}

export async function adminById(db: Db, id: string): Promise<AdminSecrets | undefined> {
  const { rows } = await db.query<AdminSecrets>(`select ${USER_COLUMNS}, password_hash, totp_secret from nextmavens.admin_users where id = $1`, [id]);
  return rows[0];
}

export async function listAdmins(db: Db): Promise<AdminUser[]> {
  return (await db.query<AdminUser>(`select ${USER_COLUMNS} from nextmavens.admin_users order by created_at`)).rows;
}

export async function setAdminRole(db: Db, id: string, role: AdminRole): Promise<AdminUser | undefined> {
  return (await db.query<AdminUser>(`update nextmavens.admin_users set role = $2 where id = $1 returning ${USER_COLUMNS}`, [id, role])).rows[0];
}

export async function deleteAdmin(db: Db, id: string): Promise<boolean> {
  return ((await db.query('delete from nextmavens.admin_users where id = $1', [id])).rowCount ?? 0) > 0;
}

/** Owners other than `id`: the last owner is never demoted or removed. */
export async function otherOwners(db: Db, id: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from nextmavens.admin_users where role = 'owner' and id <> $1`, [id]);
  return rows[0].n;
}

export async function setTotp(db: Db, id: string, secret: string | null, enabled: boolean): Promise<void> {
  await db.query('update nextmavens.admin_users set totp_secret = $2, totp_enabled = $3 where id = $1', [id, secret, enabled]);
}

export async function setPasswordHash(db: Db, id: string, hash: string): Promise<void> {
  await db.query('update nextmavens.admin_users set password_hash = $2 where id = $1', [id, hash]);
}

// ---------------------------------------------------------------------------------- sessions

export interface SessionRow {
  admin: AdminUser;
  csrf_token: string;
  expires_at: Date;
}

export async function insertSession(db: Db, s: { tokenHash: string; adminId: string; csrfToken: string; hours: number; ip: string; userAgent: string | undefined }): Promise<Date> {
  const { rows } = await db.query<{ expires_at: Date }>(
    `with s as (insert into nextmavens.admin_sessions (token_hash, admin_id, csrf_token, expires_at, ip, user_agent)
       values ($1, $2, $3, now() + make_interval(hours => $4), $5, $6) returning expires_at)
     update nextmavens.admin_users set last_sign_in_at = now() where id = $2 returning (select expires_at from s)`,
    [s.tokenHash, s.adminId, s.csrfToken, s.hours, s.ip, s.userAgent?.slice(0, 500) ?? null],
  );
  return rows[0].expires_at;
}

/** The live session of a token hash with its admin, or undefined (unknown or expired). */
export async function sessionByHash(db: Db, tokenHash: string): Promise<SessionRow | undefined> {
  const { rows } = await db.query<AdminUser & { csrf_token: string; expires_at: Date }>(
    `select u.id, u.email, u.role, u.totp_enabled, u.created_at, u.last_sign_in_at, s.csrf_token, s.expires_at
       from nextmavens.admin_sessions s join nextmavens.admin_users u on u.id = s.admin_id
      where s.token_hash = $1 and s.expires_at > now()`,
    [tokenHash],
  );
  const r = rows[0];
  if (!r) return undefined;
  const { csrf_token, expires_at, ...admin } = r;
  return { admin, csrf_token, expires_at };
}

export async function deleteSession(db: Db, tokenHash: string): Promise<void> {
  await db.query('delete from nextmavens.admin_sessions where token_hash = $1 or expires_at < now()', [tokenHash]);
}

export async function deleteSessionsOf(db: Db, adminId: string): Promise<void> {
  await db.query('delete from nextmavens.admin_sessions where admin_id = $1', [adminId]);
}

// ------------------------------------------------------------------------- sign-in failures

export const LOGIN_WINDOW_MINUTES = 15;

/** Failures within the window for this email and for this address. */
export async function recentFailures(db: Db, email: string, ip: string): Promise<{ email: number; ip: number }> {
  const { rows } = await db.query<{ email: number; ip: number }>(
    `select count(*) filter (where lower(email) = lower($1))::int as email, count(*) filter (where ip = $2)::int as ip
       from nextmavens.admin_login_attempts where at > now() - make_interval(mins => $3)`,
    [email.trim(), ip, LOGIN_WINDOW_MINUTES],
  );
  return rows[0];
}

export async function recordFailure(db: Db, email: string, ip: string): Promise<void> {
  await db.query(`delete from nextmavens.admin_login_attempts where at < now() - make_interval(mins => $1)`, [LOGIN_WINDOW_MINUTES]);
  await db.query('insert into nextmavens.admin_login_attempts (email, ip) values ($1, $2)', [email.trim().slice(0, 320), ip]);
}

export async function clearFailures(db: Db, email: string): Promise<void> {
  await db.query('delete from nextmavens.admin_login_attempts where lower(email) = lower($1)', [email.trim()]);
}

// ----------------------------------------------------------------------- snippets and history

export interface Snippet {
  id: string;
  name: string;
  sql: string;
  updated_at: Date;
}

export async function listSnippets(db: Db): Promise<Snippet[]> {
  return (await db.query<Snippet>('select id, name, sql, updated_at from nextmavens.admin_snippets order by updated_at desc limit 500')).rows;
}

export async function saveSnippet(db: Db, adminId: string, s: { id?: string; name: string; sql: string }): Promise<Snippet | undefined> {
  const { rows } = s.id
    ? await db.query<Snippet>('update nextmavens.admin_snippets set name = $2, sql = $3, updated_at = now() where id = $1 returning id, name, sql, updated_at', [s.id, s.name, s.sql])
    : await db.query<Snippet>('insert into nextmavens.admin_snippets (admin_id, name, sql) values ($1, $2, $3) returning id, name, sql, updated_at', [adminId, s.name, s.sql]);
  return rows[0];
}

export async function deleteSnippet(db: Db, id: string): Promise<boolean> {
  return ((await db.query('delete from nextmavens.admin_snippets where id = $1', [id])).rowCount ?? 0) > 0;
}

export interface HistoryEntry {
  id: string;
  sql: string;
  ok: boolean;
  row_count: number | null;
  duration_ms: number | null;
  error: string | null;
  at: Date;
}

export async function recordQuery(db: Db, adminId: string, q: { sql: string; ok: boolean; rowCount?: number; durationMs: number; error?: string }): Promise<void> {
  await db.query('insert into nextmavens.admin_query_history (admin_id, sql, ok, row_count, duration_ms, error) values ($1, $2, $3, $4, $5, $6)', [
    adminId,
    q.sql.slice(0, 100_000),
    q.ok,
    q.rowCount ?? null,
    q.durationMs,
    q.error?.slice(0, 2000) ?? null,
  ]);
}

/** An admin's last queries, newest first. */
export async function queryHistory(db: Db, adminId: string, limit = 50): Promise<HistoryEntry[]> {
  return (
    await db.query<HistoryEntry>('select id::text as id, sql, ok, row_count, duration_ms, error, at from nextmavens.admin_query_history h where admin_id = $1 order by h.id desc limit $2', [adminId, limit])
  ).rows;
}

// ------------------------------------------------------------------------------------ audit

/** An admin action into the audit chain: actor `admin:<id>`, role `admin_<role>`. */
export async function auditAdminAction(db: Db, who: { admin: Pick<AdminUser, 'id' | 'role'> | undefined; ip: string }, action: string, target: string | null, detail: Record<string, unknown> = {}): Promise<void> {
  await db.query('select audit.append($1, $2, $3::jsonb, null, $4, $5, $6)', [
    `admin.${action}`,
    target,
    JSON.stringify(detail),
    who.admin ? `admin:${who.admin.id}` : null,
    who.admin ? `admin_${who.admin.role}` : null,
    who.ip,
  ]);
}

// ------------------------------------------------------------------------------ logs and jobs

/** Failed graphile-worker jobs run again: attempts reset, due now (graphile_worker.reschedule_jobs). */
export async function retryJob(db: Db, id: string): Promise<boolean> {
  const { rows } = await db.query('select id from graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now(), attempts := 0)', [id]);
  return rows.length > 0;
}

export interface WebhookDelivery {
  id: string;
  hook: string;
  table_name: string;
  status: string;
  attempts: number;
  status_code: number | null;
  error: string | null;
  created_at: Date;
}

/** Webhook deliveries (sql/0019_automation.sql), newest first; `status` filters. */
export async function webhookDeliveries(db: Db, status: string | undefined, limit = 100): Promise<WebhookDelivery[]> {
  const { rows } = await db.query<WebhookDelivery>(
    `select d.id::text as id, h.name as hook, h.schema_name || '.' || h.table_name as table_name, d.status, d.attempts, d.status_code, d.error, d.created_at
       from webhooks.deliveries d join webhooks.hooks h on h.id = d.hook_id
      where $1::text is null or d.status = $1 order by d.id desc limit $2`,
    [status ?? null, limit],
  );
  return rows;
}

export async function retryDelivery(db: Db, id: string): Promise<boolean> {
  return (await db.query<{ ok: boolean }>('select webhooks.retry($1::bigint) as ok', [id])).rows[0].ok;
}

export interface AuditRow {
  id: string;
  at: Date;
  actor_id: string | null;
  actor_role: string | null;
  action: string;
  target: string | null;
  ip: string | null;
}

/** The audit chain's latest entries, filtered by action prefix and actor. */
export async function auditEntries(db: Db, f: { action?: string; actor?: string; before?: string; limit: number }): Promise<AuditRow[]> {
  const { rows } = await db.query<AuditRow>(
    // Ordered by the bigint column (the output column `id` is its text).
    `select e.id::text as id, at, actor_id, actor_role, action, target, ip from audit.entries e
      where ($1::text is null or action like $1 || '%') and ($2::text is null or actor_id = $2) and ($3::bigint is null or e.id < $3)
      order by e.id desc limit $4`,
    [f.action || null, f.actor || null, f.before || null, f.limit],
  );
  return rows;
}
