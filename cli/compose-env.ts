/**
 * `nextmavens gen env --compose [--out FILE] [--force]`: the `.env` docker compose reads, with
 * fresh secrets (hex, so they fit in connection URIs) and the API keys that match them. Written
 * once: an existing file is kept unless --force, because new secrets invalidate every key and
 * session issued with the old ones.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { deriveApiKey } from '../config/keys.ts';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

export async function composeEnv(opts: { publicUrl?: string } = {}): Promise<string> {
  const jwtSecret = hex(32);
  const lines = [
    '# docker compose configuration, made by `nextmavens gen env --compose`.',
    '# Keep this file secret and backed up (it is not in git): JWT_SECRET signs every key and session;',
    '# a new JWT_SECRET invalidates ANON_KEY, SERVICE_ROLE_KEY and every session. To rotate the keys',
    '# without logging users out, add asymmetric signing keys (`nextmavens keys --es256`, JWT_SIGNING_KEYS).',
    '# Database logins: the owner (migrate and the gateway only), authenticator (requests, PostgREST,',
    '# GraphQL) and the auth, storage and realtime roles (sql/0028_service_roles.sql). `migrate` sets',
    '# the last four on every run: to rotate one, change it here and `docker compose up -d`.',
    `POSTGRESQL_PASSWORD=${hex(24)}`,
    `POSTGRESQL_AUTHENTICATOR_PASSWORD=${hex(24)}`,
    `POSTGRESQL_AUTH_PASSWORD=${hex(24)}`,
    `POSTGRESQL_STORAGE_PASSWORD=${hex(24)}`,
    `POSTGRESQL_REALTIME_PASSWORD=${hex(24)}`,
    `JWT_SECRET=${jwtSecret}`,
    `ANON_KEY=${await deriveApiKey('anon', jwtSecret)}`,
    `SERVICE_ROLE_KEY=${await deriveApiKey('service_role', jwtSecret)}`,
    `S3_ACCESS_KEY=nextmavens`,
    `S3_SECRET_KEY=${hex(24)}`,
    `PUBLIC_URL=${opts.publicUrl ?? 'http://localhost:8000'}`,
    '# HTTPS: your domain and the address Let\'s Encrypt writes to (then PUBLIC_URL=https://<DOMAIN>).',
    '# DOMAIN=api.example.com',
    '# ACME_EMAIL=ops@example.com',
  ];
  return `${lines.join('\n')}\n`;
}

export async function writeComposeEnv(file: string, force: boolean, publicUrl?: string): Promise<void> {
  if (existsSync(file) && !force) throw new Error(`gen env --compose: ${file} exists; its secrets sign every key and session: keep it, or add --force to replace it`);
  await writeFile(file, await composeEnv({ publicUrl }), { mode: 0o600 });
}
