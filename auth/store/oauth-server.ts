/**
 * The OAuth 2.1 server's SQL (sql/0030_auth_oauth_server.sql): clients, authorization requests,
 * consents, and the sessions a client started. Secrets and codes arrive here already hashed.
 */
import type pg from 'pg';
import type { Db } from './db.ts';
import type { SessionRow } from './sessions.ts';

export interface OAuthClientRow {
  id: string;
  client_secret_hash: string | null;
  registration_type: 'dynamic' | 'manual';
  client_type: 'public' | 'confidential';
  token_endpoint_auth_method: 'client_secret_basic' | 'client_secret_post' | 'none';
  redirect_uris: string[];
  grant_types: string[];
  client_name: string | null;
  client_uri: string | null;
  logo_uri: string | null;
  created_at: Date;
  updated_at: Date;
}

export type NewOAuthClient = Omit<OAuthClientRow, 'id' | 'created_at' | 'updated_at'>;
export type OAuthClientChanges = Partial<Pick<OAuthClientRow, 'redirect_uris' | 'grant_types' | 'client_name' | 'client_uri' | 'logo_uri' | 'token_endpoint_auth_method'>>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s);

export async function insertOAuthClient(db: Db, c: NewOAuthClient): Promise<OAuthClientRow> {
  const { rows } = await db.query<OAuthClientRow>(
    `insert into auth.oauth_clients (client_secret_hash, registration_type, client_type, token_endpoint_auth_method, redirect_uris, grant_types, client_name, client_uri, logo_uri)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning *`,
    [c.client_secret_hash, c.registration_type, c.client_type, c.token_endpoint_auth_method, c.redirect_uris, c.grant_types, c.client_name, c.client_uri, c.logo_uri],
  );
  return rows[0];
}

/** A client that is not deleted. */
export async function findOAuthClient(db: Db, id: string): Promise<OAuthClientRow | undefined> {
  if (!isUuid(id)) return undefined;
  const { rows } = await db.query<OAuthClientRow>(`select * from auth.oauth_clients where id = $1 and deleted_at is null`, [id]);
  return rows[0];
}

export async function countOAuthClients(db: Db): Promise<bigint> {
  const { rows } = await db.query<{ n: string }>(`select count(*) as n from auth.oauth_clients where deleted_at is null`);
  return BigInt(rows[0].n);
}

/** Newest first, as GoTrue lists them. */
export async function listOAuthClients(db: Db, limit: bigint, offset: bigint): Promise<OAuthClientRow[]> {
  const { rows } = await db.query<OAuthClientRow>(
    `select * from auth.oauth_clients where deleted_at is null order by created_at desc, id limit $1 offset $2`,
    [String(limit), String(offset)],
  );
  return rows;
}

const CHANGEABLE = ['redirect_uris', 'grant_types', 'client_name', 'client_uri', 'logo_uri', 'token_endpoint_auth_method'] as const;

export async function updateOAuthClient(db: Db, id: string, changes: OAuthClientChanges): Promise<OAuthClientRow | undefined> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const column of CHANGEABLE) {
    if (changes[column] === undefined) continue;
    values.push(changes[column]);
    sets.push(`${column} = $${values.length}`);
  }
  const { rows } = await db.query<OAuthClientRow>(
    `update auth.oauth_clients set ${[...sets, 'updated_at = now()'].join(', ')} where id = $1 and deleted_at is null returning *`,
    values,
  );
  return rows[0];
}

export async function setOAuthClientSecret(db: Db, id: string, secretHash: string): Promise<OAuthClientRow | undefined> {
  const { rows } = await db.query<OAuthClientRow>(
    `update auth.oauth_clients set client_secret_hash = $2, updated_at = now() where id = $1 and deleted_at is null and client_type = 'confidential' returning *`,
    [id, secretHash],
  );
  return rows[0];
}

/** Soft delete (GoTrue keeps the row); the client's sessions end with it. */
export async function deleteOAuthClient(client: pg.PoolClient, id: string): Promise<boolean> {
  const { rowCount } = await client.query(`update auth.oauth_clients set deleted_at = now(), updated_at = now() where id = $1 and deleted_at is null`, [id]);
  if (!rowCount) return false;
  await client.query(`delete from auth.sessions where oauth_client_id = $1`, [id]);
  await client.query(`delete from auth.oauth_authorizations where client_id = $1`, [id]);
  return true;
}

// ------------------------------------------------------------------------------- authorizations

export interface OAuthAuthorizationRow {
  id: string;
  authorization_id: string;
  client_id: string;
  user_id: string | null;
  redirect_uri: string;
  scope: string;
  state: string | null;
  resource: string | null;
  code_challenge: string | null;
  code_challenge_method: 's256' | 'plain' | null;
  nonce: string | null;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  created_at: Date;
  expires_at: Date;
  approved_at: Date | null;
  /** expires_at has passed (by the database's clock). */
  expired: boolean;
}

export interface NewOAuthAuthorization {
  authorizationId: string;
  clientId: string;
  redirectUri: string;
  scope: string;
  state: string | null;
  resource: string | null;
  codeChallenge: string;
  codeChallengeMethod: 's256' | 'plain';
  nonce: string | null;
  ttlSeconds: number;
}

export async function insertOAuthAuthorization(db: Db, a: NewOAuthAuthorization): Promise<void> {
  await db.query(
    `insert into auth.oauth_authorizations (authorization_id, client_id, redirect_uri, scope, state, resource, code_challenge, code_challenge_method, nonce, expires_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + make_interval(secs => $10))`,
    [a.authorizationId, a.clientId, a.redirectUri, a.scope, a.state, a.resource, a.codeChallenge, a.codeChallengeMethod, a.nonce, a.ttlSeconds],
  );
}

