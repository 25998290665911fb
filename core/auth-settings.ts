/**
 * Auth settings the admin dashboard edits (admin/routes/settings.ts), stored in
 * `nextmavens.settings` (sql/0037_settings.sql): the SMTP server, the mails' sender, the Google
 * and GitHub OAuth clients. The effective value of each is the environment's when set, else the
 * database's, else the default — read at use time (each mail delivery, /settings, /authorize,
 * /callback: one primary-key read of four small rows), so a change applies on the next use, in
 * every process (compose's auth container as in the embedded stack), without a restart.
 *
 * Env wins per group for the SMTP server (SMTP_HOST set: all of SMTP_* from env) and for each
 * provider (its client id and secret set), per variable for SMTP_ADMIN_EMAIL/SMTP_SENDER_NAME.
 * Secrets (SMTP password, client secrets) are never handed out: views say whether they are set.
 */
import type pg from 'pg';
import type { Config, OAuthProviderConfig } from '../config/load.ts';
import { readSettings, writeSetting, type SettingValue } from '../db/settings.ts';

type Kind = 'text' | 'host' | 'port' | 'email' | 'bool' | 'secret';
export type SettingsGroup = 'smtp' | 'mail_from' | 'google' | 'github';
type Scalar = string | number | boolean;

const GROUPS: Record<SettingsGroup, { key: string; fields: Record<string, Kind> }> = {
  smtp: { key: 'auth.smtp', fields: { host: 'host', port: 'port', user: 'text', pass: 'secret' } },
  mail_from: { key: 'auth.mail_from', fields: { admin_email: 'email', sender_name: 'text' } },
  google: { key: 'auth.external.google', fields: { enabled: 'bool', client_id: 'text', secret: 'secret' } },
  github: { key: 'auth.external.github', fields: { enabled: 'bool', client_id: 'text', secret: 'secret' } },
};
export const SETTINGS_GROUPS = Object.keys(GROUPS) as SettingsGroup[];
const KEYS = SETTINGS_GROUPS.map((g) => GROUPS[g].key);
const DEFAULT_SMTP_PORT = 587;

/** Bad input to saveAuthSettings (the caller answers 400 with the message). */
export class SettingsInputError extends Error {}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

function dbProvider(row: SettingValue | undefined, endpoints: Omit<OAuthProviderConfig, 'clientId' | 'clientSecret'>): OAuthProviderConfig | undefined {
  const clientId = text(row?.client_id);
  const clientSecret = text(row?.secret);
  return row?.enabled === true && clientId && clientSecret ? { clientId, clientSecret, ...endpoints } : undefined;
}

/** The configuration with auth's SMTP, sender and providers as they are in effect now. */
export async function effectiveAuthConfig(config: Config, pool: Pick<pg.Pool, 'query'>): Promise<Config> {
  const rows = await readSettings(pool, KEYS);
  const a = config.auth;
  const smtpRow = rows.get(GROUPS.smtp.key);
  const fromRow = rows.get(GROUPS.mail_from.key);
  const host = text(smtpRow?.host);
  return {
    ...config,
    auth: {
      ...a,
      smtp: a.smtp ?? (host ? { host, port: typeof smtpRow?.port === 'number' ? smtpRow.port : DEFAULT_SMTP_PORT, user: text(smtpRow?.user), pass: text(smtpRow?.pass) } : undefined),
      mailFrom: {
        address: (!a.mailFromEnv.address && text(fromRow?.admin_email)) || a.mailFrom.address,
        name: (!a.mailFromEnv.name && text(fromRow?.sender_name)) || a.mailFrom.name,
      },
      oauth: {
        google: a.oauth.google ?? dbProvider(rows.get(GROUPS.google.key), a.oauthEndpoints.google),
        github: a.oauth.github ?? dbProvider(rows.get(GROUPS.github.key), a.oauthEndpoints.github),
      },
    },
  };
}

export interface FieldView {
  source: 'environment' | 'database' | 'default';
  /** Absent for secrets. */
  value?: Scalar | null;
  /** Secrets only: whether one is in effect. */
  set?: boolean;
}
export type AuthSettingsView = Record<SettingsGroup, Record<string, FieldView>>;

