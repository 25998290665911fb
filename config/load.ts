/**
 * The typed configuration of the whole stack. Every variable is parsed once, by the parser its
 * entry in config/schema.ts names (readEnv); this module only arranges the values into the
 * `Config` — whose type is what `buildConfig` returns, so a variable is written once in the list
 * and once where it is placed. Every problem is reported at once in one ConfigError, before
 * anything starts.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { JSONWebKeySet } from 'jose';
import { deriveApiKey } from './keys.ts';
import { MIN_JWT_SECRET_LENGTH } from './parsers.ts';
import { isSet, readEnv, type EnvName, type EnvValues } from './schema.ts';
import { loadOrCreateSecrets } from './secrets.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Env = Record<string, string | undefined>;

export type Config = ReturnType<typeof buildConfig>;
export type PostgresConfig = Config['postgres'];

/** The URL for session work: past the pooler when there is one (DATABASE_DIRECT_URL, POSTGRESQL_DIRECT_HOST), else `url`. */
export const directUrlOf = (pg: { url: string; directUrl?: string }): string => pg.directUrl ?? pg.url;
export type OAuthProviderConfig = NonNullable<Config['auth']['oauth']['google']>;
export type OpsConfig = Config['ops'];

/** Where storage keeps object bytes (STORAGE_BACKEND, S3_*, TELEGRAM_*) and how often it reconciles them. */
export interface StorageConfig {
  backend: EnvValues['STORAGE_BACKEND'];
  /** Seconds between cleanup runs; 0 = never. */
  cleanupInterval: number;
  s3?: { endpoint: string; region: string; accessKey?: string; secretKey?: string; bucket: string; forcePathStyle: boolean };
  /** STORAGE_BACKEND=telegram: the Bot API (TELEGRAM_*) and the chunk size. */
  telegram?: { apiUrl: string; botToken: string; channelId: string; chunkSize: number };
}

/** Where backups go (a directory, an S3 bucket and prefix, or a Telegram channel). */
export type BackupTarget =
  | { kind: 'dir'; dir: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint: string; region: string; accessKey?: string; secretKey?: string; forcePathStyle: boolean }
  | { kind: 'telegram'; channelId: string; apiUrl: string; botToken: string; chunkSize: number };

/** BACKUP_*: the default target, the schedule, retention and point-in-time restore. */
export interface BackupConfig {
  target: BackupTarget;
  /** Cron (five fields), or undefined for no scheduled backups (DAILY_BACKUPS when only BACKUP_TARGET is set). */
  schedule?: string;
  keep: number;
  pitr: boolean;
  /** BACKUP_PG_BIN_DIR: pg_dump/pg_restore (and, with pgData, postgres) for an external Postgres. */
  pgBinDir?: string;
  /** BACKUP_PGDATA: an external Postgres's data directory, mounted here (base backups and PITR instead of dumps). */
  pgData?: string;
}

/**
 * A backup target as written in BACKUP_TARGET or `nextmavens backup --to`: a directory (relative
 * to the working directory), s3://bucket/prefix, whose server and keys come from BACKUP_S3_*
 * (else the storage's S3_*), or `telegram:` (the channel TELEGRAM_CHANNEL_ID) / `telegram:<chat
 * id or @name>`, through the bot TELEGRAM_BOT_TOKEN at TELEGRAM_API_URL (backup/telegram-store.ts).
 * Throws ConfigError for a malformed one.
 */
export function parseBackupTarget(value: string, env: Env = process.env): BackupTarget {
  const { values, problems } = readEnv(env);
  const target = backupTarget(values, value, problems);
  const own = problems.filter((p) => p.startsWith('BACKUP_'));
  if (own.length) throw new ConfigError(own);
  return target;
}

