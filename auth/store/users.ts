/**
 * Auth data access: users, identities, sessions and the refresh-token family, all in the
 * `auth` schema over the owner connection. Every value is a bind parameter.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';

export interface UserRow {
  id: string;
  aud: string;
  role: string;
  email: string | null;
  encrypted_password: string | null;
  email_confirmed_at: Date | null;
  phone: string | null;
  phone_confirmed_at: Date | null;
  confirmation_sent_at: Date | null;
  recovery_sent_at: Date | null;
  /** A pending email change (GoTrue's `new_email`). */
  email_change: string | null;
  email_change_sent_at: Date | null;
  invited_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown>;
  raw_user_meta_data: Record<string, unknown>;
  is_anonymous: boolean;
  banned_until: Date | null;
  tenant_id: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface IdentityRow {
  id: string;
  provider_id: string;
  user_id: string;
  provider: string;
  identity_data: Record<string, unknown>;
  last_sign_in_at: Date | null;
  created_at: Date;
  updated_at: Date;
  email: string | null;
}

export interface SessionRow {
  id: string;
  user_id: string;
  aal: string;
  amr: { method: string; timestamp: number }[];
  not_after: Date | null;
  created_at: Date;
}

type Db = pg.Pool | pg.PoolClient;

export const newRefreshToken = () => randomBytes(24).toString('base64url');

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`select * from auth.users where lower(email) = lower($1) and deleted_at is null`, [email]);
  return rows[0];
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<UserRow>(`select * from auth.users where id = $1 and deleted_at is null`, [id]);
  return rows[0];
}

export async function identitiesOf(db: Db, userId: string): Promise<IdentityRow[]> {
  const { rows } = await db.query<IdentityRow>(
    `select *, identity_data->>'email' as email from auth.identities where user_id = $1 order by created_at`,
    [userId],
  );
  return rows;
}

export interface NewUser {
  email?: string;
  phone?: string;
  passwordHash?: string;
  confirmed: boolean;
  userMetadata: Record<string, unknown>;
  appMetadata: Record<string, unknown>;
  isAnonymous: boolean;
  tenantId?: string | null;
  role?: string;
}

/** Creates a user and, unless anonymous, its email identity, in one transaction. */
export async function createUser(client: pg.PoolClient, u: NewUser): Promise<UserRow> {
  const { rows } = await client.query<UserRow>(
    `insert into auth.users (email, phone, encrypted_password, email_confirmed_at, raw_user_meta_data, raw_app_meta_data, is_anonymous, tenant_id, role)
     values ($1, $2, $3, case when $4::boolean then now() end, $5, $6, $7, $8, coalesce($9, 'authenticated'))
     returning *`,
    [u.email ?? null, u.phone ?? null, u.passwordHash ?? null, u.confirmed, u.userMetadata, u.appMetadata, u.isAnonymous, u.tenantId ?? null, u.role ?? null],
  );
  const user = rows[0];
  if (u.email) {
    await client.query(
      `insert into auth.identities (provider_id, user_id, provider, identity_data) values ($1::text, $2::uuid, 'email', $3)`,
      [user.id, user.id, { sub: user.id, email: u.email, email_verified: u.confirmed, phone_verified: false }],
    );
  }
  return user;
}

export async function createSession(client: pg.PoolClient, userId: string, amrMethod: string, ttlSeconds: number, userAgent?: string): Promise<{ session: SessionRow; refreshToken: string }> {
  const { rows } = await client.query<SessionRow>(
    `insert into auth.sessions (user_id, amr, not_after, user_agent)
     values ($1, jsonb_build_array(jsonb_build_object('method', $2::text, 'timestamp', extract(epoch from now())::bigint)), now() + make_interval(secs => $3), $4)
     returning *`,
    [userId, amrMethod, ttlSeconds, userAgent ?? null],
  );
  const refreshToken = newRefreshToken();
  await client.query(`insert into auth.refresh_tokens (token, user_id, session_id) values ($1, $2, $3)`, [refreshToken, userId, rows[0].id]);
  await client.query(`update auth.users set last_sign_in_at = now() where id = $1`, [userId]);
  return { session: rows[0], refreshToken };
}

export async function findSession(db: Db, id: string): Promise<SessionRow | undefined> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const { rows } = await db.query<SessionRow>(`select * from auth.sessions where id = $1`, [id]);
  return rows[0];
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that cannot even roll back (Postgres went away) is dropped, not pooled again.
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((e: Error) => {
      broken = e;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

export async function audit(db: Db, action: string, payload: Record<string, unknown>, ip?: string): Promise<void> {
  await db.query(`insert into auth.audit_log_entries (payload, ip_address) values ($1, $2)`, [{ action, ...payload }, ip ?? null]);
}
