/**
 * Reading a storage request: route parameters and JSON bodies (the object key of a `*`
 * parameter is names.ts's keyParam).
 */
import type { FastifyRequest } from 'fastify';
import { STORAGE_ERRORS } from '../errors.ts';
import { checkNameField } from '../names.ts';

export const param = (req: FastifyRequest, name: string): string => (req.params as Record<string, string>)[name];

export const queryParam = (req: FastifyRequest, name: string): string | undefined => (req.query as Record<string, string | undefined>)[name];

/** The JSON body as an object ({} for none, or for a streamed body). */
export const bodyOf = (req: FastifyRequest): Record<string, unknown> =>
  req.body && typeof req.body === 'object' && !('pipe' in (req.body as object)) ? (req.body as Record<string, unknown>) : {};

/** The JSON body, which must be an object when present (a 400 otherwise). */
export function bodyObject(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw STORAGE_ERRORS.invalidRequest('The request body must be a JSON object');
  return b as Record<string, unknown>;
}

export function requiredString(b: Record<string, unknown>, name: string): string {
  const v = b[name];
  if (typeof v !== 'string' || v === '') throw STORAGE_ERRORS.invalidRequest(`body must have required property '${name}'`);
  return v;
}

/** `expiresIn` of a signing request: a positive integer of seconds. */
export function expiresIn(b: Record<string, unknown>): number {
  const v = Number(b.expiresIn);
  if (!Number.isInteger(v) || v < 1) throw STORAGE_ERRORS.invalidRequest('expiresIn must be a positive integer');
  return v;
}

/** A list of paths from a body field (remove, sign): non-empty, strings, at most `max`, each a valid name field. */
export function pathList(v: unknown, field: string, max: number, tooMany: string): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.some((p) => typeof p !== 'string')) throw STORAGE_ERRORS.invalidRequest(`${field} must be a non-empty array of ${field === 'prefixes' ? 'paths' : 'strings'}`);
  if (v.length > max) throw STORAGE_ERRORS.invalidRequest(tooMany);
  return (v as string[]).map((p) => checkNameField(p, field));
}
