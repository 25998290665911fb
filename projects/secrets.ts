/**
 * A project's JWT secret at rest: AES-256-GCM under a key derived (HKDF-SHA256) from
 * PROJECTS_ENCRYPTION_KEY (default JWT_SECRET), stored as `v1.<iv>.<tag>.<ciphertext>` (base64url).
 * The registry row alone (a leaked dump of nextmavens.projects) does not give a project's keys.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const INFO = 'nextmavens projects: jwt secrets v1';

function keyOf(encryptionKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', encryptionKey, 'nextmavens.projects', INFO, 32));
}

export function encryptSecret(plain: string, encryptionKey: string, ref: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyOf(encryptionKey), iv);
  cipher.setAAD(Buffer.from(ref)); // a secret copied onto another project's row does not decrypt
  const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return ['v1', iv, cipher.getAuthTag(), body].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
}

export function decryptSecret(stored: string, encryptionKey: string, ref: string): string {
  const [v, iv, tag, body] = stored.split('.');
  if (v !== 'v1' || !iv || !tag || body === undefined) throw new Error(`project ${ref}: its stored secret is not in the v1 format`);
  const decipher = createDecipheriv('aes-256-gcm', keyOf(encryptionKey), Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(ref));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8');
  } catch {
    throw new Error(`project ${ref}: its secret does not decrypt with this PROJECTS_ENCRYPTION_KEY (or JWT_SECRET)`);
  }
}

/** A fresh HS256 secret: 48 random bytes, 64 characters. */
export const newJwtSecret = () => randomBytes(48).toString('base64url');
