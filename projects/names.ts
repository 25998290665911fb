/**
 * What a project's ref names: its database, its replication slot, its URL. A ref is what
 * `<ref>.supabase.co` is for Supabase: lower-case letters, digits and single hyphens, 3 to 30
 * characters, starting with a letter (a DNS label, and a fragment of a slot name once its hyphens
 * become underscores — refs have no underscores, so two refs never share a slot or a database).
 */
import type { Config } from '../config/load.ts';

export const REF_PATTERN = /^[a-z][a-z0-9-]{1,28}[a-z0-9]$/;

export class ProjectError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = 'ProjectError';
    this.status = status;
    this.code = code;
  }
}

export function checkRef(ref: string): string {
  if (!REF_PATTERN.test(ref) || ref.includes('--')) {
    throw new ProjectError(400, 'invalid_ref', `"${ref.slice(0, 40)}" is not a project ref: 3-30 lower-case letters, digits and single hyphens, starting with a letter`);
  }
  return ref;
}

const snake = (ref: string) => ref.replace(/-/g, '_');

/** `<default database>_<ref>`: beside the default database, so two stacks on one server never meet. */
export function databaseName(config: Config, ref: string): string {
  const name = `${config.postgres.database}_${snake(ref)}`;
  if (name.length > 63) throw new ProjectError(400, 'invalid_ref', `the database name ${name} would be longer than Postgres's 63 characters: choose a shorter ref`);
  return name;
}

/** The template every project database is copied from (sql/ migrated, kept free of connections). */
export function templateName(config: Config): string {
  return `${config.postgres.database.slice(0, 45)}_project_template`;
}

/** Slots are cluster-wide: the default project's slot name with the ref. */
export function slotName(config: Config, ref: string): string {
  return `${config.postgres.replicationSlot.slice(0, 32)}_${snake(ref)}`;
}

/**
 * The project's URL: `<ref>.` before PUBLIC_URL's host when that host is PROJECTS_DOMAIN
 * (`http://localhost:8000` → `http://<ref>.localhost:8000`), else PUBLIC_URL's path prefix
 * `/project/<ref>` (a host without wildcard DNS).
 */
export function projectUrl(config: Config, ref: string): string {
  const url = new URL(config.publicUrl);
  if (url.hostname === config.projects.domain) {
    url.hostname = `${ref}.${url.hostname}`;
    return url.toString().replace(/\/+$/, '');
  }
  return `${config.publicUrl.replace(/\/+$/, '')}${PATH_PREFIX}${ref}`;
}

/** The path prefix of a project on any host: `/project/<ref>/rest/v1/…`. */
export const PATH_PREFIX = '/project/';
