/**
 * Users (`auth.users`) and their email identity: lookups, creation, the changes of updateUser and
 * the admin API, listing, the `*_sent_at` stamps of mails and the steps of a confirmation or an
 * email change.
 */
import type pg from 'pg';
import type { Db } from './db.ts';

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
  /** A pending phone change (GoTrue's `new_phone`; '' when none). */
  phone_change: string | null;
  phone_change_sent_at: Date | null;
  /** Made by an SSO provider (auth/routes/sso.ts): email, phone and password are the IdP's. */
  is_sso_user: boolean;
  invited_at: Date | null;
  last_sign_in_at: Date | null;
  raw_app_meta_data: Record<string, unknown>;
  raw_user_meta_data: Record<string, unknown>;
  is_anonymous: boolean;
  banned_until: Date | null;
  tenant_id: string | null;
  /** A platform super-admin (sql/0026_tenant_rbac.sql); only service_role grants it. */
  is_super_admin?: boolean | null;
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


export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`select * from auth.users where lower(email) = lower($1) and deleted_at is null and not is_sso_user`, [email]);
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

/** Creates a user and, unless anonymous, its email (or phone) identity, in one transaction. */
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
  } else if (u.phone) {
    await client.query(
      `insert into auth.identities (provider_id, user_id, provider, identity_data) values ($1::text, $2::uuid, 'phone', $3)`,
      [user.id, user.id, { sub: user.id, phone: u.phone, email_verified: false, phone_verified: false }],
    );
  }
  return user;
}


/** What updateUser (`PUT /user`) and the admin API change on a user; absent fields stay. */
export interface UserChanges {
  /** Replaces raw_user_meta_data. */
  userMetadata?: Record<string, unknown>;
  /** Merged into raw_user_meta_data. */
  mergeUserMetadata?: Record<string, unknown>;
  /** Merged into raw_app_meta_data. */
  mergeAppMetadata?: Record<string, unknown>;
  tenantId?: string | null;
  email?: string;
  /** Sets email_confirmed_at unless already set. */
  confirmEmail?: boolean;
  /** Clears is_anonymous (the user now has an address). */
  notAnonymous?: boolean;
  passwordHash?: string;
  role?: string;
  /** A ban for this many seconds from now; null lifts it. */
  banSeconds?: number | null;
  /** Platform super-admin (admin API only). */
  isSuperAdmin?: boolean;
}

