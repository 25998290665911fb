/**
 * Passkeys (`auth.webauthn_credentials`, `auth.webauthn_challenges`, sql/0024): a user's
 * credentials, and the single-use challenges of registration and sign-in ceremonies.
 */
import type { Db } from './db.ts';

export interface PasskeyRow {
  id: string;
  user_id: string;
  /** base64url of credential_id */
  credential_id: string;
  /** base64url of the COSE public key */
  public_key: string;
  sign_count: string;
  transports: string[];
  friendly_name: string;
  created_at: Date;
  last_used_at: Date | null;
}

const COLUMNS = `id, user_id, translate(encode(credential_id, 'base64'), E'+/=\\n', '-_') as credential_id,
  translate(encode(public_key, 'base64'), E'+/=\\n', '-_') as public_key, sign_count, transports, friendly_name, created_at, last_used_at`;
const bytes = (b64u: string) => Buffer.from(b64u, 'base64url');

export async function passkeysOf(db: Db, userId: string): Promise<PasskeyRow[]> {
  const { rows } = await db.query<PasskeyRow>(`select ${COLUMNS} from auth.webauthn_credentials where user_id = $1 order by created_at, id`, [userId]);
  return rows;
}

export async function findPasskeyByCredentialId(db: Db, credentialId: string): Promise<PasskeyRow | undefined> {
  const { rows } = await db.query<PasskeyRow>(`select ${COLUMNS} from auth.webauthn_credentials where credential_id = $1`, [bytes(credentialId)]);
  return rows[0];
}

export async function createPasskey(
  db: Db,
  p: { userId: string; credentialId: string; publicKey: string; signCount: number; transports: string[]; aaguid: string | null; friendlyName: string; backupEligible: boolean; backedUp: boolean },
): Promise<PasskeyRow> {
  const { rows } = await db.query<PasskeyRow>(
    `insert into auth.webauthn_credentials (user_id, credential_id, public_key, sign_count, transports, aaguid, friendly_name, attestation_type, backup_eligible, backed_up)
     values ($1, $2, $3, $4, $5, $6, $7, 'none', $8, $9) returning ${COLUMNS}`,
    [p.userId, bytes(p.credentialId), bytes(p.publicKey), p.signCount, JSON.stringify(p.transports), p.aaguid, p.friendlyName, p.backupEligible, p.backedUp],
  );
  return rows[0];
}

export async function touchPasskey(db: Db, id: string, signCount: number): Promise<void> {
  await db.query(`update auth.webauthn_credentials set sign_count = $2, last_used_at = now(), updated_at = now() where id = $1`, [id, signCount]);
}

export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
  const { rows } = await db.query<PasskeyRow>(
    `update auth.webauthn_credentials set friendly_name = $3, updated_at = now() where id = $1 and user_id = $2 returning ${COLUMNS}`,
    [id, userId, name],
  );
  return rows[0];
}

export async function deletePasskey(db: Db, userId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query(`delete from auth.webauthn_credentials where id = $1 and user_id = $2`, [id, userId]);
  return !!rowCount;
}

/** A ceremony's challenge, expiring after `seconds`; its id and expiry (unix seconds). */
export async function createPasskeyChallenge(db: Db, userId: string | null, type: 'registration' | 'authentication', session: Record<string, unknown>, seconds: number): Promise<{ id: string; expiresAt: number }> {
  const { rows } = await db.query<{ id: string; expires_at: string }>(
    `insert into auth.webauthn_challenges (user_id, challenge_type, session_data, expires_at) values ($1, $2, $3, now() + make_interval(secs => $4))
     returning id, extract(epoch from expires_at)::bigint as expires_at`,
    [userId, type, session, seconds],
  );
  return { id: rows[0].id, expiresAt: Number(rows[0].expires_at) };
}

/** Takes (deletes) a challenge of `type` (and of `userId`, for registrations), with whether it expired. */
export async function takePasskeyChallenge(db: Db, id: string, type: 'registration' | 'authentication', userId: string | null): Promise<{ session_data: Record<string, unknown>; expired: boolean } | undefined> {
  const { rows } = await db.query<{ session_data: Record<string, unknown>; expired: boolean }>(
    `delete from auth.webauthn_challenges where id = $1 and challenge_type = $2 and user_id is not distinct from $3
     returning session_data, expires_at < now() as expired`,
    [id, type, userId],
  );
  return rows[0];
}
