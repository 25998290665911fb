/**
 * The typed configuration of the whole stack, parsed and validated from the environment.
 * Every problem is reported at once in one ConfigError, before anything starts.
 */
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { ENV_VARS, type EnvName } from './schema.ts';
import { loadOrCreateSecrets } from './secrets.ts';
import { deriveApiKey, parseSigningKeys, type SigningKey } from './keys.ts';

export interface PostgresConfig {
  /** true when the stack starts its own Postgres (no DATABASE_URL / POSTGRESQL_HOST). */
  embedded: boolean;
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  /** The superuser/owner connection URL the services use. */
  url: string;
  replicationSlot: string;
  poolMax: number;
}

export interface Config {
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  host: string;
  port: number;
  publicUrl: string;
  corsOrigins: string[];
  /** Fastify's trustProxy: whose X-Forwarded-For to believe for the client address. */
  trustProxy: boolean | string[];
  maxBodyBytes: number;
  postgres: PostgresConfig;
  jwtSecret: string;
  /**
   * Public keys that verify asymmetric JWTs: those of JWT_SIGNING_KEYS, then JWT_JWKS.
   * Undefined when neither is set (HS256 only).
   */
  jwks?: JSONWebKeySet;
  /** JWT_SIGNING_KEYS: the first signs access tokens; empty = HS256 with jwtSecret. */
  signingKeys: SigningKey[];
  anonKey: string;
  serviceRoleKey: string;
  ports: { rest: number; auth: number; storage: number; realtime: number; graphql: number };
  realtime: { jwtSecret: string; redisUrl?: string; maxEventsPerSecond: number; tenantMaxEventsPerSecond: number };
  graphql: { schemas: string[]; jwtSecret: string; maxDepth: number; maxCost: number; maxBodyBytes: number; statementTimeoutMs: number };
  rest: { schemas: string[]; maxRows?: number; planEnabled: boolean };
  auth: {
    accessTokenTtl: number;
    refreshTokenTtl: number;
    refreshReuseInterval: number;
    autoconfirm: boolean;
    disableSignup: boolean;
    anonymousSignins: boolean;
    passwordMinLength: number;
    bcryptCost: number;
    rateLimits: { signin: number; signup: number; refresh: number; otp: number; verify: number; emailSent: number };
    /** Where email links and OAuth sign-ins land by default (SITE_URL, else PUBLIC_URL). */
    siteUrl: string;
    /** Extra allowed redirect_to patterns (globs). */
    redirectAllowList: string[];
    otpExp: number;
    emailMaxFrequency: number;
    /** Unset: mails go to the dev inbox. */
    smtp?: { host: string; port: number; user?: string; pass?: string };
    mailFrom: { address: string; name: string };
    oauth: { google?: OAuthProviderConfig; github?: OAuthProviderConfig };
  };
  telegram: { botToken?: string; channelId?: string; apiUrl: string };
  storage: StorageConfig;
}

/** Where storage keeps object bytes (STORAGE_BACKEND, S3_*) and how often it reconciles them. */
export interface StorageConfig {
  backend: 'fs' | 's3';
  /** Seconds between cleanup runs; 0 = never. */
  cleanupInterval: number;
  s3?: { endpoint: string; region: string; accessKey?: string; secretKey?: string; bucket: string; forcePathStyle: boolean };
}

/** An OAuth provider's client and endpoints (GOOGLE_* / GITHUB_*). */
export interface OAuthProviderConfig {
  clientId: string;
  clientSecret: string;
  authorizeUrl: string;
  tokenUrl: string;
  /** Google: the userinfo endpoint; GitHub: the API base. */
  apiUrl: string;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;
export const MIN_JWT_SECRET_LENGTH = 32;

type Env = Record<string, string | undefined>;
const KNOWN_NAMES = new Set<string>(ENV_VARS.map((v) => v.name));

/** Reads variables with defaults from ENV_VARS and collects problems instead of throwing on the first. */
class EnvReader {
  readonly problems: string[] = [];
  private readonly env: Env;
  constructor(env: Env) {
    this.env = env;
  }

  raw(name: EnvName): string | undefined {
    // A name missing from config/schema.ts is a type error; one built at run time fails here, loudly.
    if (!KNOWN_NAMES.has(name)) throw new Error(`config: ${name} is not defined in config/schema.ts`);
    const value = this.env[name]?.trim();
    if (value) return value;
    return ENV_VARS.find((v) => v.name === name)?.default;
  }

  int(name: EnvName, min: number, max: number): number {
    const raw = this.raw(name) ?? '';
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
      return min;
    }
    return n;
  }

