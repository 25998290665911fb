/**
 * Every environment variable the stack reads, defined once: name, group, default, description.
 * `config/load.ts` parses them into the typed `Config`; `.env.example` and the README's
 * configuration table are generated from this list (`nextmavens gen env`).
 */

export interface EnvVarSpec {
  name: string;
  group: 'Database' | 'Keys' | 'Gateway' | 'Services' | 'Auth' | 'Realtime' | 'GraphQL' | 'Alerts' | 'Runtime';
  /** Default as written in .env.example; undefined means unset (optional or derived). */
  default?: string;
  description: string;
}

export const ENV_VARS: readonly EnvVarSpec[] = [
  // Database
  { name: 'DATABASE_URL', group: 'Database', description: 'Connection URL of an existing Postgres (superuser or owner). When set (or POSTGRESQL_HOST is set), no embedded Postgres starts.' },
  { name: 'POSTGRESQL_HOST', group: 'Database', description: 'Host of an existing Postgres. Unset: an embedded Postgres 17 starts on 127.0.0.1.' },
  { name: 'POSTGRESQL_PORT', group: 'Database', default: '54322', description: 'Port of Postgres (the embedded one listens here).' },
  { name: 'POSTGRESQL_DB', group: 'Database', default: 'nextmavens', description: 'Database name.' },
  { name: 'POSTGRESQL_USER', group: 'Database', default: 'nextmavens', description: 'Database user; superuser of the embedded cluster.' },
  { name: 'POSTGRESQL_PASSWORD', group: 'Database', description: 'Password of POSTGRESQL_USER, also given to the `authenticator` role. Embedded: generated and kept in DATA_DIR when unset.' },
  { name: 'POSTGRESQL_REPLICATION_SLOT', group: 'Database', default: 'nextmavens_slot', description: 'Logical replication slot consumed by the realtime service.' },
  { name: 'DB_POOL_MAX', group: 'Database', default: '10', description: 'Maximum connections in each service pool.' },
  // Keys
  { name: 'JWT_SECRET', group: 'Keys', description: 'HS256 secret (at least 32 characters) that signs and verifies every JWT. Generated and kept in DATA_DIR when unset.' },
  { name: 'JWT_JWKS', group: 'Keys', description: 'Public keys (a JWKS JSON document) that also verify asymmetric JWTs (RS256, ES256, …) issued by another identity provider or by rotated signing keys.' },
  { name: 'ANON_KEY', group: 'Keys', description: 'Public API key (a JWT with role anon). Derived from JWT_SECRET when unset.' },
  { name: 'SERVICE_ROLE_KEY', group: 'Keys', description: 'Secret API key (a JWT with role service_role, bypasses RLS). Derived from JWT_SECRET when unset.' },
  // Gateway
  { name: 'PORT', group: 'Gateway', default: '8000', description: 'Port of the gateway (the one URL clients use).' },
  { name: 'HOST', group: 'Gateway', default: '0.0.0.0', description: 'Address the gateway and standalone services bind to.' },
  { name: 'PUBLIC_URL', group: 'Gateway', description: 'Public base URL of the API (used in printed URLs and links). Default: http://localhost:PORT.' },
  { name: 'CORS_ALLOWED_ORIGINS', group: 'Gateway', default: '*', description: 'Comma-separated origins allowed by CORS, or *.' },
  { name: 'MAX_BODY_BYTES', group: 'Gateway', default: '10485760', description: 'Largest request body accepted on buffered routes (not storage or realtime).' },
  // Services (standalone ports, used by compose and `nextmavens serve <service>`)
  { name: 'REST_PORT', group: 'Services', default: '3000', description: 'Port of the standalone REST service.' },
  { name: 'AUTH_PORT', group: 'Services', default: '9999', description: 'Port of the standalone auth service.' },
  { name: 'STORAGE_PORT', group: 'Services', default: '5000', description: 'Port of the standalone storage service.' },
  { name: 'REST_SCHEMAS', group: 'Services', default: 'public', description: 'Comma-separated schemas exposed through REST (the first is the default; others via Accept-Profile / Content-Profile).' },
  // Auth
  { name: 'AUTH_ACCESS_TOKEN_TTL', group: 'Auth', default: '900', description: 'Lifetime of access tokens, in seconds.' },
  { name: 'AUTH_REFRESH_TOKEN_TTL', group: 'Auth', default: '2592000', description: 'Lifetime of a session without refresh, in seconds (30 days).' },
  { name: 'AUTH_REFRESH_REUSE_INTERVAL', group: 'Auth', default: '10', description: 'Seconds during which a just-rotated refresh token may be reused (concurrent tabs) before reuse revokes the session.' },
  { name: 'AUTH_AUTOCONFIRM', group: 'Auth', default: 'true', description: 'Confirm new email users immediately (sign-up returns a session). Set false once SMTP is configured.' },
  { name: 'AUTH_DISABLE_SIGNUP', group: 'Auth', default: 'false', description: 'Refuse new sign-ups (admins can still create users).' },
  { name: 'AUTH_ANONYMOUS_SIGNINS', group: 'Auth', default: 'true', description: 'Allow signInAnonymously().' },
  { name: 'AUTH_PASSWORD_MIN_LENGTH', group: 'Auth', default: '6', description: 'Shortest password accepted.' },
  { name: 'AUTH_RATE_LIMIT_SIGNIN', group: 'Auth', default: '30', description: 'Sign-in attempts per client address per 5 minutes (0 = unlimited); failed attempts per email are capped at a third of it.' },
  { name: 'AUTH_RATE_LIMIT_SIGNUP', group: 'Auth', default: '30', description: 'Sign-ups per client address per hour (0 = unlimited).' },
  { name: 'AUTH_RATE_LIMIT_REFRESH', group: 'Auth', default: '150', description: 'Token refreshes per client address per 5 minutes (0 = unlimited).' },
  { name: 'AUTH_BCRYPT_COST', group: 'Auth', default: '10', description: 'bcrypt cost for new password hashes (existing $2a/$2b hashes of any cost verify).' },
  // Realtime
  { name: 'REALTIME_PORT', group: 'Realtime', default: '4003', description: 'Port of the standalone realtime service.' },
  { name: 'REALTIME_JWT_SECRET', group: 'Realtime', description: 'Secret realtime verifies tokens with. Default: JWT_SECRET.' },
  { name: 'REDIS_URL', group: 'Realtime', description: 'Redis for fan-out across several realtime instances (optional; one instance needs none).' },
  // GraphQL
  { name: 'GRAPHILE_PORT', group: 'GraphQL', default: '4004', description: 'Port of the standalone GraphQL service.' },
  { name: 'GRAPHILE_SCHEMA', group: 'GraphQL', default: 'public', description: 'Comma-separated schemas exposed through GraphQL.' },
  { name: 'GRAPHILE_JWT_SECRET', group: 'GraphQL', description: 'Secret GraphQL verifies tokens with. Default: JWT_SECRET.' },
  // Alerts
  { name: 'TELEGRAM_BOT_TOKEN', group: 'Alerts', description: 'Telegram bot token for operational alerts (optional).' },
  { name: 'TELEGRAM_CHANNEL_ID', group: 'Alerts', description: 'Telegram channel that receives alerts (optional).' },
  // Runtime
  { name: 'DATA_DIR', group: 'Runtime', default: './.nextmavens', description: 'Where the embedded Postgres cluster, generated secrets and local files live.' },
  { name: 'LOG_LEVEL', group: 'Runtime', default: 'info', description: 'fatal | error | warn | info | debug | trace | silent.' },
];

