/** What `nextmavens start` prints once the stack is up, like `supabase start`. */
import type { Config } from '../config/load.ts';
import { VERSION } from '../config/version.ts';

function databaseUrl(config: Config): string {
  const pg = config.postgres;
  if (pg.embedded) return pg.url; // local throwaway cluster: show it whole, as `supabase start` does
  const url = new URL(pg.url);
  if (url.password) url.password = '****';
  return url.toString();
}

export function renderBanner(config: Config, port: number, startMs: number): string {
  const api = config.publicUrl.replace(/:\d+$/, (m) => (m === `:${config.port}` ? `:${port}` : m));
  const rows: [string, string][] = [
    ['API URL', api],
    ['REST URL', `${api}/rest/v1`],
    ['GraphQL URL', `${api}/graphql/v1`],
    ['Auth URL', `${api}/auth/v1`],
    ['Storage URL', `${api}/storage/v1`],
    ['Realtime URL', `${api.replace(/^http/, 'ws')}/realtime/v1`],
    ['Health', `${api}/health`],
    ['Admin', `${api}/admin`],
    ['DB URL', databaseUrl(config)],
    ['anon key', config.anonKey],
    ['service_role key', config.serviceRoleKey],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, v]) => `${k.padStart(width)}: ${v}`);
  return [
    '',
    `NextMavens Stack ${VERSION} started in ${(startMs / 1000).toFixed(1)} s${config.postgres.embedded ? ' (embedded Postgres 17)' : ''}${config.webConcurrency > 1 ? `, ${config.webConcurrency} workers (WEB_CONCURRENCY)` : ''}`,
    '',
    ...lines,
    '',
    `ready: accepting requests on ${api}`,
    '',
  ].join('\n');
}