const TELEGRAM_CHAT = /^(-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$/;

function backupTarget(v: EnvValues, value: string, problems: string[]): BackupTarget {
  if (value.startsWith('telegram:')) {
    const channelId = value.slice('telegram:'.length).replace(/^\/\//, '') || v.TELEGRAM_CHANNEL_ID || '';
    if (!TELEGRAM_CHAT.test(channelId)) problems.push(`BACKUP_TARGET: "${value}" names no Telegram channel: telegram:<chat id or @name>, or telegram: with TELEGRAM_CHANNEL_ID set`);
    if (!v.TELEGRAM_BOT_TOKEN) problems.push('BACKUP_TARGET: a telegram: backup target needs TELEGRAM_BOT_TOKEN (a bot that is an administrator of the channel)');
    return { kind: 'telegram', channelId, apiUrl: v.TELEGRAM_API_URL, botToken: v.TELEGRAM_BOT_TOKEN ?? '', chunkSize: v.TELEGRAM_CHUNK_SIZE };
  }
  if (!value.startsWith('s3://')) return { kind: 'dir', dir: path.resolve(value) };
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(value);
  if (!m) problems.push(`BACKUP_TARGET: "${value}" is not s3://bucket/prefix (bucket names: 3-63 lower-case letters, digits, dots and hyphens)`);
  const endpoint = v.BACKUP_S3_ENDPOINT ?? v.S3_ENDPOINT ?? '';
  if (!/^https?:\/\/[^/]+\/?$/.test(endpoint)) problems.push('BACKUP_S3_ENDPOINT (or S3_ENDPOINT) must be an http(s):// URL without a path for an s3:// backup target');
  return {
    kind: 's3',
    bucket: m?.[1] ?? '',
    prefix: (m?.[2] ?? '').replace(/^\/+|\/+$/g, ''),
    endpoint,
    region: v.BACKUP_S3_REGION,
    accessKey: v.BACKUP_S3_ACCESS_KEY ?? v.S3_ACCESS_KEY,
    secretKey: v.BACKUP_S3_SECRET_KEY ?? v.S3_SECRET_KEY,
    forcePathStyle: v.BACKUP_S3_FORCE_PATH_STYLE,
  };
}

/** BACKUP_SCHEDULE when BACKUP_TARGET is set and it is not: every day at 03:00 UTC. */
export const DAILY_BACKUPS = '0 3 * * *';

function backupConfig(v: EnvValues, dataDir: string, problems: string[]): BackupConfig {
  const target = backupTarget(v, v.BACKUP_TARGET ?? path.join(dataDir, 'backups'), problems);
  if (v.BACKUP_PITR && target.kind !== 'dir') problems.push('BACKUP_PITR needs a directory BACKUP_TARGET (Postgres archives its WAL there)');
  if (v.BACKUP_PGDATA && v.DATABASE_URL === undefined && v.POSTGRESQL_HOST === undefined) problems.push('BACKUP_PGDATA is the data directory of an external Postgres (DATABASE_URL / POSTGRESQL_HOST); the embedded one is DATA_DIR/postgres');
  // A configured target gets daily backups unless the schedule says otherwise (`off`: none).
  const schedule = v.BACKUP_SCHEDULE === 'off' ? undefined : (v.BACKUP_SCHEDULE ?? (v.BACKUP_TARGET !== undefined ? DAILY_BACKUPS : undefined));
  return { target, schedule, keep: v.BACKUP_KEEP, pitr: v.BACKUP_PITR, pgBinDir: v.BACKUP_PG_BIN_DIR, pgData: v.BACKUP_PGDATA && path.resolve(v.BACKUP_PGDATA) };
}

/** Secrets the configuration does not give: generated once and kept in DATA_DIR. */
interface Derived {
  dataDir: string;
  /** Whether the environment sets a variable (not its default): settings stored in the database yield to it. */
  envSets: (name: EnvName) => boolean;
  jwtSecret: string;
  postgresPassword?: string;
}

function buildUrl(pg: { host: string; port: number; database: string; user: string; password: string }): string {
  const auth = `${encodeURIComponent(pg.user)}:${encodeURIComponent(pg.password)}`;
  return `postgresql://${auth}@${pg.host}:${pg.port}/${encodeURIComponent(pg.database)}`;
}

/** Database: DATABASE_URL wins, then POSTGRESQL_HOST, else the embedded Postgres. */
function postgresConfig(v: EnvValues, derived: Derived) {
  const embedded = v.DATABASE_URL === undefined && v.POSTGRESQL_HOST === undefined;
  // DATABASE_URL's parser refused a URL that is not postgres://.
  const fromUrl = v.DATABASE_URL !== undefined && URL.canParse(v.DATABASE_URL) ? new URL(v.DATABASE_URL) : undefined;
  const base = {
    host: fromUrl ? decodeURIComponent(fromUrl.hostname) : (v.POSTGRESQL_HOST ?? '127.0.0.1'),
    port: fromUrl?.port ? Number(fromUrl.port) : fromUrl ? 5432 : v.POSTGRESQL_PORT,
    database: fromUrl ? decodeURIComponent(fromUrl.pathname.slice(1)) || 'postgres' : v.POSTGRESQL_DB,
    user: fromUrl ? decodeURIComponent(fromUrl.username) || 'postgres' : v.POSTGRESQL_USER,
    password: fromUrl ? decodeURIComponent(fromUrl.password) : (v.POSTGRESQL_PASSWORD ?? derived.postgresPassword ?? ''),
  };
  return {
    ...base,
    /** true when the stack starts its own Postgres (no DATABASE_URL / POSTGRESQL_HOST). */
    embedded,
    /** The superuser/owner connection URL the services use (possibly through a transaction pooler). */
    url: v.DATABASE_URL ?? buildUrl(base),
    /**
     * The owner's URL past a transaction pooler in `url`, for session state (LISTEN, session advisory
     * locks, replication); unset without one (`directUrlOf` is then `url`, whatever `url` becomes).
     */
    directUrl: v.DATABASE_DIRECT_URL ?? (v.POSTGRESQL_DIRECT_HOST ? buildUrl({ ...base, host: v.POSTGRESQL_DIRECT_HOST, port: v.POSTGRESQL_DIRECT_PORT ?? base.port }) : undefined),
    /** Request statements as named prepared statements (db/prepared.ts); false through PgBouncer < 1.21 (db/pool.ts strips every name). */
    preparedStatements: v.DB_PREPARED_STATEMENTS,
    /** Streaming replicas for reads (db/read-pools.ts), their lag bound and its cache, in ms. */
    replicas: { urls: v.DATABASE_READ_URL ?? [], maxLagMs: v.READ_REPLICA_MAX_LAG, checkIntervalMs: v.READ_REPLICA_CHECK_INTERVAL },
    /** The `authenticator` role's password (request pools); by default the owner's. */
    authenticatorPassword: v.POSTGRESQL_AUTHENTICATOR_PASSWORD ?? base.password,
    /** Passwords `migrate` gives the services' login roles (sql/0028_service_roles.sql). */
    rolePasswords: {
      nextmavens_auth: v.POSTGRESQL_AUTH_PASSWORD,
      nextmavens_storage: v.POSTGRESQL_STORAGE_PASSWORD,
      nextmavens_realtime: v.POSTGRESQL_REALTIME_PASSWORD,
    },
    replicationSlot: v.POSTGRESQL_REPLICATION_SLOT,
    poolMax: v.DB_POOL_MAX,
    /** Your own migrations and seed (the Supabase CLI layout), absolute. */
    migrationsDir: path.resolve(v.MIGRATIONS_DIR),
    seedFile: path.resolve(v.SEED_FILE),
  };
}

/** A provider is configured when both its client id and secret are set. */
function oauthProvider(
  provider: 'Google' | 'GitHub',
  p: { clientId?: string; clientSecret?: string; authorizeUrl: string; tokenUrl: string; apiUrl: string },
  problems: string[],
) {
  const prefix = provider.toUpperCase();
  if (!p.clientId && !p.clientSecret) return undefined;
  if (!p.clientId || !p.clientSecret) {
    problems.push(`${prefix}_CLIENT_ID and ${prefix}_CLIENT_SECRET must be set together`);
    return undefined;
  }
  /** `apiUrl` — Google: the userinfo endpoint; GitHub: the API base. */
  return { clientId: p.clientId, clientSecret: p.clientSecret, authorizeUrl: p.authorizeUrl, tokenUrl: p.tokenUrl, apiUrl: p.apiUrl };
}

function storageConfig(v: EnvValues, problems: string[]): StorageConfig {
  const cleanupInterval = v.STORAGE_CLEANUP_INTERVAL;
  if (v.STORAGE_BACKEND === 'telegram') {
    if (!v.TELEGRAM_BOT_TOKEN || !v.TELEGRAM_CHANNEL_ID) problems.push('TELEGRAM_BOT_TOKEN and TELEGRAM_CHANNEL_ID are required when STORAGE_BACKEND=telegram');
    const telegram = { apiUrl: v.TELEGRAM_API_URL, botToken: v.TELEGRAM_BOT_TOKEN ?? '', channelId: v.TELEGRAM_CHANNEL_ID ?? '', chunkSize: v.TELEGRAM_CHUNK_SIZE };
    return { backend: v.STORAGE_BACKEND, cleanupInterval, telegram };
  }
  if (v.STORAGE_BACKEND !== 's3') return { backend: v.STORAGE_BACKEND, cleanupInterval };
  const endpoint = v.S3_ENDPOINT ?? '';
  if (!/^https?:\/\/[^/]+\/?$/.test(endpoint)) problems.push('S3_ENDPOINT must be an http(s):// URL without a path when STORAGE_BACKEND=s3');
  const s3 = { endpoint, region: v.S3_REGION, accessKey: v.S3_ACCESS_KEY, secretKey: v.S3_SECRET_KEY, bucket: v.S3_BUCKET, forcePathStyle: v.S3_FORCE_PATH_STYLE };
  return { backend: v.STORAGE_BACKEND, cleanupInterval, s3 };
}

/** Phone sign-in: on with an SMS provider (its credentials all set), as GoTrue's external.phone. */
function smsConfig(v: EnvValues, problems: string[]) {
  const common = { testOtp: v.AUTH_SMS_TEST_OTP ?? {}, otpExp: v.AUTH_SMS_OTP_EXP, maxFrequency: v.AUTH_SMS_MAX_FREQUENCY, template: v.AUTH_SMS_TEMPLATE };
  const missing = (needs: string) => {
    problems.push(`AUTH_SMS_PROVIDER=${v.AUTH_SMS_PROVIDER} needs ${needs}`);
    return { ...common, provider: undefined };
  };
  switch (v.AUTH_SMS_PROVIDER) {
    case 'none':
      return { ...common, provider: undefined };
    case 'messagebird': {
      const accessKey = v.MESSAGEBIRD_ACCESS_KEY, originator = v.MESSAGEBIRD_ORIGINATOR;
      if (!accessKey || !originator) return missing('MESSAGEBIRD_ACCESS_KEY and MESSAGEBIRD_ORIGINATOR');
      return { ...common, provider: { kind: 'messagebird' as const, accessKey, originator, apiUrl: v.MESSAGEBIRD_API_URL } };
    }
    case 'vonage': {
      const apiKey = v.VONAGE_API_KEY, apiSecret = v.VONAGE_API_SECRET, from = v.VONAGE_FROM;
      if (!apiKey || !apiSecret || !from) return missing('VONAGE_API_KEY, VONAGE_API_SECRET and VONAGE_FROM');
      return { ...common, provider: { kind: 'vonage' as const, apiKey, apiSecret, from, apiUrl: v.VONAGE_API_URL } };
    }
    case 'twilio': {
      const sid = v.TWILIO_ACCOUNT_SID, token = v.TWILIO_AUTH_TOKEN, from = v.TWILIO_MESSAGE_SERVICE_SID;
      if (!sid || !token || !from) return missing('TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_MESSAGE_SERVICE_SID');
      return { ...common, provider: { kind: 'twilio' as const, accountSid: sid, authToken: token, from, apiUrl: v.TWILIO_API_URL } };
    }
  }
}

/**
 * SAML SSO: the service provider's key checked as GoTrue's conf/saml.go does (standard Base64 of
 * PKCS#1 DER, RSA with e = 65537, at least 2048 bits); PEM (PKCS#8) for the SAML library.
 */
function samlConfig(v: EnvValues, publicUrl: string, problems: string[]) {
  const externalUrl = (v.AUTH_SAML_EXTERNAL_URL ?? `${publicUrl}/auth/v1`).replace(/\/+$/, '');
  const off = { enabled: false as boolean, privateKeyPem: '', externalUrl, relayStateValidity: v.AUTH_SAML_RELAY_STATE_VALIDITY_PERIOD };
  if (!v.AUTH_SAML_ENABLED) return off;
  const raw = v.AUTH_SAML_PRIVATE_KEY ?? '';
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(raw) || raw.length % 4 !== 0) {
    problems.push('AUTH_SAML_PRIVATE_KEY: SAML private key not in standard Base64 format');
    return off;
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(raw, 'base64'), format: 'der', type: 'pkcs1' });
  } catch {
    problems.push('AUTH_SAML_PRIVATE_KEY: SAML private key not in PKCS#1 format');
    return off;
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (details.publicExponent !== 65537n) problems.push('AUTH_SAML_PRIVATE_KEY: SAML private key should use the 65537 (0x10001) RSA public exponent');
  if ((details.modulusLength ?? 0) < 2048) problems.push('AUTH_SAML_PRIVATE_KEY: SAML private key must be at least RSA 2048');
  return { ...off, enabled: true, privateKeyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString() };
}

