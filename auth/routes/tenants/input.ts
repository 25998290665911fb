/** What the tenant admin API reads from requests: names, slugs, roles, permissions, ids. */
import type { FastifyRequest } from 'fastify';
import { AUTH_ERRORS } from '../../errors.ts';
import { hasNul, type Body } from '../../http.ts';

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const ROLE = /^[a-z][a-z0-9_.-]{0,62}$/;
/** `*`, `projects.write`, `projects.*`: dot-separated lower-case words, an optional `.*` tail. */
const PERMISSION = /^(\*|[a-z0-9_-]{1,64}(\.[a-z0-9_-]{1,64}){0,7}(\.\*)?)$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const MAX_PERMISSIONS = 100;

export function checkedBody(body: Body): Body {
  if (hasNul(body)) throw AUTH_ERRORS.validation('The request contains a NUL character');
  return body;
}

export function nameOf(v: unknown): string {
  const name = typeof v === 'string' ? v.trim() : '';
  if (!name || name.length > 200) throw AUTH_ERRORS.validation('name must be a non-empty string of at most 200 characters');
  return name;
}

export function slugOf(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !SLUG.test(v)) throw AUTH_ERRORS.validation('slug must be lower-case letters, digits and hyphens (at most 63), starting with a letter or digit');
  return v;
}

export function roleOf(v: unknown): string {
  if (typeof v !== 'string' || !ROLE.test(v)) throw AUTH_ERRORS.validation('role must be a role name: lower-case letters, digits, _ . - (at most 63), starting with a letter');
  return v;
}

export function permissionsOf(v: unknown): string[] {
  if (!Array.isArray(v) || v.length > MAX_PERMISSIONS || v.some((p) => typeof p !== 'string' || !PERMISSION.test(p))) {
    throw AUTH_ERRORS.validation(`permissions must be a list of at most ${MAX_PERMISSIONS} names such as "projects.write", "projects.*" or "*"`);
  }
  return [...new Set(v as string[])];
}

export function uuidParam(req: FastifyRequest, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (!v || !UUID.test(v)) throw AUTH_ERRORS.validation(`${name} must be a UUID`);
  return v.toLowerCase();
}

export function roleParam(req: FastifyRequest): string {
  return roleOf((req.params as { name?: string }).name);
}