  port(name: EnvName): number {
    return this.int(name, 1, 65535);
  }

  bool(name: EnvName): boolean {
    const raw = (this.raw(name) ?? '').toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    this.problems.push(`${name} must be true or false (got "${raw}")`);
    return false;
  }

  list(name: EnvName): string[] {
    return (this.raw(name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }

  secret(name: EnvName, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    if (value.length < MIN_JWT_SECRET_LENGTH) {
      this.problems.push(`${name} must be at least ${MIN_JWT_SECRET_LENGTH} characters long (HS256)`);
    }
    return value;
  }
}

function parseDatabaseUrl(url: string, problems: string[]): URL | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') throw new Error('protocol');
    return parsed;
  } catch {
    problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
    return undefined;
  }
}

function buildUrl(pg: Omit<PostgresConfig, 'url' | 'embedded' | 'replicationSlot' | 'poolMax'>): string {
  const auth = `${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}`;
  return `postgresql://${auth}@${pg.host}:${pg.port}/${encodeURIComponent(pg.database)}`;
}

/** A provider is configured when both its client id and secret are set. */
function oauthProvider<P extends 'GOOGLE' | 'GITHUB'>(r: EnvReader, prefix: P, authorize: string, token: string, api: string): OAuthProviderConfig | undefined {
  // Names built from the prefix are checked against the list when read (EnvReader.raw).
  const name = (suffix: string) => `${prefix}_${suffix}` as EnvName;
  const clientId = r.raw(name('CLIENT_ID'));
  const clientSecret = r.raw(name('CLIENT_SECRET'));
  if (!clientId && !clientSecret) return undefined;
  if (!clientId || !clientSecret) {
    r.problems.push(`${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET must be set together`);
    return undefined;
  }
  const url = (suffix: string) => {
    const value = r.raw(name(suffix))!;
    if (!URL.canParse(value)) r.problems.push(`${prefix}_${suffix} must be an absolute URL`);
    return value.replace(/\/+$/, '');
  };
  return { clientId, clientSecret, authorizeUrl: url(authorize), tokenUrl: url(token), apiUrl: url(api) };
}