/** AUTH_MAILER_TEMPLATES_* / AUTH_MAILER_SUBJECTS_*: each mail's own template file and subject; a file that cannot be read is a problem. */
function mailTemplates(v: EnvValues, problems: string[]) {
  const kinds = {
    confirmation: [v.AUTH_MAILER_TEMPLATES_CONFIRMATION, v.AUTH_MAILER_SUBJECTS_CONFIRMATION, 'CONFIRMATION'],
    invite: [v.AUTH_MAILER_TEMPLATES_INVITE, v.AUTH_MAILER_SUBJECTS_INVITE, 'INVITE'],
    recovery: [v.AUTH_MAILER_TEMPLATES_RECOVERY, v.AUTH_MAILER_SUBJECTS_RECOVERY, 'RECOVERY'],
    magicLink: [v.AUTH_MAILER_TEMPLATES_MAGIC_LINK, v.AUTH_MAILER_SUBJECTS_MAGIC_LINK, 'MAGIC_LINK'],
    emailChange: [v.AUTH_MAILER_TEMPLATES_EMAIL_CHANGE, v.AUTH_MAILER_SUBJECTS_EMAIL_CHANGE, 'EMAIL_CHANGE'],
    reauthentication: [v.AUTH_MAILER_TEMPLATES_REAUTHENTICATION, v.AUTH_MAILER_SUBJECTS_REAUTHENTICATION, 'REAUTHENTICATION'],
  } as const;
  const out: Partial<Record<keyof typeof kinds, { html?: string; subject?: string }>> = {};
  for (const [kind, [file, subject, env]] of Object.entries(kinds) as [keyof typeof kinds, (typeof kinds)[keyof typeof kinds]][]) {
    let html: string | undefined;
    if (file) {
      try {
        html = readFileSync(path.resolve(file), 'utf8');
      } catch (err) {
        problems.push(`AUTH_MAILER_TEMPLATES_${env}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
    }
    if (html !== undefined || subject) out[kind] = { html, subject };
  }
  return out;
}

/** SITE_URL (else PUBLIC_URL) as a URL. */
const siteOf = (v: EnvValues, publicUrl: string) => new URL(v.SITE_URL && URL.canParse(v.SITE_URL) ? v.SITE_URL : publicUrl);

function authConfig(v: EnvValues, publicUrl: string, envSets: Derived['envSets'], problems: string[]) {
  return {
    accessTokenTtl: v.AUTH_ACCESS_TOKEN_TTL,
    refreshTokenTtl: v.AUTH_REFRESH_TOKEN_TTL,
    refreshReuseInterval: v.AUTH_REFRESH_REUSE_INTERVAL,
    autoconfirm: v.AUTH_AUTOCONFIRM,
    disableSignup: v.AUTH_DISABLE_SIGNUP,
    anonymousSignins: v.AUTH_ANONYMOUS_SIGNINS,
    passwordMinLength: v.AUTH_PASSWORD_MIN_LENGTH,
    securePasswordChange: v.AUTH_SECURE_PASSWORD_CHANGE,
    manualLinking: v.AUTH_MANUAL_LINKING,
    bcryptCost: v.AUTH_BCRYPT_COST,
    rateLimits: {
      signin: v.AUTH_RATE_LIMIT_SIGNIN,
      signup: v.AUTH_RATE_LIMIT_SIGNUP,
      refresh: v.AUTH_RATE_LIMIT_REFRESH,
      otp: v.AUTH_RATE_LIMIT_OTP,
      verify: v.AUTH_RATE_LIMIT_VERIFY,
      emailSent: v.AUTH_RATE_LIMIT_EMAIL_SENT,
      mfa: v.AUTH_RATE_LIMIT_MFA,
      smsSent: v.AUTH_RATE_LIMIT_SMS_SENT,
    },
    /** Where email links and OAuth sign-ins land by default (SITE_URL, else PUBLIC_URL). */
    siteUrl: (v.SITE_URL ?? publicUrl).replace(/\/+$/, ''),
    /** Extra allowed redirect_to patterns (globs). */
    redirectAllowList: v.AUTH_REDIRECT_ALLOW_LIST ?? [],
    otpExp: v.AUTH_OTP_EXP,
    emailMaxFrequency: v.AUTH_EMAIL_MAX_FREQUENCY,
    /** GoTrue's fixed MFA defaults besides the factor cap: 10 verified factors, challenges valid 300 s, unverified factors without a challenge dropped after 300 s. */
    /** The WebAuthn relying party of MFA factors. */
    webauthn: {
      enabled: v.AUTH_MFA_WEBAUTHN_ENABLED,
      rpId: v.AUTH_WEBAUTHN_RP_ID ?? siteOf(v, publicUrl).hostname,
      rpOrigins: v.AUTH_WEBAUTHN_RP_ORIGINS ?? [siteOf(v, publicUrl).origin],
      rpName: v.AUTH_WEBAUTHN_RP_DISPLAY_NAME,
    },
    /** Passkey sign-in over the same relying party; ceremonies valid 5 min (GoTrue's webauthn.challenge_expiry_duration). */
    passkey: { enabled: v.AUTH_PASSKEY_ENABLED, maxPerUser: v.AUTH_PASSKEY_MAX_PER_USER, challengeExpiry: 300 },
    /** The OAuth 2.1 server (auth/routes/oauth-server/). */
    oauthServer: {
      enabled: v.AUTH_OAUTH_SERVER_ENABLED,
      allowDynamicRegistration: v.AUTH_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION,
      authorizationPath: v.AUTH_OAUTH_SERVER_AUTHORIZATION_PATH,
      authorizationTtl: v.AUTH_OAUTH_SERVER_AUTHORIZATION_TTL,
    },
    mfa: { maxEnrolledFactors: v.AUTH_MFA_MAX_ENROLLED_FACTORS, maxVerifiedFactors: 10, challengeExpiry: 300, factorExpiry: 300 },
    /** Unset: mails go to the dev inbox. */
    smtp: v.SMTP_HOST ? { host: v.SMTP_HOST, port: v.SMTP_PORT, user: v.SMTP_USER, pass: v.SMTP_PASS } : undefined,
    mailFrom: { address: v.SMTP_ADMIN_EMAIL, name: v.SMTP_SENDER_NAME },
    /** Which of mailFrom the environment sets (the rest may come from the database, core/auth-settings.ts). */
    mailFromEnv: { address: envSets('SMTP_ADMIN_EMAIL'), name: envSets('SMTP_SENDER_NAME') },
    /** Custom mail templates and subjects (auth/templates.ts renders them); read once at start. */
    mailTemplates: mailTemplates(v, problems),
    sms: smsConfig(v, problems),
    saml: samlConfig(v, publicUrl, problems),
    /** Where Google's ID-token signing keys are published (signInWithIdToken). */
    googleJwksUrl: v.GOOGLE_JWKS_URL,
    /** signInWithIdToken for Apple, Azure and Facebook: the audiences accepted and where the signing keys are (unset client id: off). */
    idTokens: {
      apple: v.APPLE_CLIENT_ID?.length ? { clientIds: v.APPLE_CLIENT_ID, jwksUrl: v.APPLE_JWKS_URL } : undefined,
      azure: v.AZURE_CLIENT_ID?.length ? { clientIds: v.AZURE_CLIENT_ID, jwksUrl: v.AZURE_JWKS_URL } : undefined,
      facebook: v.FACEBOOK_CLIENT_ID?.length ? { clientIds: v.FACEBOOK_CLIENT_ID, jwksUrl: v.FACEBOOK_JWKS_URL } : undefined,
    },
    /** The providers' endpoints, also for a provider enabled in the database (core/auth-settings.ts). */
    oauthEndpoints: {
      google: { authorizeUrl: v.GOOGLE_AUTHORIZE_URL, tokenUrl: v.GOOGLE_TOKEN_URL, apiUrl: v.GOOGLE_USERINFO_URL },
      github: { authorizeUrl: v.GITHUB_AUTHORIZE_URL, tokenUrl: v.GITHUB_TOKEN_URL, apiUrl: v.GITHUB_API_URL },
    },
    oauth: {
      google: oauthProvider('Google', { clientId: v.GOOGLE_CLIENT_ID, clientSecret: v.GOOGLE_CLIENT_SECRET, authorizeUrl: v.GOOGLE_AUTHORIZE_URL, tokenUrl: v.GOOGLE_TOKEN_URL, apiUrl: v.GOOGLE_USERINFO_URL }, problems),
      github: oauthProvider('GitHub', { clientId: v.GITHUB_CLIENT_ID, clientSecret: v.GITHUB_CLIENT_SECRET, authorizeUrl: v.GITHUB_AUTHORIZE_URL, tokenUrl: v.GITHUB_TOKEN_URL, apiUrl: v.GITHUB_API_URL }, problems),
    },
  };
}

/** The configuration from parsed values and the derived secrets. */
function buildConfig(v: EnvValues, derived: Derived, problems: string[]) {
  const { jwtSecret } = derived;
  const publicUrl = v.PUBLIC_URL ?? `http://localhost:${v.PORT}`;
  const signingKeys = v.JWT_SIGNING_KEYS ?? [];
  /**
   * Public keys that verify asymmetric JWTs: those of JWT_SIGNING_KEYS, then JWT_JWKS.
   * Undefined when neither is set (HS256 only).
   */
  const jwks: JSONWebKeySet | undefined = signingKeys.length ? { keys: [...signingKeys.map((k) => k.publicJwk), ...(v.JWT_JWKS?.keys ?? [])] } : v.JWT_JWKS;
  return {
    dataDir: derived.dataDir,
    logLevel: v.LOG_LEVEL,
    logFormat: v.LOG_FORMAT,
    host: v.HOST,
    port: v.PORT,
    /** WEB_CONCURRENCY: node:cluster workers of `nextmavens start` (cli/cluster.ts); 1 = one process. */
    webConcurrency: v.WEB_CONCURRENCY,
    publicUrl,
    corsOrigins: v.CORS_ALLOWED_ORIGINS,
    /** Fastify's trustProxy: whose X-Forwarded-For to believe for the client address. */
    trustProxy: v.TRUST_PROXY,
    maxBodyBytes: v.MAX_BODY_BYTES,
    /** The edge's limits per route group (gateway/routes.ts RouteGroup): requests per minute per tenant, 0 = off. */
    rateLimits: { rest: v.RATE_LIMIT_REST, graphql: v.RATE_LIMIT_GRAPHQL, storage: v.RATE_LIMIT_STORAGE, realtime: v.RATE_LIMIT_REALTIME, auth: v.RATE_LIMIT_AUTH },
    /** ADMIN_IP_ALLOWLIST: who may make sensitive requests; empty = everyone. */
    adminIpAllowlist: v.ADMIN_IP_ALLOWLIST ?? [],
    postgres: postgresConfig(v, derived),
    jwtSecret,
    jwks,
    /** JWT_SIGNING_KEYS: the first signs access tokens; empty = HS256 with jwtSecret. */
    signingKeys,
    anonKey: v.ANON_KEY ?? '',
    serviceRoleKey: v.SERVICE_ROLE_KEY ?? '',
    ports: { rest: v.REST_PORT, auth: v.AUTH_PORT, storage: v.STORAGE_PORT, realtime: v.REALTIME_PORT, graphql: v.GRAPHILE_PORT },
    realtime: {
      jwtSecret: v.REALTIME_JWT_SECRET ?? jwtSecret,
      redisUrl: v.REDIS_URL,
      maxEventsPerSecond: v.REALTIME_MAX_EVENTS_PER_SECOND,
      tenantMaxEventsPerSecond: v.REALTIME_TENANT_MAX_EVENTS_PER_SECOND,
    },
    graphql: {
      schemas: v.GRAPHILE_SCHEMA,
      jwtSecret: v.GRAPHILE_JWT_SECRET ?? jwtSecret,
      maxDepth: v.GRAPHQL_MAX_DEPTH,
      maxCost: v.GRAPHQL_MAX_COST,
      maxBodyBytes: v.GRAPHQL_MAX_BODY_BYTES,
      statementTimeoutMs: v.GRAPHQL_STATEMENT_TIMEOUT,
    },
    rest: { schemas: v.REST_SCHEMAS, maxRows: v.REST_MAX_ROWS, planEnabled: v.REST_DB_PLAN_ENABLED },
    auth: authConfig(v, publicUrl, derived.envSets, problems),
    telegram: { botToken: v.TELEGRAM_BOT_TOKEN, channelId: v.TELEGRAM_CHANNEL_ID, apiUrl: v.TELEGRAM_API_URL },
    storage: storageConfig(v, problems),
    /** Database webhooks, net.http_* and cron (automation/). */
    automation: { allowedHosts: v.WEBHOOK_ALLOWED_HOSTS ?? [], retryBaseMs: v.WEBHOOK_RETRY_BASE_MS },
    backup: backupConfig(v, derived.dataDir, problems),
    /** The audit log (audit/): days entries are kept, 0 = forever. */
    audit: { retentionDays: v.AUDIT_RETENTION_DAYS },
    ops: opsConfig(v),
    /** The admin dashboard (admin/): session lifetime, the sign-in rate limit. */
    admin: { sessionHours: v.ADMIN_SESSION_HOURS, loginMaxFailures: v.ADMIN_LOGIN_MAX_FAILURES },
    /** Requests kept for the admin dashboard (gateway/request-log-sink.ts); retentionHours 0: none. */
    requestLog: { retentionHours: v.REQUEST_LOG_RETENTION_HOURS, maxRows: v.REQUEST_LOG_MAX_ROWS },
    /** Projects beside the default one (projects/): their domain, idle release, servers, and the registry's encryption key. */
    projects: {
      domain: v.PROJECTS_DOMAIN,
      idleTimeoutSeconds: v.PROJECT_IDLE_TIMEOUT,
      servers: v.PROJECT_SERVERS ?? {},
      encryptionKey: v.PROJECTS_ENCRYPTION_KEY ?? jwtSecret,
    },
  };
}

/** Metrics, the dashboard, deployment hooks, alert rules and channels (METRICS_*, DEPLOY_HOOK_TOKEN, ALERT_*). */
function opsConfig(v: EnvValues) {
  return {
    metricsEnabled: v.METRICS_ENABLED,
    metricsToken: v.METRICS_TOKEN,
    /** Where a standalone service serves /metrics (compose: 9464); undefined: it does not. */
    metricsPort: v.METRICS_PORT,
    deployHookToken: v.DEPLOY_HOOK_TOKEN,
    alerts: {
      intervalSeconds: v.ALERT_INTERVAL,
      dbDownSeconds: v.ALERT_DB_DOWN_SECONDS,
      windowMinutes: v.ALERT_WINDOW_MINUTES,
      /** 0 = rule off (also for the thresholds below). */
      errorRatePercent: v.ALERT_ERROR_RATE_PERCENT,
      p99Ms: v.ALERT_P99_MS,
      replicationLagBytes: v.ALERT_REPLICATION_LAG_BYTES,
      diskFreePercent: v.ALERT_DISK_FREE_PERCENT,
      webhook: v.ALERT_WEBHOOK_URL ? { url: v.ALERT_WEBHOOK_URL, secret: v.ALERT_WEBHOOK_SECRET } : undefined,
      slackUrl: v.ALERT_SLACK_WEBHOOK_URL,
      discordUrl: v.ALERT_DISCORD_WEBHOOK_URL,
    },
  };
}

/**
 * Loads the configuration. Secrets that are not configured (JWT_SECRET, the embedded Postgres
 * password) are generated once and kept in DATA_DIR, so keys stay valid across restarts.
 */
export async function loadConfig(env: Env = process.env): Promise<Config> {
  const { values: v, problems } = readEnv(env);
  const dataDir = path.resolve(v.DATA_DIR);
  // Secrets are generated into DATA_DIR only for a configuration that will be accepted; with
  // problems already found, arranging goes on (so every problem is reported at once) without them.
  const embedded = !isSet(env, 'DATABASE_URL') && !isSet(env, 'POSTGRESQL_HOST');
  const needsGenerated = v.JWT_SECRET === undefined || (embedded && v.POSTGRESQL_PASSWORD === undefined);
  const generated = problems.length === 0 && needsGenerated ? await loadOrCreateSecrets(dataDir) : undefined;
  const jwtSecret = v.JWT_SECRET ?? generated?.jwtSecret ?? 'unused: the configuration is refused'.padEnd(MIN_JWT_SECRET_LENGTH, '.');
  const config = buildConfig(v, { dataDir, jwtSecret, postgresPassword: generated?.postgresPassword, envSets: (name) => isSet(env, name) }, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  config.anonKey ||= await deriveApiKey('anon', jwtSecret);
  config.serviceRoleKey ||= await deriveApiKey('service_role', jwtSecret);
  return config;
}
