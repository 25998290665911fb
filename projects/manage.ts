/**
 * The project operations behind `nextmavens projects …` and the admin API (projects/admin-api.ts):
 * create (a registry row, then a database copied from the template), list, pause, resume, keys,
 * delete (a backup first, by backup/'s tools; then the database, the storage area and the row).
 */
import { rm } from 'node:fs/promises';
import type pg from 'pg';
import { backupFor } from '../backup/run.ts';
import { openStore } from '../backup/store.ts';
import type { Config } from '../config/load.ts';
import { createBackend } from '../storage/backend/index.ts';
import { projectConfig } from './config.ts';
import { checkRef, databaseName, ProjectError, projectUrl } from './names.ts';
import { encryptSecret, newJwtSecret } from './secrets.ts';
import { deleteProjectRecord, getProject, insertProject, listProjects, setProjectStatus, type ProjectLimits, type ProjectRecord, type ProjectSettings, type ProjectStatus } from './store.ts';
import { createProjectDatabase, dropProjectDatabase } from './template.ts';

/** A project as the CLI and the API show it: never its secret. */
export interface ProjectView {
  ref: string;
  url: string;
  status: ProjectStatus;
  server: string;
  database: string;
  settings: ProjectSettings;
  limits: ProjectLimits;
  created_at: string;
}

export interface ProjectKeys {
  ref: string;
  url: string;
  anon_key: string;
  service_role_key: string;
  jwt_secret: string;
}

export interface CreateOptions {
  server?: string;
  settings?: ProjectSettings;
  limits?: ProjectLimits;
}

function view(base: Config, p: ProjectRecord): ProjectView {
  return { ref: p.ref, url: projectUrl(base, p.ref), status: p.status, server: p.server, database: p.db_name, settings: p.settings, limits: p.limits, created_at: p.created_at.toISOString() };
}

const notFound = (ref: string) => new ProjectError(404, 'project_not_found', `No project "${ref}"`);

export function projectsAdmin(base: Config, admin: pg.Pool) {
  async function need(ref: string): Promise<ProjectRecord> {
    const p = await getProject(admin, checkRef(ref));
    if (!p) throw notFound(ref);
    return p;
  }
  async function keysOf(p: ProjectRecord): Promise<ProjectKeys> {
    const cfg = await projectConfig(base, p);
    return { ref: p.ref, url: cfg.publicUrl, anon_key: cfg.anonKey, service_role_key: cfg.serviceRoleKey, jwt_secret: cfg.jwtSecret };
  }
  return {
    async create(ref: string, opts: CreateOptions = {}): Promise<ProjectView & { keys: ProjectKeys; ms: number }> {
      const started = performance.now();
      checkRef(ref);
      const server = opts.server ?? 'default';
      if (server !== 'default' && !base.projects.servers[server]) throw new ProjectError(400, 'unknown_server', `no Postgres server "${server}" in PROJECT_SERVERS`);
      const record = { ref, db_name: databaseName(base, ref), server, jwt_secret_enc: encryptSecret(newJwtSecret(), base.projects.encryptionKey, ref), settings: opts.settings ?? {}, limits: opts.limits ?? {} };
      if (!(await insertProject(admin, record))) throw new ProjectError(409, 'project_exists', `A project "${ref}" exists already`);
      try {
        await createProjectDatabase(base, server, record.db_name, record.limits.connections);
      } catch (err) {
        await deleteProjectRecord(admin, ref);
        if ((err as { code?: string }).code === '42P04') throw new ProjectError(409, 'database_exists', `The database ${record.db_name} exists already (not a project of this registry)`);
        throw err;
      }
      const p = await need(ref);
      return { ...view(base, p), keys: await keysOf(p), ms: performance.now() - started };
    },
    list: async () => (await listProjects(admin)).map((p) => view(base, p)),
    get: async (ref: string) => view(base, await need(ref)),
    keys: async (ref: string) => keysOf(await need(ref)),
    async setStatus(ref: string, status: ProjectStatus): Promise<ProjectView> {
      await need(ref);
      await setProjectStatus(admin, ref, status);
      return view(base, await need(ref));
    },
    /**
     * Backs the project up (unless `backup: false`), then drops its database, removes its storage
     * area and its row. The backup is a dump of its database (or, embedded, a base backup of the
     * cluster) with exactly its storage objects, under BACKUP_TARGET/projects/<ref>.
     */
    async delete(ref: string, opts: { backup?: boolean; progress?: (line: string) => void } = {}): Promise<{ ref: string; backup?: string }> {
      const p = await need(ref);
      const cfg = await projectConfig(base, p);
      let location: string | undefined;
      if (opts.backup !== false) {
        await setProjectStatus(admin, ref, 'paused'); // no write lands after the backup
        const onDefault = p.server === 'default';
        // A base backup is of the cluster of DATA_DIR (or BACKUP_PGDATA): only for the stack's own server.
        const backupConfig = onDefault ? { ...cfg, dataDir: base.dataDir } : { ...cfg, postgres: { ...cfg.postgres, embedded: false }, backup: { ...cfg.backup, pgData: undefined } };
        const store = await openStore(cfg.backup.target);
        const backend = await createBackend(cfg);
        try {
          location = (await backupFor(backupConfig, { url: cfg.postgres.url, store, backend, progress: opts.progress })).location;
        } catch (err) {
          await setProjectStatus(admin, ref, p.status);
          throw new ProjectError(503, 'backup_failed', `project ${ref} was not deleted: its backup failed: ${(err as Error).message}`);
        } finally {
          backend.close?.();
        }
      }
      await dropProjectDatabase(base, p.server, p.db_name);
      if (base.storage.backend === 'fs') await rm(cfg.dataDir, { recursive: true, force: true });
      await deleteProjectRecord(admin, ref);
      return { ref, backup: location };
    },
  };
}

export type ProjectsAdmin = ReturnType<typeof projectsAdmin>;