/** An absolute http(s) URL without a trailing slash. */
function absoluteUrl(r: EnvReader, name: EnvName): string {
  const value = (r.raw(name) ?? '').replace(/\/+$/, '');
  if (!/^https?:\/\//.test(value) || !URL.canParse(value)) r.problems.push(`${name} must be an absolute http(s) URL`);
  return value;
}

function storageConfig(r: EnvReader): StorageConfig {
  const backend = r.raw('STORAGE_BACKEND');
  if (backend !== 'fs' && backend !== 's3') r.problems.push(`STORAGE_BACKEND must be fs or s3 (got "${backend}")`);
  const cleanupInterval = r.int('STORAGE_CLEANUP_INTERVAL', 0, 30 * 86400);
  if (backend !== 's3') return { backend: 'fs', cleanupInterval };
  const endpoint = r.raw('S3_ENDPOINT') ?? '';
  if (!/^https?:\/\/[^/]+\/?$/.test(endpoint)) r.problems.push('S3_ENDPOINT must be an http(s):// URL without a path when STORAGE_BACKEND=s3');
  return {
    backend,
    cleanupInterval,
    s3: {
      endpoint,
      region: r.raw('S3_REGION')!,
      accessKey: r.raw('S3_ACCESS_KEY'),
      secretKey: r.raw('S3_SECRET_KEY'),
      bucket: r.raw('S3_BUCKET')!,
      forcePathStyle: r.bool('S3_FORCE_PATH_STYLE'),
    },
  };
}

/**
 * Loads the configuration. Secrets that are not configured (JWT_SECRET, the embedded Postgres
 * password) are generated once and kept in DATA_DIR, so keys stay valid across restarts.
 */
export async function loadConfig(env: Env = process.env): Promise<Config> {
  const r = new EnvReader(env);
  const dataDir = path.resolve(r.raw('DATA_DIR')!);

  const logLevel = r.raw('LOG_LEVEL') as Config['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) r.problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`);

  const port = r.port('PORT');
  const ports = {
    rest: r.port('REST_PORT'),
    auth: r.port('AUTH_PORT'),
    storage: r.port('STORAGE_PORT'),
    realtime: r.port('REALTIME_PORT'),
    graphql: r.port('GRAPHILE_PORT'),
  };

  const schemaList = (name: EnvName) => {
    const list = r.list(name);
    for (const s of list) if (!IDENTIFIER.test(s)) r.problems.push(`${name}: "${s}" is not a valid schema name`);
    if (list.length === 0) r.problems.push(`${name} must name at least one schema`);
    return list;
  };
  const schemas = schemaList('GRAPHILE_SCHEMA');
  const restSchemas = schemaList('REST_SCHEMAS');

  const slot = r.raw('POSTGRESQL_REPLICATION_SLOT')!;
  if (!/^[a-z0-9_]{1,63}$/.test(slot)) {
    r.problems.push('POSTGRESQL_REPLICATION_SLOT may contain only lower-case letters, digits and underscores (max 63)');
  }

  const publicUrl = (r.raw('PUBLIC_URL') ?? `http://localhost:${port}`).replace(/\/+$/, '');
  try {
    new URL(publicUrl);
  } catch {
    r.problems.push('PUBLIC_URL must be an absolute URL');
  }

  // Database: DATABASE_URL wins, then POSTGRESQL_HOST, else embedded.
  const databaseUrl = r.raw('DATABASE_URL');
  const embedded = !databaseUrl && !r.raw('POSTGRESQL_HOST');
  const fromUrl = databaseUrl ? parseDatabaseUrl(databaseUrl, r.problems) : undefined;
  const pgPort = fromUrl?.port ? Number(fromUrl.port) : fromUrl ? 5432 : r.port('POSTGRESQL_PORT');
  const poolMax = r.int('DB_POOL_MAX', 1, 1000);

  let jwks: Config['jwks'];
  const rawJwks = r.raw('JWT_JWKS');
  if (rawJwks) {
    try {
      jwks = JSON.parse(rawJwks);
      if (!Array.isArray(jwks?.keys)) throw new Error('no keys');
    } catch {
      r.problems.push('JWT_JWKS must be a JSON Web Key Set: {"keys": [ … ]}');
    }
  }
  let signingKeys: SigningKey[] = [];
  const rawSigningKeys = r.raw('JWT_SIGNING_KEYS');
  if (rawSigningKeys) {
    try {
      signingKeys = parseSigningKeys(rawSigningKeys);
    } catch (err) {
      r.problems.push((err as Error).message);
    }
  }
  if (signingKeys.length) jwks = { keys: [...signingKeys.map((k) => k.publicJwk), ...(jwks?.keys ?? [])] };

  // Secrets are generated into DATA_DIR only for a configuration that will be accepted; with
  // problems already found, reading goes on (so every problem is reported at once) without them.
  const mayGenerate = r.problems.length === 0;
  const needsGenerated = embedded && !r.raw('POSTGRESQL_PASSWORD');
  const generated = mayGenerate && (!r.raw('JWT_SECRET') || needsGenerated) ? await loadOrCreateSecrets(dataDir) : undefined;
  const jwtSecret = r.raw('JWT_SECRET') || generated
    ? r.secret('JWT_SECRET', generated?.jwtSecret ?? '')
    : 'unused: the configuration is refused'.padEnd(MIN_JWT_SECRET_LENGTH, '.');

  const pgBase = {
    host: fromUrl ? decodeURIComponent(fromUrl.hostname) : (r.raw('POSTGRESQL_HOST') ?? '127.0.0.1'),
    port: pgPort,
    database: fromUrl ? decodeURIComponent(fromUrl.pathname.slice(1)) || 'postgres' : r.raw('POSTGRESQL_DB')!,
    user: fromUrl ? decodeURIComponent(fromUrl.username) || 'postgres' : r.raw('POSTGRESQL_USER')!,
    password: fromUrl ? decodeURIComponent(fromUrl.password) : (r.raw('POSTGRESQL_PASSWORD') ?? generated?.postgresPassword ?? ''),
  };
  const postgres: PostgresConfig = {
    ...pgBase,
    embedded,
    url: databaseUrl ?? buildUrl(pgBase),
    replicationSlot: slot,
    poolMax,
  };

  const config: Config = {
    dataDir,
    logLevel,
    host: r.raw('HOST')!,
    port,
    publicUrl,
    corsOrigins: r.list('CORS_ALLOWED_ORIGINS'),
    trustProxy: ['true', 'false'].includes(r.raw('TRUST_PROXY')!.trim().toLowerCase()) ? r.bool('TRUST_PROXY') : r.list('TRUST_PROXY'),
    maxBodyBytes: r.int('MAX_BODY_BYTES', 1024, 2 ** 40),
    postgres,
    jwtSecret,
    jwks,
    signingKeys,
    anonKey: r.raw('ANON_KEY') ?? '',
    serviceRoleKey: r.raw('SERVICE_ROLE_KEY') ?? '',
    ports,
    realtime: {
      jwtSecret: r.secret('REALTIME_JWT_SECRET', jwtSecret),
      redisUrl: r.raw('REDIS_URL'),
      maxEventsPerSecond: r.int('REALTIME_MAX_EVENTS_PER_SECOND', 0, 1_000_000),
      tenantMaxEventsPerSecond: r.int('REALTIME_TENANT_MAX_EVENTS_PER_SECOND', 0, 100_000_000),
    },
    graphql: {
      schemas,
      jwtSecret: r.secret('GRAPHILE_JWT_SECRET', jwtSecret),
      maxDepth: r.int('GRAPHQL_MAX_DEPTH', 1, 1000),
      maxCost: r.int('GRAPHQL_MAX_COST', 1, 2 ** 31),
      maxBodyBytes: r.int('GRAPHQL_MAX_BODY_BYTES', 1024, 2 ** 31),
      statementTimeoutMs: r.int('GRAPHQL_STATEMENT_TIMEOUT', 0, 2 ** 31 - 1),
    },
    rest: {
      schemas: restSchemas,
      maxRows: r.raw('REST_MAX_ROWS') === undefined ? undefined : r.int('REST_MAX_ROWS', 0, 2 ** 31 - 1),
      planEnabled: r.bool('REST_DB_PLAN_ENABLED'),
    },
    auth: {
      accessTokenTtl: r.int('AUTH_ACCESS_TOKEN_TTL', 30, 7 * 86400),
      refreshTokenTtl: r.int('AUTH_REFRESH_TOKEN_TTL', 60, 10 * 365 * 86400),
      refreshReuseInterval: r.int('AUTH_REFRESH_REUSE_INTERVAL', 0, 3600),
      autoconfirm: r.bool('AUTH_AUTOCONFIRM'),
      disableSignup: r.bool('AUTH_DISABLE_SIGNUP'),
      anonymousSignins: r.bool('AUTH_ANONYMOUS_SIGNINS'),
      passwordMinLength: r.int('AUTH_PASSWORD_MIN_LENGTH', 1, 128),
      bcryptCost: r.int('AUTH_BCRYPT_COST', 4, 16),
      rateLimits: {
        signin: r.int('AUTH_RATE_LIMIT_SIGNIN', 0, 1_000_000),
        signup: r.int('AUTH_RATE_LIMIT_SIGNUP', 0, 1_000_000),
        refresh: r.int('AUTH_RATE_LIMIT_REFRESH', 0, 1_000_000),
        otp: r.int('AUTH_RATE_LIMIT_OTP', 0, 1_000_000),
        verify: r.int('AUTH_RATE_LIMIT_VERIFY', 0, 1_000_000),
        emailSent: r.int('AUTH_RATE_LIMIT_EMAIL_SENT', 0, 1_000_000),
      },
      siteUrl: (r.raw('SITE_URL') ?? publicUrl).replace(/\/+$/, ''),
      redirectAllowList: r.list('AUTH_REDIRECT_ALLOW_LIST'),
      otpExp: r.int('AUTH_OTP_EXP', 60, 30 * 86400),
      emailMaxFrequency: r.int('AUTH_EMAIL_MAX_FREQUENCY', 0, 86400),
      smtp: r.raw('SMTP_HOST')
        ? { host: r.raw('SMTP_HOST')!, port: r.port('SMTP_PORT'), user: r.raw('SMTP_USER'), pass: r.raw('SMTP_PASS') }
        : undefined,
      mailFrom: { address: r.raw('SMTP_ADMIN_EMAIL')!, name: r.raw('SMTP_SENDER_NAME')! },
      oauth: {
        google: oauthProvider(r, 'GOOGLE', 'AUTHORIZE_URL', 'TOKEN_URL', 'USERINFO_URL'),
        github: oauthProvider(r, 'GITHUB', 'AUTHORIZE_URL', 'TOKEN_URL', 'API_URL'),
      },
    },
    telegram: { botToken: r.raw('TELEGRAM_BOT_TOKEN'), channelId: r.raw('TELEGRAM_CHANNEL_ID'), apiUrl: absoluteUrl(r, 'TELEGRAM_API_URL') },
    storage: storageConfig(r),
  };
  if (r.problems.length > 0) throw new ConfigError(r.problems);

  config.anonKey ||= await deriveApiKey('anon', jwtSecret);
  config.serviceRoleKey ||= await deriveApiKey('service_role', jwtSecret);
  return config;
}