/** The `.env.example` text, generated from ENV_VARS. */
export function renderEnvExample(): string {
  const lines = [
    '# NextMavens Stack configuration. Every variable is optional: `npm start` works with none.',
    '# Generated from config/schema.ts by `nextmavens gen env`; edit that file, not this one.',
  ];
  let group = '';
  for (const v of ENV_VARS) {
    if (v.group !== group) {
      group = v.group;
      lines.push('', `# --- ${group} ---`);
    }
    lines.push(`# ${v.description}`);
    lines.push(v.default === undefined ? `# ${v.name}=` : `${v.name}=${v.default}`);
  }
  return lines.join('\n') + '\n';
}

/** The README's configuration table, generated from ENV_VARS. */
export function renderEnvTable(): string {
  const rows = ENV_VARS.map((v) => `| \`${v.name}\` | ${v.default === undefined ? '' : `\`${v.default}\``} | ${v.description} |`);
  return ['| variable | default | meaning |', '|---|---|---|', ...rows].join('\n') + '\n';
}

const TABLE_START = '<!-- env:start -->';
const TABLE_END = '<!-- env:end -->';

/** `readme` with the generated configuration table between its env:start/env:end markers. */
export function withEnvTable(readme: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start === -1 || end < start) throw new Error(`README.md lacks the ${TABLE_START} … ${TABLE_END} markers`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${renderEnvTable()}${readme.slice(end)}`;
}
