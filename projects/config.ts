/**
 * A project's Config: the stack's own with what makes the project another Supabase project — its
 * database (on the server its record names), replication slot, JWT secret and the API keys derived
 * from it (HS256, no asymmetric signing keys: a project's tokens verify with its secret only), its
 * storage area (DATA_DIR/projects/<ref>/storage, or its own S3 bucket `<S3_BUCKET>-<ref>`), its URL,
 * settings and limits. Everything else (auth policies, limits of the services) is the stack's.
 */
import path from 'node:path';
import type { BackupTarget, Config } from '../config/load.ts';
import { deriveApiKey } from '../config/keys.ts';
import { decryptSecret } from './secrets.ts';
import { ProjectError, projectUrl, slotName } from './names.ts';
import type { ProjectRecord } from './store.ts';

/** The owner URL of a server's database `database` (`default`: the stack's own server). */
export function serverDatabaseUrl(base: Config, server: string, database: string): string {
  const serverUrl = server === 'default' ? base.postgres.url : base.projects.servers[server];
  if (!serverUrl) throw new ProjectError(400, 'unknown_server', `no Postgres server "${server}" (PROJECT_SERVERS names: ${['default', ...Object.keys(base.projects.servers)].join(', ')})`);
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

function backupTarget(base: BackupTarget, ref: string): BackupTarget {
  if (base.kind === 'dir') return { kind: 'dir', dir: path.join(base.dir, 'projects', ref) };
  if (base.kind === 's3') return { ...base, prefix: [base.prefix, 'projects', ref].filter(Boolean).join('/') };
  return base; // a Telegram chat has no folders: the project's backups go beside the stack's, under their own ids
}

export async function projectConfig(base: Config, record: ProjectRecord): Promise<Config> {
  const { ref, settings, limits } = record;
  const jwtSecret = decryptSecret(record.jwt_secret_enc, base.projects.encryptionKey, ref);
  const url = serverDatabaseUrl(base, record.server, record.db_name);
  const u = new URL(url);
  const publicUrl = projectUrl(base, ref);
  const s3 = base.storage.s3 && { ...base.storage.s3, bucket: `${base.storage.s3.bucket}-${ref}`.slice(0, 63).replace(/-+$/, '') };
  return {
    ...base,
    dataDir: path.join(base.dataDir, 'projects', ref),
    publicUrl,
    rateLimits: { ...base.rateLimits, ...limits.rate_limits },
    postgres: {
      ...base.postgres,
      host: decodeURIComponent(u.hostname),
      port: u.port ? Number(u.port) : 5432,
      database: record.db_name,
      user: decodeURIComponent(u.username),
      password: decodeURIComponent(u.password),
      url,
      replicationSlot: slotName(base, ref),
      poolMax: limits.connections ? Math.max(1, Math.min(base.postgres.poolMax, Math.floor(limits.connections / 3))) : base.postgres.poolMax,
    },
    jwtSecret,
    jwks: undefined,
    signingKeys: [],
    anonKey: await deriveApiKey('anon', jwtSecret),
    serviceRoleKey: await deriveApiKey('service_role', jwtSecret),
    realtime: { ...base.realtime, jwtSecret },
    graphql: { ...base.graphql, jwtSecret },
    auth: {
      ...base.auth,
      siteUrl: (settings.site_url ?? publicUrl).replace(/\/+$/, ''),
      autoconfirm: settings.autoconfirm ?? base.auth.autoconfirm,
    },
    storage: { ...base.storage, s3 },
    // A project's backups are taken by `projects delete` (and `backup` of its database), not on the stack's schedule.
    backup: { ...base.backup, target: backupTarget(base.backup.target, ref), schedule: undefined },
  };
}