/** What the environment fixes in each group (undefined: nothing), and the defaults. */
function envValues(config: Config): Record<SettingsGroup, { env?: Record<string, Scalar | undefined>; defaults: Record<string, Scalar> }> {
  const a = config.auth;
  const provider = (p: OAuthProviderConfig | undefined) => ({ env: p && { enabled: true, client_id: p.clientId, secret: p.clientSecret }, defaults: { enabled: false } });
  return {
    smtp: { env: a.smtp && { host: a.smtp.host, port: a.smtp.port, user: a.smtp.user ?? '', pass: a.smtp.pass ?? '' }, defaults: { port: DEFAULT_SMTP_PORT } },
    mail_from: {
      env: { admin_email: a.mailFromEnv.address ? a.mailFrom.address : undefined, sender_name: a.mailFromEnv.name ? a.mailFrom.name : undefined },
      defaults: { admin_email: a.mailFrom.address, sender_name: a.mailFrom.name },
    },
    google: provider(a.oauth.google),
    github: provider(a.oauth.github),
  };
}

/** Every field with where its value comes from; secrets only as set / not set. */
export async function authSettingsView(config: Config, pool: Pick<pg.Pool, 'query'>): Promise<AuthSettingsView> {
  const rows = await readSettings(pool, KEYS);
  const sources = envValues(config);
  const view = {} as AuthSettingsView;
  for (const group of SETTINGS_GROUPS) {
    const { env, defaults } = sources[group];
    const row = rows.get(GROUPS[group].key) ?? {};
    view[group] = {};
    for (const [field, kind] of Object.entries(GROUPS[group].fields)) {
      const fromEnv = env?.[field];
      const fromDb = row[field] === '' ? undefined : (row[field] as Scalar | undefined);
      const source = fromEnv !== undefined ? 'environment' : fromDb !== undefined ? 'database' : 'default';
      const value = fromEnv ?? fromDb ?? defaults[field] ?? null;
      view[group][field] = kind === 'secret' ? { source, set: value !== null && value !== '' } : { source, value };
    }
  }
  return view;
}

function parseField(field: string, kind: Kind, v: unknown): Scalar {
  const bad = (what: string) => new SettingsInputError(`${field} must be ${what}`);
  if (kind === 'bool') {
    if (typeof v !== 'boolean') throw bad('true or false');
    return v;
  }
  if (kind === 'port') {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw bad('a port number (1–65535)');
    return v;
  }
  if (typeof v !== 'string' || v.length > 500 || /[\u0000-\u001f\u007f]/.test(v)) throw bad('a string of at most 500 characters without control characters');
  if (kind === 'host' && !/^[A-Za-z0-9.\-:[\]]{1,253}$/.test(v)) throw bad('a host name or IP address');
  if (kind === 'email' && !/^[^\s@<>]+@[^\s@<>]+$/.test(v)) throw bad('an email address');
  return v.trim() === v ? v : v.trim();
}

/**
 * Updates one group from `input` (only the fields it names): a value replaces, null or "" clears
 * (back to the default), an omitted secret stays as stored. Unknown fields are refused.
 */
export async function saveAuthSettings(pool: Pick<pg.Pool, 'query'>, group: string, input: unknown, by: string | null): Promise<void> {
  if (!Object.hasOwn(GROUPS, group)) throw new SettingsInputError(`Unknown settings group ${JSON.stringify(group)}`);
  const spec = GROUPS[group as SettingsGroup];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new SettingsInputError('Send a JSON object');
  const unknown = Object.keys(input).filter((f) => !Object.hasOwn(spec.fields, f));
  if (unknown.length) throw new SettingsInputError(`Unknown field ${unknown.map((f) => JSON.stringify(f)).join(', ')} for ${group}`);
  const next: SettingValue = { ...(await readSettings(pool, [spec.key])).get(spec.key) };
  for (const [field, v] of Object.entries(input as Record<string, unknown>)) {
    if (v === null || v === '') delete next[field];
    else if (v !== undefined) next[field] = parseField(field, spec.fields[field], v);
  }
  await writeSetting(pool, spec.key, next, by);
}
