/**
 * Secrets the stack generates when they are not configured, kept in DATA_DIR/secrets.json
 * (mode 0600) so that API keys and the embedded database password survive restarts.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface GeneratedSecrets {
  jwtSecret: string;
  postgresPassword: string;
}

const FILE = 'secrets.json';

function fresh(): GeneratedSecrets {
  return {
    jwtSecret: randomBytes(32).toString('base64url'),
    postgresPassword: randomBytes(18).toString('base64url'),
  };
}

export async function loadOrCreateSecrets(dataDir: string): Promise<GeneratedSecrets> {
  const file = path.join(dataDir, FILE);
  let existing: Partial<GeneratedSecrets> = {};
  try {
    existing = JSON.parse(await readFile(file, 'utf8')) as Partial<GeneratedSecrets>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`Cannot read ${file}: ${(err as Error).message}. Fix or delete it.`);
    }
  }
  const secrets = { ...fresh(), ...existing };
  if (secrets.jwtSecret !== existing.jwtSecret || secrets.postgresPassword !== existing.postgresPassword) {
    await mkdir(dataDir, { recursive: true, mode: 0o755 });
    await writeFile(file, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600 });
  }
  return secrets;
}