export async function updateUser(db: Db, id: string, changes: UserChanges): Promise<void> {
  const values: unknown[] = [id];
  const bind = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const sets: string[] = [];
  if (changes.userMetadata !== undefined) sets.push(`raw_user_meta_data = ${bind(changes.userMetadata)}`);
  if (changes.mergeUserMetadata !== undefined) sets.push(`raw_user_meta_data = raw_user_meta_data || ${bind(changes.mergeUserMetadata)}`);
  if (changes.mergeAppMetadata !== undefined) sets.push(`raw_app_meta_data = raw_app_meta_data || ${bind(changes.mergeAppMetadata)}`);
  if (changes.tenantId !== undefined) sets.push(`tenant_id = ${bind(changes.tenantId)}`);
  if (changes.email !== undefined) sets.push(`email = ${bind(changes.email)}`);
  if (changes.confirmEmail) sets.push('email_confirmed_at = coalesce(email_confirmed_at, now())');
  if (changes.notAnonymous) sets.push('is_anonymous = false');
  if (changes.passwordHash !== undefined) sets.push(`encrypted_password = ${bind(changes.passwordHash)}`);
  if (changes.role !== undefined) sets.push(`role = ${bind(changes.role)}`);
  if (changes.isSuperAdmin !== undefined) sets.push(`is_super_admin = ${bind(changes.isSuperAdmin)}`);
  if (changes.banSeconds !== undefined) sets.push(`banned_until = now() + make_interval(secs => ${bind(changes.banSeconds)})`);
  if (sets.length) await db.query(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1`, values);
}

export async function countUsers(db: Db): Promise<bigint> {
  const { rows } = await db.query<{ total: string }>(`select count(*) as total from auth.users where deleted_at is null`);
  return BigInt(rows[0].total);
}

/** A page of users by creation time (ties by id). */
export async function listUsers(db: Db, descending: boolean, limit: bigint, offset: bigint): Promise<UserRow[]> {
  const order = descending ? 'created_at desc, id desc' : 'created_at asc, id asc';
  const { rows } = await db.query<UserRow>(`select * from auth.users where deleted_at is null order by ${order} limit $1 offset $2`, [String(limit), String(offset)]);
  return rows;
}

/** Deletes a user (sessions, identities and tokens go with it); false when there was none. */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`delete from auth.users where id = $1`, [id]);
  return !!rowCount;
}

/** The column stamped when a mail of a kind is requested (GoTrue's `*_sent_at`). */
export type SentColumn = 'confirmation_sent_at' | 'invited_at' | 'recovery_sent_at' | 'email_change_sent_at' | 'reauthentication_sent_at' | 'phone_change_sent_at';

/** Stamps a `*_sent_at` column now (a link generated without a mail, an invite). */
export async function stampSent(db: Db, id: string, column: Exclude<SentColumn, 'email_change_sent_at' | 'reauthentication_sent_at' | 'phone_change_sent_at'>): Promise<void> {
  await db.query(`update auth.users set "${column}" = now() where id = $1`, [id]);
}

/** Records a pending email change (GoTrue's `new_email`). */
export async function setEmailChange(db: Db, id: string, newEmail: string, opts: { stampSent: boolean }): Promise<void> {
  if (opts.stampSent) await db.query(`update auth.users set email_change = $2, email_change_sent_at = now() where id = $1`, [id, newEmail]);
  else await db.query(`update auth.users set email_change = $2, updated_at = now() where id = $1`, [id, newEmail]);
}

/** The user with a pending email change from or to this address (resend type email_change). */
export async function findPendingEmailChange(db: Db, email: string): Promise<(UserRow & { email_change: string }) | undefined> {
  const { rows } = await db.query<UserRow & { email_change: string }>(
    `select * from auth.users where deleted_at is null and email_change is not null and (lower(email) = $1 or lower(email_change) = $1) limit 1`,
    [email],
  );
  return rows[0];
}

/** The pending new address of a user, if any. */
export async function pendingEmailChange(db: Db, id: string): Promise<string | null | undefined> {
  const { rows } = await db.query<{ email_change: string | null }>(`select email_change from auth.users where id = $1`, [id]);
  return rows[0]?.email_change;
}

/** The address is confirmed: on the user and its email identity. */
export async function confirmEmail(db: Db, id: string): Promise<void> {
  await db.query(`update auth.users set email_confirmed_at = coalesce(email_confirmed_at, now()), updated_at = now() where id = $1`, [id]);
  await db.query(
    `update auth.identities set identity_data = identity_data || '{"email_verified": true}', updated_at = now() where user_id = $1 and provider = 'email'`,
    [id],
  );
}

/** Both halves of an email change are confirmed: the new address replaces the old one. */
export async function applyEmailChange(db: Db, id: string, newEmail: string): Promise<void> {
  await db.query(
    `update auth.users set email = email_change, email_change = null, email_change_sent_at = null,
       email_confirmed_at = coalesce(email_confirmed_at, now()), is_anonymous = false, updated_at = now() where id = $1`,
    [id],
  );
  await db.query(
    `update auth.identities set identity_data = identity_data || jsonb_build_object('email', $2::text, 'email_verified', true), updated_at = now()
     where user_id = $1 and provider = 'email'`,
    [id, newEmail],
  );
}

export async function findUserByPhone(db: Db, phone: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`select * from auth.users where phone = $1 and deleted_at is null`, [phone]);
  return rows[0];
}

/** The user whose pending new number (updateUser({ phone })) is `phone`. */
export async function findUserByPhoneChange(db: Db, phone: string): Promise<UserRow | undefined> {
  const { rows } = await db.query<UserRow>(`select * from auth.users where phone_change = $1 and deleted_at is null`, [phone]);
  return rows[0];
}

/** Confirms the user's phone (an SMS code was verified); its phone identity says so too. */
export async function confirmPhone(db: Db, id: string): Promise<void> {
  await db.query(`update auth.users set phone_confirmed_at = coalesce(phone_confirmed_at, now()), updated_at = now() where id = $1`, [id]);
  await db.query(`update auth.identities set identity_data = identity_data || '{"phone_verified": true}', updated_at = now() where user_id = $1 and provider = 'phone'`, [id]);
}

/** Records a pending phone change (GoTrue's `phone_change`, shown as `new_phone`). */
export async function setPhoneChange(db: Db, id: string, phone: string): Promise<void> {
  await db.query(`update auth.users set phone_change = $2, updated_at = now() where id = $1`, [id, phone]);
}

/**
 * GoTrue's ConfirmPhoneChange: the pending number becomes the user's, confirmed; the one-time
 * tokens go; the phone identity is made or takes the new number.
 */
export async function confirmPhoneChange(db: Db, id: string): Promise<void> {
  const { rows } = await db.query<{ phone: string }>(
    `update auth.users set phone = phone_change, phone_change = '', phone_change_token = '', phone_confirmed_at = now(), updated_at = now()
     where id = $1 returning phone`,
    [id],
  );
  await db.query(`delete from auth.one_time_tokens where user_id = $1`, [id]);
  const data = { sub: id, phone: rows[0].phone, email_verified: false, phone_verified: true };
  const { rowCount } = await db.query(`update auth.identities set identity_data = identity_data || $2, updated_at = now() where user_id = $1 and provider = 'phone'`, [id, data]);
  if (!rowCount) await db.query(`insert into auth.identities (provider_id, user_id, provider, identity_data, last_sign_in_at) values ($1::text, $1::uuid, 'phone', $2, now())`, [id, data]);
}
