/** All SQL of the project registry (sql/0038_projects.sql), over the default database's owner pool. */
import type pg from 'pg';

export type ProjectStatus = 'active' | 'paused';

/** Per-project quotas; unset: none beyond the stack's own. */
export interface ProjectLimits {
  /** Bytes of the project's database; over it, writes are refused (checked every QUOTA_CHECK_MS). */
  db_bytes?: number;
  /** Bytes of its storage objects; over it, uploads are refused. */
  storage_bytes?: number;
  /** Connections to its database (ALTER DATABASE … CONNECTION LIMIT, and each pool's size). */
  connections?: number;
  /** Requests per minute per tenant and route group, as RATE_LIMIT_*. */
  rate_limits?: Partial<Record<'rest' | 'graphql' | 'storage' | 'realtime' | 'auth', number>>;
}

export interface ProjectSettings {
  /** SITE_URL of the project's auth (email links, OAuth). */
  site_url?: string;
  /** AUTH_AUTOCONFIRM of the project. */
  autoconfirm?: boolean;
}

export interface ProjectRecord {
  ref: string;
  db_name: string;
  server: string;
  status: ProjectStatus;
  jwt_secret_enc: string;
  settings: ProjectSettings;
  limits: ProjectLimits;
  created_at: Date;
}

const COLUMNS = 'ref, db_name, server, status, jwt_secret_enc, settings, limits, created_at';

export async function getProject(db: pg.Pool, ref: string): Promise<ProjectRecord | undefined> {
  const { rows } = await db.query<ProjectRecord>(`select ${COLUMNS} from nextmavens.projects where ref = $1`, [ref]);
  return rows[0];
}

export async function listProjects(db: pg.Pool): Promise<ProjectRecord[]> {
  const { rows } = await db.query<ProjectRecord>(`select ${COLUMNS} from nextmavens.projects order by created_at, ref`);
  return rows;
}

/** Inserts the record; false when the ref is taken. */
export async function insertProject(db: pg.Pool, p: Omit<ProjectRecord, 'created_at' | 'status'>): Promise<boolean> {
  const { rowCount } = await db.query(
    `insert into nextmavens.projects (ref, db_name, server, jwt_secret_enc, settings, limits) values ($1, $2, $3, $4, $5, $6) on conflict (ref) do nothing`,
    [p.ref, p.db_name, p.server, p.jwt_secret_enc, JSON.stringify(p.settings), JSON.stringify(p.limits)],
  );
  return rowCount === 1;
}

export async function setProjectStatus(db: pg.Pool, ref: string, status: ProjectStatus): Promise<boolean> {
  const { rowCount } = await db.query(`update nextmavens.projects set status = $2, updated_at = now() where ref = $1`, [ref, status]);
  return rowCount === 1;
}

export async function deleteProjectRecord(db: pg.Pool, ref: string): Promise<void> {
  await db.query('delete from nextmavens.projects where ref = $1', [ref]);
}

/** The size of the project's database and of its storage objects (quota checks). */
export async function projectUsage(db: pg.Pool): Promise<{ dbBytes: number; storageBytes: number }> {
  const { rows } = await db.query<{ db: string; storage: string }>(
    `select pg_database_size(current_database())::text as db,
            coalesce((select sum((metadata->>'size')::bigint) from storage.objects), 0)::text as storage`,
  );
  return { dbBytes: Number(rows[0].db), storageBytes: Number(rows[0].storage) };
}
