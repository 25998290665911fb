/**
 * Provider identities of OAuth sign-ins (auth/routes/oauth.ts): the identity's profile refreshed
 * on each sign-in, new users and identities, and the provider merged into the user's metadata.
 */
import type pg from 'pg';

/** Refreshes a known identity's profile; its user, or undefined for an identity never seen. */
export async function touchIdentity(c: pg.PoolClient, provider: string, providerId: string, data: Record<string, unknown>): Promise<string | undefined> {
  const { rows } = await c.query<{ user_id: string }>(
    `update auth.identities set identity_data = $3, last_sign_in_at = now(), updated_at = now()
     where provider = $1 and provider_id = $2 returning user_id`,
    [provider, providerId, data],
  );
  return rows[0]?.user_id;
}

/** Drops a user's password (an unconfirmed account linked to a provider that proved the address). */
export async function clearPassword(c: pg.PoolClient, userId: string): Promise<void> {
  await c.query(`update auth.users set encrypted_password = null where id = $1`, [userId]);
}

/** A user created by a provider sign-in (no email identity); its id. */
export async function createProviderUser(
  c: pg.PoolClient,
  u: { email: string | null; confirmed: boolean; appMetadata: Record<string, unknown>; userMetadata: Record<string, unknown>; ssoUser?: boolean },
): Promise<string> {
  const { rows } = await c.query<{ id: string }>(
    `insert into auth.users (email, email_confirmed_at, raw_app_meta_data, raw_user_meta_data, is_sso_user)
     values ($1, case when $2::boolean then now() end, $3, $4, $5) returning id`,
    [u.email, u.confirmed, u.appMetadata, u.userMetadata, u.ssoUser ?? false],
  );
  return rows[0].id;
}

export async function createIdentity(c: pg.PoolClient, providerId: string, userId: string, provider: string, data: Record<string, unknown>): Promise<void> {
  await c.query(`insert into auth.identities (provider_id, user_id, provider, identity_data, last_sign_in_at) values ($1, $2, $3, $4, now())`, [providerId, userId, provider, data]);
}

/**
 * The provider joins the user's app_metadata (`provider` kept if set, `providers` without
 * duplicates), the profile is merged into user_metadata, and a verified address equal to the
 * user's confirms it.
 */
export async function mergeProvider(c: pg.PoolClient, userId: string, provider: string, data: Record<string, unknown>, emailVerified: boolean, email: string): Promise<void> {
  await c.query(
    `update auth.users set
       raw_app_meta_data = jsonb_set(raw_app_meta_data || jsonb_build_object('provider', coalesce(raw_app_meta_data->>'provider', $2::text)), '{providers}',
         (select coalesce(jsonb_agg(distinct x), '[]') from jsonb_array_elements_text(coalesce(raw_app_meta_data->'providers', '[]') || jsonb_build_array($2::text)) x)),
       raw_user_meta_data = raw_user_meta_data || $3,
       email_confirmed_at = case when $4::boolean and lower(email) = lower($5) then coalesce(email_confirmed_at, now()) else email_confirmed_at end,
       updated_at = now()
     where id = $1`,
    [userId, provider, data, emailVerified, email],
  );
}

/** The user of an identity of `provider` with this address (an SSO provider's linking domain is itself). */
export async function findUserOfProviderByEmail(c: pg.PoolClient, provider: string, email: string): Promise<string | undefined> {
  const { rows } = await c.query<{ id: string }>(
    `select u.id from auth.users u where lower(u.email) = lower($2) and u.deleted_at is null
       and exists (select 1 from auth.identities i where i.user_id = u.id and i.provider = $1) order by u.created_at limit 1`,
    [provider, email],
  );
  return rows[0]?.id;
}

/** The identity a provider account already is, and whose. */
export async function findIdentity(c: pg.PoolClient, provider: string, providerId: string): Promise<{ id: string; user_id: string } | undefined> {
  const { rows } = await c.query<{ id: string; user_id: string }>(`select id, user_id from auth.identities where provider = $1 and provider_id = $2`, [provider, providerId]);
  return rows[0];
}

export async function deleteIdentity(c: pg.PoolClient, id: string): Promise<void> {
  await c.query(`delete from auth.identities where id = $1`, [id]);
}

/**
 * app_metadata.providers from the user's identities (oldest first, each once) and `provider` the
 * first of them (GoTrue's UpdateAppMetaDataProviders).
 */
export async function syncProviders(c: pg.PoolClient, userId: string): Promise<void> {
  await c.query(
    `with p as (
       select coalesce(jsonb_agg(provider order by first), '[]') as list
       from (select provider, min(created_at) as first from auth.identities where user_id = $1 group by provider) x
     )
     update auth.users set raw_app_meta_data = raw_app_meta_data || jsonb_build_object('providers', p.list)
       || case when jsonb_array_length(p.list) > 0 then jsonb_build_object('provider', p.list->0) else '{}' end,
       updated_at = now()
     from p where id = $1`,
    [userId],
  );
}

/**
 * The user's address becomes `email` (null: none), confirmed or not; a change of address voids
 * the tokens and pending change issued for the old one (GoTrue's ClearAllPendingTokens).
 */
export async function setPrimaryEmail(c: pg.PoolClient, userId: string, email: string | null, confirmed: boolean): Promise<void> {
  await c.query(
    `update auth.users set email = $2, email_change = null,
       email_confirmed_at = case when $3::boolean then coalesce(email_confirmed_at, now()) end,
       raw_user_meta_data = case when $3::boolean then raw_user_meta_data else raw_user_meta_data || '{"email_verified": false}' end,
       updated_at = now()
     where id = $1`,
    [userId, email, confirmed],
  );
  await c.query(`delete from auth.one_time_tokens where user_id = $1`, [userId]);
}

/** The user loses its phone number (its phone identity was unlinked). */
export async function clearPhone(c: pg.PoolClient, userId: string): Promise<void> {
  await c.query(`update auth.users set phone = null, phone_confirmed_at = null, updated_at = now() where id = $1`, [userId]);
}