const AUTHORIZATION_COLUMNS = `*, expires_at < now() as expired`;

/**
 * The request by its authorization_id, locked; one another transaction holds is skipped (as
 * GoTrue's FOR UPDATE SKIP LOCKED): two consents racing cannot both get a code.
 */
export async function lockOAuthAuthorization(client: pg.PoolClient, authorizationId: string): Promise<OAuthAuthorizationRow | undefined> {
  const { rows } = await client.query<OAuthAuthorizationRow>(
    `select ${AUTHORIZATION_COLUMNS} from auth.oauth_authorizations where authorization_id = $1 limit 1 for update skip locked`,
    [authorizationId],
  );
  return rows[0];
}

/** The approved request whose code hashes to `codeHash`, locked (the code is used once). */
export async function lockOAuthAuthorizationByCode(client: pg.PoolClient, codeHash: string): Promise<OAuthAuthorizationRow | undefined> {
  const { rows } = await client.query<OAuthAuthorizationRow>(
    `select ${AUTHORIZATION_COLUMNS} from auth.oauth_authorizations where authorization_code_hash = $1 and status = 'approved' for update`,
    [codeHash],
  );
  return rows[0];
}

export async function setOAuthAuthorizationUser(db: Db, id: string, userId: string): Promise<void> {
  await db.query(`update auth.oauth_authorizations set user_id = $2 where id = $1`, [id, userId]);
}

export async function approveOAuthAuthorization(db: Db, id: string, codeHash: string): Promise<void> {
  await db.query(`update auth.oauth_authorizations set status = 'approved', approved_at = now(), authorization_code_hash = $2 where id = $1`, [id, codeHash]);
}

export async function setOAuthAuthorizationStatus(db: Db, id: string, status: 'denied' | 'expired'): Promise<void> {
  await db.query(`update auth.oauth_authorizations set status = $2 where id = $1`, [id, status]);
}

export async function deleteOAuthAuthorization(db: Db, id: string): Promise<void> {
  await db.query(`delete from auth.oauth_authorizations where id = $1`, [id]);
}

// ------------------------------------------------------------------------------- consents

export interface OAuthConsentRow {
  id: string;
  user_id: string;
  client_id: string;
  scopes: string;
  granted_at: Date;
  revoked_at: Date | null;
}

export async function findActiveConsent(db: Db, userId: string, clientId: string): Promise<OAuthConsentRow | undefined> {
  const { rows } = await db.query<OAuthConsentRow>(
    `select * from auth.oauth_consents where user_id = $1 and client_id = $2 and revoked_at is null`,
    [userId, clientId],
  );
  return rows[0];
}

/** The user's consent to the client: the scopes replaced, granted now, revoked no more (GoTrue's upsert). */
export async function upsertConsent(db: Db, userId: string, clientId: string, scopes: string): Promise<void> {
  await db.query(
    `insert into auth.oauth_consents (user_id, client_id, scopes) values ($1, $2, $3)
     on conflict (user_id, client_id) do update set scopes = excluded.scopes, granted_at = now(), revoked_at = null`,
    [userId, clientId, scopes],
  );
}

/** The user's active consents to clients that still exist, newest first, with the client. */
export async function listActiveConsents(db: Db, userId: string): Promise<(OAuthConsentRow & { client: OAuthClientRow })[]> {
  const { rows } = await db.query<OAuthConsentRow & { client: OAuthClientRow }>(
    `select g.*, to_jsonb(c) as client
     from auth.oauth_consents g join auth.oauth_clients c on c.id = g.client_id and c.deleted_at is null
     where g.user_id = $1 and g.revoked_at is null
     order by g.granted_at desc`,
    [userId],
  );
  return rows.map((r) => ({ ...r, granted_at: new Date(r.granted_at) }));
}

/** Revokes the consent and ends the user's sessions of that client (their refresh tokens go with them). */
export async function revokeConsent(client: pg.PoolClient, userId: string, clientId: string): Promise<boolean> {
  const { rowCount } = await client.query(
    `update auth.oauth_consents set revoked_at = now() where user_id = $1 and client_id = $2 and revoked_at is null`,
    [userId, clientId],
  );
  if (!rowCount) return false;
  await client.query(`delete from auth.sessions where user_id = $1 and oauth_client_id = $2`, [userId, clientId]);
  return true;
}

// ------------------------------------------------------------------------------- sessions

/** Marks a new session as the client's, with the scopes granted. */
export async function tagOAuthSession(client: pg.PoolClient, sessionId: string, clientId: string, scopes: string): Promise<SessionRow> {
  const { rows } = await client.query<SessionRow>(
    `update auth.sessions set oauth_client_id = $2, scopes = $3 where id = $1 returning *`,
    [sessionId, clientId, scopes],
  );
  return rows[0];
}

/** The client a refresh token's session belongs to: undefined for an unknown token, null for a first-party session. */
export async function sessionClientOfRefreshToken(db: Db, token: string): Promise<string | null | undefined> {
  const { rows } = await db.query<{ oauth_client_id: string | null }>(
    `select s.oauth_client_id from auth.refresh_tokens rt join auth.sessions s on s.id = rt.session_id where rt.token = $1`,
    [token],
  );
  return rows[0] ? rows[0].oauth_client_id : undefined;
}
