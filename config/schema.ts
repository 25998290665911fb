/**
 * Every environment variable the stack reads, defined once: name, group, parser (with its range),
 * default, description. `readEnv` parses them all into `EnvValues`, whose types follow from the
 * parsers; `config/load.ts` arranges those values into the `Config`. `.env.example` and the
 * README's configuration table are generated from this list (`nextmavens gen env`).
 */
import type { JSONWebKeySet } from 'jose';
import { parseSigningKeys } from './keys.ts';
import { absoluteUrl, bool, checked, cidrList, hostList, httpUrl, int, list, matching, oneOf, phoneCodes, port, postgresUrl, postgresUrlList, schemaList, secret, type Parser } from './parsers.ts';

export interface EnvVarSpec {
  name: string;
  /** How the text becomes a value (config/parsers.ts), with its range; unset: the text as written. */
  parse?: Parser<unknown>;
  group: 'Database' | 'Keys' | 'Gateway' | 'Services' | 'Auth' | 'Realtime' | 'GraphQL' | 'Storage' | 'Backups' | 'Audit' | 'Alerts' | 'Automation' | 'Operations' | 'Admin' | 'Projects' | 'Runtime';
  /** Default as written in .env.example; undefined means unset (optional or derived). */
  default?: string;
  description: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Requests per window of a rate limit: 0 (unlimited) to a million. */
const rate = int(0, 1_000_000);

/** A token compared with what a request presents (METRICS_TOKEN, DEPLOY_HOOK_TOKEN): no blanks, 16 characters or more. */
const token = matching(/^\S{16,}$/, 'must be at least 16 characters long, without blanks');

/** TRUST_PROXY: true/false, or the proxies (addresses/CIDRs) to trust. */
const trustProxy: Parser<boolean | string[]> = {
  parse: (raw, name, problems) => (['true', 'false'].includes(raw.toLowerCase()) ? bool.parse(raw, name, problems) : list.parse(raw, name, problems)),
};

/** JWT_JWKS: a JSON Web Key Set. */
function parseJwks(raw: string): JSONWebKeySet {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = undefined;
  }
  if (!Array.isArray((value as JSONWebKeySet | undefined)?.keys)) throw new Error('JWT_JWKS must be a JSON Web Key Set: {"keys": [ … ]}');
  return value as JSONWebKeySet;
}

/**
 * PROJECT_SERVERS: `name=postgresql://…` pairs separated by blanks; names as a project record
 * keeps them (sql/0038_projects.sql), `default` being the stack's own server.
 */
export function parseProjectServers(raw: string): Record<string, string> {
  const servers: Record<string, string> = {};
  for (const pair of raw.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq), url = pair.slice(eq + 1);
    if (eq < 1 || !/^[a-z][a-z0-9_-]{0,39}$/.test(name) || name === 'default') throw new Error(`PROJECT_SERVERS: "${pair.slice(0, 40)}" is not name=postgresql://… (names: lower-case letters, digits, _ and -, not "default")`);
    if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol)) throw new Error(`PROJECT_SERVERS: the server "${name}" needs a postgres:// or postgresql:// URL`);
    servers[name] = url;
  }
  return servers;
}

const SPECS = [
  // Database
  { name: 'DATABASE_URL', parse: postgresUrl, group: 'Database', description: 'Connection URL of an existing Postgres (superuser or owner). When set (or POSTGRESQL_HOST is set), no embedded Postgres starts.' },
  { name: 'POSTGRESQL_HOST', group: 'Database', description: 'Host of an existing Postgres. Unset: an embedded Postgres 17 starts on 127.0.0.1.' },
  { name: 'POSTGRESQL_PORT', parse: port, group: 'Database', default: '54322', description: 'Port of Postgres (the embedded one listens here).' },
  { name: 'POSTGRESQL_DB', group: 'Database', default: 'nextmavens', description: 'Database name.' },
  { name: 'POSTGRESQL_USER', group: 'Database', default: 'nextmavens', description: 'Database user; superuser of the embedded cluster.' },
  { name: 'POSTGRESQL_PASSWORD', group: 'Database', description: 'Password of POSTGRESQL_USER, also given to the `authenticator` role unless POSTGRESQL_AUTHENTICATOR_PASSWORD is set. Embedded: generated and kept in DATA_DIR when unset.' },
  { name: 'POSTGRESQL_AUTHENTICATOR_PASSWORD', group: 'Database', description: 'Password of the `authenticator` role (request pools, PostgREST, GraphQL and REST introspection); `migrate` sets it. Unset: POSTGRESQL_PASSWORD.' },
  { name: 'POSTGRESQL_AUTH_PASSWORD', group: 'Database', description: '`migrate` gives it to the `nextmavens_auth` role (sql/0028), as which the compose auth container logs in. Unset: that role cannot log in.' },
  { name: 'POSTGRESQL_STORAGE_PASSWORD', group: 'Database', description: '`migrate` gives it to the `nextmavens_storage` role (sql/0028), as which the compose storage container logs in. Unset: that role cannot log in.' },
  { name: 'POSTGRESQL_REALTIME_PASSWORD', group: 'Database', description: '`migrate` gives it to the `nextmavens_realtime` role (sql/0028, REPLICATION), as which the compose realtime container logs in. Unset: that role cannot log in.' },
  { name: 'POSTGRESQL_REPLICATION_SLOT', parse: matching(/^[a-z0-9_]{1,63}$/, 'may contain only lower-case letters, digits and underscores (max 63)'), group: 'Database', default: 'nextmavens_slot', description: 'Logical replication slot consumed by the realtime service.' },
  { name: 'MIGRATIONS_DIR', group: 'Database', default: 'supabase/migrations', description: 'Folder of your own SQL migrations (<version>_<name>.sql, the Supabase CLI layout), relative to the working directory: applied after the stack\'s own at every start and by `db push`; `migration new` creates files here.' },
  { name: 'SEED_FILE', group: 'Database', default: 'supabase/seed.sql', description: 'SQL run by `db reset` after the migrations (skipped when the file does not exist).' },
  { name: 'DATABASE_DIRECT_URL', parse: postgresUrl, group: 'Database', description: 'Connection URL (owner) that bypasses a transaction pooler such as PgBouncer in DATABASE_URL: migrations (session advisory lock), LISTEN (schema reloads, the job worker, GraphQL subscriptions and watch), realtime\'s replication slot and leader lock. Unset: DATABASE_URL (or POSTGRESQL_HOST) itself.' },
  { name: 'POSTGRESQL_DIRECT_HOST', group: 'Database', description: 'Host of Postgres itself when POSTGRESQL_HOST is a transaction pooler (compose: `db` behind `pgbouncer`): the same login then reaches it directly for what DATABASE_DIRECT_URL is for. Ignored when DATABASE_DIRECT_URL is set.' },
  { name: 'POSTGRESQL_DIRECT_PORT', parse: port, group: 'Database', description: 'Port of POSTGRESQL_DIRECT_HOST. Unset: POSTGRESQL_PORT.' },
  { name: 'DATABASE_READ_URL', parse: postgresUrlList, group: 'Database', description: 'Comma-separated connection URLs (owner credentials; the authenticator logs in with its own password) of streaming read replicas. REST GET/HEAD (and GET RPC of non-volatile functions) and GraphQL queries go to one of them; writes, volatile RPC and subscriptions stay on the primary. Unset: every read on the primary.' },
  { name: 'READ_REPLICA_MAX_LAG', parse: int(0, 86_400_000), group: 'Database', default: '1000', description: 'Milliseconds of replay lag past which a replica is skipped (reads go to another replica or the primary); the lag is measured at most every READ_REPLICA_CHECK_INTERVAL. A request with header `X-Read-Primary: true` always reads the primary (read-your-writes).' },
  { name: 'READ_REPLICA_CHECK_INTERVAL', parse: int(100, 3_600_000), group: 'Database', default: '1000', description: 'Milliseconds a replica\'s measured lag (and reachability) is cached before it is measured again.' },
  { name: 'DB_POOL_MAX', parse: int(1, 1000), group: 'Database', default: '10', description: 'Maximum connections in each service pool.' },
  { name: 'DB_PREPARED_STATEMENTS', parse: bool, group: 'Database', default: 'true', description: "Requests run their statements as named prepared statements, parsed and planned once per connection (PostgREST's db-prepared-statements). Set false when DATABASE_URL goes through PgBouncer in transaction mode before 1.21 (no max_prepared_statements): a statement prepared on one server connection does not exist on the next. Off, every query (PostGraphile's included) is sent unnamed." },
  // Keys
  { name: 'JWT_SECRET', parse: secret, group: 'Keys', description: 'HS256 secret (at least 32 characters) that signs and verifies every JWT. Generated and kept in DATA_DIR when unset.' },
  { name: 'JWT_SIGNING_KEYS', parse: checked(parseSigningKeys), group: 'Keys', description: 'Asymmetric signing of access tokens: a JSON array of private JWKs (ES256 P-256 or RS256, each with a `kid`; `nextmavens keys --es256` makes one). The first signs; the others stay published in /auth/v1/.well-known/jwks.json and accepted (rotation). Unset: HS256 with JWT_SECRET.' },
  { name: 'JWT_JWKS', parse: checked(parseJwks), group: 'Keys', description: 'Public keys (a JWKS JSON document) that also verify asymmetric JWTs (RS256, ES256, …) issued by another identity provider or by rotated signing keys.' },
  { name: 'ANON_KEY', group: 'Keys', description: 'Public API key (a JWT with role anon). Derived from JWT_SECRET when unset.' },
  { name: 'SERVICE_ROLE_KEY', group: 'Keys', description: 'Secret API key (a JWT with role service_role, bypasses RLS). Derived from JWT_SECRET when unset.' },
  // Gateway
  { name: 'PORT', parse: port, group: 'Gateway', default: '8000', description: 'Port of the gateway (the one URL clients use).' },
  { name: 'WEB_CONCURRENCY', parse: int(1, 64), group: 'Gateway', default: '1', description: 'Processes serving HTTP in `nextmavens start` (node:cluster workers sharing PORT, the Heroku/Node convention): 1 = the whole stack in one process; N > 1 = one primary (embedded Postgres, migrations) and N workers, one of them the job worker; broadcast, presence, postgres_changes and rate limits are shared between the workers over IPC without REDIS_URL (README "Several processes on one machine" for the limits).' },
  { name: 'HOST', group: 'Gateway', default: '0.0.0.0', description: 'Address the gateway and standalone services bind to.' },
  { name: 'PUBLIC_URL', parse: absoluteUrl, group: 'Gateway', description: 'Public base URL of the API (used in printed URLs and links). Default: http://localhost:PORT.' },
  { name: 'CORS_ALLOWED_ORIGINS', parse: list, group: 'Gateway', default: '*', description: 'Comma-separated origins allowed by CORS, or *.' },
  { name: 'TRUST_PROXY', parse: trustProxy, group: 'Gateway', default: 'false', description: 'Take client addresses (rate limits, logs) from X-Forwarded-For set by the proxy in front: true (compose, behind Traefik), false (the embedded gateway faces clients), or a comma list of proxy addresses/CIDRs.' },
  { name: 'MAX_BODY_BYTES', parse: int(1024, 2 ** 40), group: 'Gateway', default: '10485760', description: 'Largest request body accepted on buffered routes (REST, auth; not storage or realtime), checked at the edge before the body is read: a larger Content-Length, or a chunked body growing past it, is answered 413 in the service\'s error shape (GraphQL: GRAPHQL_MAX_BODY_BYTES; storage uploads: each bucket\'s file_size_limit).' },
  { name: 'RATE_LIMIT_REST', parse: rate, group: 'Gateway', default: '12000', description: 'Requests per minute to /rest/v1 per tenant (the JWT tenant claim; per user without one, per client address for anon callers), in both wirings (0 = off). Over it: 429 with Retry-After and RateLimit-* headers.' },
  { name: 'RATE_LIMIT_GRAPHQL', parse: rate, group: 'Gateway', default: '6000', description: 'Requests per minute to /graphql per tenant, as RATE_LIMIT_REST (0 = off).' },
  { name: 'RATE_LIMIT_STORAGE', parse: rate, group: 'Gateway', default: '6000', description: 'Requests per minute to /storage per tenant, as RATE_LIMIT_REST (0 = off).' },
  { name: 'RATE_LIMIT_REALTIME', parse: rate, group: 'Gateway', default: '1200', description: 'Requests (WebSocket upgrades, the broadcast REST API) per minute to /realtime per tenant, as RATE_LIMIT_REST (0 = off). Messages on open sockets: REALTIME_*_EVENTS_PER_SECOND.' },
  { name: 'RATE_LIMIT_AUTH', parse: rate, group: 'Gateway', default: '3000', description: 'Requests per minute to /auth per tenant (mostly per client address: sign-ins carry only the anon key), as RATE_LIMIT_REST (0 = off); the per-endpoint AUTH_RATE_LIMIT_* apply besides.' },
  { name: 'ADMIN_IP_ALLOWLIST', parse: cidrList, group: 'Gateway', description: 'Comma-separated addresses/CIDRs allowed to make sensitive requests: the auth admin API (/auth/v1/admin/*), any request made with the service_role role (also a service_role token given in a realtime join or token refresh, or in the connection_init of graphql-ws), the dashboard and /metrics; others get 403. The client address behind a proxy follows TRUST_PROXY. Unset: everyone.' },
  // Services (standalone ports, used by compose and `nextmavens serve <service>`)
  { name: 'REST_PORT', parse: port, group: 'Services', default: '3000', description: 'Port of the standalone REST service.' },
  { name: 'AUTH_PORT', parse: port, group: 'Services', default: '9999', description: 'Port of the standalone auth service.' },
  { name: 'STORAGE_PORT', parse: port, group: 'Services', default: '5000', description: 'Port of the standalone storage service.' },
  { name: 'REST_SCHEMAS', parse: schemaList, group: 'Services', default: 'public', description: 'Comma-separated schemas exposed through REST (the first is the default; others via Accept-Profile / Content-Profile).' },
  { name: 'REST_MAX_ROWS', parse: int(0, 2 ** 31 - 1), group: 'Services', description: "Most rows a REST read returns (PostgREST's db-max-rows); also caps count=estimated. Unset: no limit." },
  { name: 'REST_DB_PLAN_ENABLED', parse: bool, group: 'Services', default: 'false', description: "Answer Accept: application/vnd.pgrst.plan+json|text with the query's EXPLAIN (PostgREST's db-plan-enabled)." },
  // Auth
  { name: 'AUTH_ACCESS_TOKEN_TTL', parse: int(30, 7 * 86400), group: 'Auth', default: '900', description: 'Lifetime of access tokens, in seconds.' },
  { name: 'AUTH_REFRESH_TOKEN_TTL', parse: int(60, 10 * 365 * 86400), group: 'Auth', default: '2592000', description: 'Lifetime of a session without refresh, in seconds (30 days).' },
  { name: 'AUTH_REFRESH_REUSE_INTERVAL', parse: int(0, 3600), group: 'Auth', default: '10', description: 'Seconds during which a just-rotated refresh token may be reused (concurrent tabs) before reuse revokes the session.' },
  { name: 'AUTH_AUTOCONFIRM', parse: bool, group: 'Auth', default: 'true', description: 'Confirm new email users immediately (sign-up returns a session). Set false once SMTP is configured.' },
  { name: 'AUTH_DISABLE_SIGNUP', parse: bool, group: 'Auth', default: 'false', description: 'Refuse new sign-ups (admins can still create users).' },
  { name: 'AUTH_ANONYMOUS_SIGNINS', parse: bool, group: 'Auth', default: 'true', description: 'Allow signInAnonymously().' },
  { name: 'AUTH_PASSWORD_MIN_LENGTH', parse: int(1, 128), group: 'Auth', default: '6', description: 'Shortest password accepted.' },
  { name: 'AUTH_RATE_LIMIT_SIGNIN', parse: rate, group: 'Auth', default: '30', description: 'Sign-in attempts per client address per 5 minutes (0 = unlimited); failed attempts per email are capped at a third of it.' },
  { name: 'AUTH_RATE_LIMIT_SIGNUP', parse: rate, group: 'Auth', default: '30', description: 'Sign-ups per client address per hour (0 = unlimited).' },
  { name: 'AUTH_RATE_LIMIT_REFRESH', parse: rate, group: 'Auth', default: '150', description: 'Token refreshes per client address per 5 minutes (0 = unlimited).' },
  { name: 'AUTH_BCRYPT_COST', parse: int(4, 16), group: 'Auth', default: '10', description: 'bcrypt cost for new password hashes (existing $2a/$2b hashes of any cost verify).' },
  { name: 'SITE_URL', group: 'Auth', description: 'URL of your app: where email links and OAuth sign-ins redirect by default. Default: PUBLIC_URL.' },
  { name: 'AUTH_REDIRECT_ALLOW_LIST', parse: list, group: 'Auth', description: 'Comma-separated redirect URLs (globs: * within a path segment or host label, ** anything) that redirect_to may name besides SITE_URL; others fall back to SITE_URL.' },
  { name: 'AUTH_OTP_EXP', parse: int(60, 30 * 86400), group: 'Auth', default: '3600', description: 'Lifetime of email links and 6-digit codes (confirmation, magic link, recovery, invite, email change), in seconds.' },
  { name: 'AUTH_EMAIL_MAX_FREQUENCY', parse: int(0, 86400), group: 'Auth', default: '60', description: 'Seconds before another mail of the same kind may go to the same address (429 over_email_send_rate_limit).' },
  { name: 'AUTH_RATE_LIMIT_OTP', parse: rate, group: 'Auth', default: '30', description: 'Requests per client address per hour on /otp, /recover, /resend (0 = unlimited; 429 over_request_rate_limit).' },
  { name: 'AUTH_RATE_LIMIT_VERIFY', parse: rate, group: 'Auth', default: '30', description: 'Email link / 6-digit code verifications (GET and POST /verify) per client address per 5 minutes (0 = unlimited; 429 over_request_rate_limit).' },
  { name: 'AUTH_RATE_LIMIT_EMAIL_SENT', parse: rate, group: 'Auth', default: '100', description: 'Auth emails the whole instance sends per hour (0 = unlimited; 429 over_email_send_rate_limit).' },
  { name: 'AUTH_SECURE_PASSWORD_CHANGE', parse: bool, group: 'Auth', default: 'false', description: "Password changes from a session older than 24 h need the nonce mailed by GET /reauthenticate (updateUser({password, nonce}); GoTrue's secure_password_change)." },
  { name: 'AUTH_MANUAL_LINKING', parse: bool, group: 'Auth', default: 'false', description: "Allow linkIdentity / unlinkIdentity (GET /user/identities/authorize, DELETE /user/identities/{id}); off they answer 404 manual_linking_disabled (GoTrue's security.manual_linking_enabled)." },
  { name: 'AUTH_MFA_MAX_ENROLLED_FACTORS', parse: int(1, 1000), group: 'Auth', default: '10', description: "Most MFA factors (verified or not) one user may have enrolled (GoTrue's MFA_MAX_ENROLLED_FACTORS; 422 too_many_enrolled_mfa_factors)." },
  { name: 'AUTH_MFA_WEBAUTHN_ENABLED', parse: bool, group: 'Auth', default: 'false', description: "Allow WebAuthn MFA factors (security keys, platform authenticators): enroll and verify (GoTrue's mfa.web_authn; off: 422 mfa_webauthn_enroll_not_enabled)." },
  { name: 'AUTH_PASSKEY_ENABLED', parse: bool, group: 'Auth', default: 'false', description: "Passkey sign-in (auth.passkey.*: register a passkey while signed in, sign in with it); off: 404 passkey_disabled (GoTrue's passkey.enabled). Relying party: AUTH_WEBAUTHN_RP_*." },
  { name: 'AUTH_PASSKEY_MAX_PER_USER', parse: int(1, 1000), group: 'Auth', default: '10', description: 'Most passkeys one user may register (422 too_many_passkeys).' },
  { name: 'AUTH_WEBAUTHN_RP_ID', group: 'Auth', description: "WebAuthn relying party id (your app's domain). Default: SITE_URL's host name." },
  { name: 'AUTH_WEBAUTHN_RP_ORIGINS', parse: list, group: 'Auth', description: 'Comma-separated origins WebAuthn responses may come from. Default: the origin of SITE_URL.' },
  { name: 'AUTH_WEBAUTHN_RP_DISPLAY_NAME', group: 'Auth', default: 'NextMavens', description: 'Relying party name authenticators show.' },
  { name: 'AUTH_OAUTH_SERVER_ENABLED', parse: bool, group: 'Auth', default: 'false', description: "The OAuth 2.1 / OpenID Connect server (your project as an identity provider for third-party apps: /oauth/*, admin.oauth.*, auth.oauth.*); off: 404 feature_disabled \"OAuth server is disabled\" (GoTrue's oauth_server.enabled)." },
  { name: 'AUTH_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION', parse: bool, group: 'Auth', default: 'false', description: 'Let anyone register OAuth clients (POST /auth/v1/oauth/clients/register, RFC 7591); off: 403 oauth_dynamic_client_registration_disabled.' },
  { name: 'AUTH_OAUTH_SERVER_AUTHORIZATION_PATH', group: 'Auth', default: '/oauth/consent', description: "Path of your app's consent page on SITE_URL: GET /auth/v1/oauth/authorize sends the browser there with ?authorization_id=." },
  { name: 'AUTH_OAUTH_SERVER_AUTHORIZATION_TTL', parse: int(30, 86400), group: 'Auth', default: '600', description: "Seconds an authorization request and its code stay valid, consent included (GoTrue's oauth_server.authorization_ttl)." },
  { name: 'AUTH_SAML_ENABLED', parse: bool, group: 'Auth', default: 'false', description: "SAML 2.0 single sign-on (signInWithSSO, /sso/saml/metadata, /sso/saml/acs, admin.sso.*); off: 404 saml_provider_disabled \"SAML 2.0 is disabled\" (GoTrue's saml.enabled). Needs AUTH_SAML_PRIVATE_KEY." },
  { name: 'AUTH_SAML_PRIVATE_KEY', group: 'Auth', description: "The service provider's RSA key (at least 2048 bits, exponent 65537), standard Base64 of its PKCS#1 DER as GoTrue's GOTRUE_SAML_PRIVATE_KEY (openssl genrsa 2048 | openssl rsa -traditional -outform DER | base64 -w0): signs AuthnRequests; its self-signed certificate is in the metadata." },
  { name: 'AUTH_SAML_RELAY_STATE_VALIDITY_PERIOD', parse: int(1, 86400), group: 'Auth', default: '120', description: "Seconds an SP-initiated SAML sign-in may take before the ACS refuses its RelayState (422 saml_relay_state_expired; GoTrue's saml.relay_state_validity_period)." },
  { name: 'AUTH_SAML_EXTERNAL_URL', parse: absoluteUrl, group: 'Auth', description: "Base of the SAML endpoints as IdPs see them (the entity id is <it>/sso/saml/metadata). Default: PUBLIC_URL/auth/v1." },
  { name: 'AUTH_RATE_LIMIT_MFA', parse: rate, group: 'Auth', default: '15', description: 'MFA challenges and verifications per client address per minute, each (0 = unlimited; 429 over_request_rate_limit).' },
  { name: 'SMTP_HOST', group: 'Auth', description: 'SMTP server for auth emails. Unset: mails land in the dev inbox (GET /auth/v1/admin/inbox with the service_role key).' },
  { name: 'SMTP_PORT', parse: port, group: 'Auth', default: '587', description: 'SMTP port (465 = implicit TLS; others use STARTTLS when offered).' },
  { name: 'SMTP_USER', group: 'Auth', description: 'SMTP user name (optional).' },
  { name: 'SMTP_PASS', group: 'Auth', description: 'SMTP password (optional).' },
  { name: 'SMTP_ADMIN_EMAIL', group: 'Auth', default: 'noreply@localhost', description: 'From address of auth emails.' },
  { name: 'SMTP_SENDER_NAME', group: 'Auth', default: 'NextMavens', description: 'From name of auth emails.' },
  { name: 'AUTH_MAILER_TEMPLATES_CONFIRMATION', group: 'Auth', description: "File with the HTML of the sign-up confirmation mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.confirmation). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_CONFIRMATION', group: 'Auth', description: "Subject of the sign-up confirmation mail (same variables; GoTrue's mailer.subjects.confirmation). Unset: the built-in subject." },
  { name: 'AUTH_MAILER_TEMPLATES_INVITE', group: 'Auth', description: "File with the HTML of the invitation mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.invite). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_INVITE', group: 'Auth', description: "Subject of the invitation mail (same variables; GoTrue's mailer.subjects.invite). Unset: the built-in subject." },
  { name: 'AUTH_MAILER_TEMPLATES_RECOVERY', group: 'Auth', description: "File with the HTML of the password recovery mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.recovery). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_RECOVERY', group: 'Auth', description: "Subject of the password recovery mail (same variables; GoTrue's mailer.subjects.recovery). Unset: the built-in subject." },
  { name: 'AUTH_MAILER_TEMPLATES_MAGIC_LINK', group: 'Auth', description: "File with the HTML of the magic link mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.magic_link). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_MAGIC_LINK', group: 'Auth', description: "Subject of the magic link mail (same variables; GoTrue's mailer.subjects.magic_link). Unset: the built-in subject." },
  { name: 'AUTH_MAILER_TEMPLATES_EMAIL_CHANGE', group: 'Auth', description: "File with the HTML of the email change (both addresses) mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.email_change). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_EMAIL_CHANGE', group: 'Auth', description: "Subject of the email change (both addresses) mail (same variables; GoTrue's mailer.subjects.email_change). Unset: the built-in subject." },
  { name: 'AUTH_MAILER_TEMPLATES_REAUTHENTICATION', group: 'Auth', description: "File with the HTML of the reauthentication nonce mail, a GoTrue template ({{ .ConfirmationURL }}, {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }}, {{ .RedirectTo }}, {{ .Data.<key> }}; GoTrue's mailer.templates.reauthentication). Unset: the built-in mail." },
  { name: 'AUTH_MAILER_SUBJECTS_REAUTHENTICATION', group: 'Auth', description: "Subject of the reauthentication nonce mail (same variables; GoTrue's mailer.subjects.reauthentication). Unset: the built-in subject." },
  { name: 'AUTH_SMS_PROVIDER', parse: oneOf('none', 'twilio', 'messagebird', 'vonage'), group: 'Auth', default: 'none', description: "SMS provider for phone sign-ups and codes (GoTrue's sms.provider): none (phone sign-in off, as GoTrue without a provider), twilio (TWILIO_*), messagebird (Bird, MESSAGEBIRD_*) or vonage (VONAGE_*)." },
  { name: 'TWILIO_ACCOUNT_SID', group: 'Auth', description: 'Twilio account SID (AUTH_SMS_PROVIDER=twilio).' },
  { name: 'TWILIO_AUTH_TOKEN', group: 'Auth', description: 'Twilio auth token.' },
  { name: 'TWILIO_MESSAGE_SERVICE_SID', group: 'Auth', description: 'Twilio sender: a Messaging Service SID or a phone number (the From of each SMS).' },
  { name: 'TWILIO_API_URL', parse: httpUrl, group: 'Auth', default: 'https://api.twilio.com', description: "Base URL of Twilio's REST API; override for tests." },
  { name: 'MESSAGEBIRD_ACCESS_KEY', group: 'Auth', description: 'MessageBird (Bird) access key (AUTH_SMS_PROVIDER=messagebird).' },
  { name: 'MESSAGEBIRD_ORIGINATOR', group: 'Auth', description: 'MessageBird sender: a number or an alphanumeric name (the originator of each SMS).' },
  { name: 'MESSAGEBIRD_API_URL', parse: httpUrl, group: 'Auth', default: 'https://rest.messagebird.com', description: "Base URL of MessageBird's REST API (POST /messages); override for tests." },
  { name: 'VONAGE_API_KEY', group: 'Auth', description: 'Vonage (Nexmo) API key (AUTH_SMS_PROVIDER=vonage).' },
  { name: 'VONAGE_API_SECRET', group: 'Auth', description: 'Vonage API secret.' },
  { name: 'VONAGE_FROM', group: 'Auth', description: 'Vonage sender: a number or an alphanumeric name (the from of each SMS).' },
  { name: 'VONAGE_API_URL', parse: httpUrl, group: 'Auth', default: 'https://rest.nexmo.com', description: "Base URL of Vonage's SMS API (POST /sms/json); override for tests." },
  { name: 'AUTH_SMS_TEST_OTP', parse: phoneCodes, group: 'Auth', description: "Fixed codes for test numbers, sent nowhere (GoTrue's sms.test_otp): comma-separated phone:code pairs, e.g. +15555550100:123456." },
  { name: 'AUTH_RATE_LIMIT_SMS_SENT', parse: rate, group: 'Auth', default: '30', description: 'SMS codes the whole instance sends per hour, test codes aside (0 = unlimited; 429 over_sms_send_rate_limit).' },
  { name: 'AUTH_SMS_OTP_EXP', parse: int(30, 86400), group: 'Auth', default: '60', description: 'Lifetime of SMS codes, in seconds.' },
  { name: 'AUTH_SMS_MAX_FREQUENCY', parse: int(0, 86400), group: 'Auth', default: '60', description: 'Seconds before another SMS code may go to the same user (429 over_sms_send_rate_limit).' },
  { name: 'AUTH_SMS_TEMPLATE', group: 'Auth', default: 'Your code is {{ .Code }}', description: 'Text of the SMS; {{ .Code }} is the code.' },
  { name: 'GOOGLE_CLIENT_ID', group: 'Auth', description: 'Google OAuth client id (enables signInWithOAuth({provider: "google"})). Callback URL: PUBLIC_URL/auth/v1/callback.' },
  { name: 'GOOGLE_CLIENT_SECRET', group: 'Auth', description: 'Google OAuth client secret.' },
  { name: 'GOOGLE_AUTHORIZE_URL', parse: absoluteUrl, group: 'Auth', default: 'https://accounts.google.com/o/oauth2/v2/auth', description: 'Google authorization endpoint (its origin is the expected ID-token issuer); override for tests.' },
  { name: 'GOOGLE_TOKEN_URL', parse: absoluteUrl, group: 'Auth', default: 'https://oauth2.googleapis.com/token', description: 'Google token endpoint.' },
  { name: 'GOOGLE_USERINFO_URL', parse: absoluteUrl, group: 'Auth', default: 'https://openidconnect.googleapis.com/v1/userinfo', description: 'Google userinfo endpoint.' },
  { name: 'GOOGLE_JWKS_URL', parse: httpUrl, group: 'Auth', default: 'https://www.googleapis.com/oauth2/v3/certs', description: "Google's signing keys (JWKS), against which signInWithIdToken({provider: 'google'}) verifies ID tokens; override for tests." },
  { name: 'APPLE_CLIENT_ID', parse: list, group: 'Auth', description: "Comma-separated audiences (Services ID, iOS bundle ids) accepted in Apple ID tokens: enables signInWithIdToken({provider: 'apple'}) (GoTrue's external.apple.client_id)." },
  { name: 'APPLE_JWKS_URL', parse: httpUrl, group: 'Auth', default: 'https://appleid.apple.com/auth/keys', description: "Apple's ID-token signing keys (JWKS); override for tests." },
  { name: 'AZURE_CLIENT_ID', parse: list, group: 'Auth', description: "Comma-separated application (client) ids accepted as the audience of Microsoft Entra ID tokens: enables signInWithIdToken({provider: 'azure'})." },
  { name: 'AZURE_JWKS_URL', parse: httpUrl, group: 'Auth', default: 'https://login.microsoftonline.com/common/discovery/v2.0/keys', description: "Microsoft's ID-token signing keys (JWKS, all tenants); override for tests." },
  { name: 'FACEBOOK_CLIENT_ID', parse: list, group: 'Auth', description: "Comma-separated Facebook app ids accepted as the audience of Limited Login ID tokens: enables signInWithIdToken({provider: 'facebook'})." },
  { name: 'FACEBOOK_JWKS_URL', parse: httpUrl, group: 'Auth', default: 'https://limited.facebook.com/.well-known/oauth/openid/jwks/', description: "Facebook Limited Login's ID-token signing keys (JWKS); override for tests." },
  { name: 'GITHUB_CLIENT_ID', group: 'Auth', description: 'GitHub OAuth app client id (enables signInWithOAuth({provider: "github"})). Callback URL: PUBLIC_URL/auth/v1/callback.' },
  { name: 'GITHUB_CLIENT_SECRET', group: 'Auth', description: 'GitHub OAuth app client secret.' },
  { name: 'GITHUB_AUTHORIZE_URL', parse: absoluteUrl, group: 'Auth', default: 'https://github.com/login/oauth/authorize', description: 'GitHub authorization endpoint (override for GitHub Enterprise or tests).' },
  { name: 'GITHUB_TOKEN_URL', parse: absoluteUrl, group: 'Auth', default: 'https://github.com/login/oauth/access_token', description: 'GitHub token endpoint.' },
  { name: 'GITHUB_API_URL', parse: absoluteUrl, group: 'Auth', default: 'https://api.github.com', description: 'GitHub API base (GET /user, /user/emails).' },
  // Realtime
  { name: 'REALTIME_PORT', parse: port, group: 'Realtime', default: '4003', description: 'Port of the standalone realtime service.' },
  { name: 'REALTIME_JWT_SECRET', parse: secret, group: 'Realtime', description: 'Secret realtime verifies tokens with. Default: JWT_SECRET.' },
  { name: 'REALTIME_MAX_EVENTS_PER_SECOND', parse: int(0, 1_000_000), group: 'Realtime', default: '100', description: "Messages one socket may send per second (heartbeats excepted), as Supabase's max_events_per_second; over it they are dropped with ClientRateLimitReached (0 = unlimited)." },
  { name: 'REALTIME_TENANT_MAX_EVENTS_PER_SECOND', parse: int(0, 100_000_000), group: 'Realtime', default: '0', description: 'Messages all sockets of one tenant (the JWT tenant claim) may send per second together (0 = unlimited).' },
  { name: 'REDIS_URL', group: 'Realtime', description: 'Redis for what several instances share: realtime fan-out, the gateway\'s and auth\'s rate-limit counters, TUS upload locks (optional; one instance needs none; while it is unreachable each instance counts in memory).' },
  // GraphQL
  { name: 'GRAPHILE_PORT', parse: port, group: 'GraphQL', default: '4004', description: 'Port of the standalone GraphQL service.' },
  { name: 'GRAPHILE_SCHEMA', parse: schemaList, group: 'GraphQL', default: 'public', description: 'Comma-separated schemas exposed through GraphQL.' },
  { name: 'GRAPHILE_JWT_SECRET', parse: secret, group: 'GraphQL', description: 'Secret GraphQL verifies tokens with. Default: JWT_SECRET.' },
  { name: 'GRAPHQL_MAX_DEPTH', parse: int(1, 1000), group: 'GraphQL', default: '16', description: 'Deepest selection-set nesting a GraphQL operation may have (fragments inlined); deeper ones fail validation (GRAPHQL_DEPTH_LIMIT).' },
  { name: 'GRAPHQL_MAX_COST', parse: int(1, 2 ** 31), group: 'GraphQL', default: '25000', description: 'Largest cost of a GraphQL operation: one per selected field, nested selections multiplied by a literal first/last argument (GRAPHQL_COST_LIMIT).' },
  { name: 'GRAPHQL_MAX_BODY_BYTES', parse: int(1024, 2 ** 31), group: 'GraphQL', default: '1000000', description: 'Largest GraphQL request body, in bytes (413 REQUEST_TOO_LARGE).' },
  { name: 'GRAPHQL_STATEMENT_TIMEOUT', parse: int(0, 2 ** 31 - 1), group: 'GraphQL', default: '15000', description: 'statement_timeout of GraphQL operations for roles without their own (ALTER ROLE … SET statement_timeout wins, as in REST), in milliseconds (STATEMENT_TIMEOUT error when exceeded).' },
  // Storage
  { name: 'STORAGE_BACKEND', parse: oneOf('fs', 's3', 'telegram'), group: 'Storage', default: 'fs', description: 'Where object bytes live: fs (files under DATA_DIR/storage), s3 (an S3-compatible server: MinIO, AWS S3, R2, …) or telegram (documents in TELEGRAM_CHANNEL_ID through the Bot API, chunked; the chunk manifest in Postgres).' },
  { name: 'S3_ENDPOINT', group: 'Storage', description: 'URL of the S3 server, e.g. http://minio:9000 or https://s3.eu-west-1.amazonaws.com (required when STORAGE_BACKEND=s3).' },
  { name: 'S3_REGION', group: 'Storage', default: 'us-east-1', description: 'Region of the S3 bucket.' },
  { name: 'S3_ACCESS_KEY', group: 'Storage', description: 'S3 access key id.' },
  { name: 'S3_SECRET_KEY', group: 'Storage', description: 'S3 secret access key.' },
  { name: 'S3_BUCKET', group: 'Storage', default: 'nextmavens', description: 'The one S3 bucket that holds every object of every storage bucket (created at start when missing).' },
  { name: 'S3_FORCE_PATH_STYLE', parse: bool, group: 'Storage', default: 'true', description: 'Address the bucket in the path (http://host/bucket/key) instead of a virtual-host subdomain; MinIO and most self-hosted servers need true.' },
  { name: 'STORAGE_CLEANUP_INTERVAL', parse: int(0, 30 * 86400), group: 'Storage', default: '3600', description: 'Seconds between runs of the job that deletes blobs no object row references and stale staged uploads (it also runs at start; 0 = never).' },
  // Backups
  { name: 'BACKUP_TARGET', group: 'Backups', description: 'Where backups go: a directory, s3://bucket/prefix on the BACKUP_S3_* server, or telegram: (the channel TELEGRAM_CHANNEL_ID) / telegram:<chat id or @name>, through the bot TELEGRAM_BOT_TOKEN. Default: DATA_DIR/backups. Setting it also schedules daily backups unless BACKUP_SCHEDULE says otherwise.' },
  { name: 'BACKUP_SCHEDULE', parse: matching(/^(\s*(\S+\s+){4}\S+\s*|off)$/, 'must be a cron schedule of five fields, e.g. `0 3 * * *`, or off'), group: 'Backups', description: 'Cron schedule of automatic backups (five fields, UTC, e.g. `0 3 * * *`), run by the background jobs. Unset: daily at 03:00 UTC when BACKUP_TARGET is set, else none; `off`: none.' },
  { name: 'BACKUP_KEEP', parse: int(1, 10_000), group: 'Backups', default: '7', description: 'Backups kept in the target; older ones (and the objects and WAL only they need) are deleted after each backup.' },
  { name: 'BACKUP_PG_BIN_DIR', group: 'Backups', description: 'Where pg_dump and pg_restore are, for backups of an external Postgres (DATABASE_URL / POSTGRESQL_HOST; a dump). Default: /usr/lib/postgresql/<server major>/bin, then PATH; the tools must be of the server\'s major version or newer.' },
  { name: 'BACKUP_PGDATA', group: 'Backups', description: 'The data directory of an external Postgres as mounted here (compose: the db volume, see docker-compose.yml): backups are then base backups of it instead of dumps, and `restore --to <time>` recovers it from the WAL that its archive_command writes to BACKUP_TARGET/wal (the server stopped meanwhile).' },
  { name: 'BACKUP_PITR', parse: bool, group: 'Backups', default: 'false', description: 'Point-in-time restore: the embedded Postgres archives its WAL to BACKUP_TARGET/wal (a directory target) and objects are archived as they are written and before they are deleted, so `restore --to <time>` can go back to any moment since the oldest kept backup.' },
  { name: 'BACKUP_S3_ENDPOINT', group: 'Backups', description: 'URL of the S3-compatible server of an s3:// BACKUP_TARGET (default: S3_ENDPOINT).' },
  { name: 'BACKUP_S3_REGION', group: 'Backups', default: 'us-east-1', description: 'Region of the backup bucket.' },
  { name: 'BACKUP_S3_ACCESS_KEY', group: 'Backups', description: 'Access key id for the backup bucket (default: S3_ACCESS_KEY).' },
  { name: 'BACKUP_S3_SECRET_KEY', group: 'Backups', description: 'Secret access key for the backup bucket (default: S3_SECRET_KEY).' },
  { name: 'BACKUP_S3_FORCE_PATH_STYLE', parse: bool, group: 'Backups', default: 'true', description: 'Address the backup bucket in the path (MinIO and most self-hosted servers need true).' },
  // Audit log
  { name: 'AUDIT_RETENTION_DAYS', parse: int(0, 36_500), group: 'Audit', default: '0', description: 'Days audit log entries are kept: older ones are exported to BACKUP_TARGET/audit/ and removed by a daily job, the chain continuing from an anchor (docs/audit.md). 0 = keep forever.' },
  // Operations
  { name: 'METRICS_ENABLED', parse: bool, group: 'Operations', default: 'true', description: 'Count every HTTP request (service, route template, method, status, latency) and serve GET /metrics in Prometheus text format (false: neither).' },
  { name: 'METRICS_TOKEN', parse: token, group: 'Operations', description: 'A token that Prometheus may send (Authorization: Bearer) to read /metrics instead of the service_role key.' },
  { name: 'METRICS_PORT', parse: port, group: 'Operations', description: 'Port on which a standalone service (`nextmavens serve <service>`) serves its /metrics (compose: 9464); unset: none. The embedded stack and the gateway serve /metrics on PORT.' },
  { name: 'DEPLOY_HOOK_TOKEN', parse: token, group: 'Operations', description: 'Token of the deployment hooks (POST /ops/hooks/dokploy, /ops/hooks/deploy; as ?token= or Authorization: Bearer). Unset: only the service_role key is accepted.' },
  { name: 'REQUEST_LOG_RETENTION_HOURS', parse: int(0, 8760), group: 'Operations', default: '24', description: 'Hours the embedded gateway keeps each request (method, URL without secrets, status, duration, role, tenant, address) in the UNLOGGED table nextmavens.request_log for the admin dashboard\'s Logs page; written in batches off the request path. 0 = not kept (stderr lines only).' },
  { name: 'REQUEST_LOG_MAX_ROWS', parse: int(1000, 100_000_000), group: 'Operations', default: '100000', description: 'The most requests kept in nextmavens.request_log: older ones are deleted about once a minute, as are those older than REQUEST_LOG_RETENTION_HOURS.' },
  // Admin dashboard
  { name: 'ADMIN_SESSION_HOURS', parse: int(1, 720), group: 'Admin', default: '12', description: 'Hours an admin dashboard session (/admin, its httpOnly cookie) lasts before the admin signs in again.' },
  { name: 'ADMIN_LOGIN_MAX_FAILURES', parse: int(1, 1000), group: 'Admin', default: '5', description: 'Failed admin sign-ins per email (four times as many per client address) within 15 minutes before further attempts are refused with 429.' },
  // Alerts
  { name: 'TELEGRAM_BOT_TOKEN', group: 'Alerts', description: 'Telegram bot token for operational alerts (optional) and the telegram storage backend (required by STORAGE_BACKEND=telegram).' },
  { name: 'TELEGRAM_CHANNEL_ID', group: 'Alerts', description: 'Telegram channel that receives alerts (optional), and the object documents with STORAGE_BACKEND=telegram (the bot must be an admin of it).' },
  { name: 'TELEGRAM_CHUNK_SIZE', parse: int(1024, 20 * 1000 * 1000), group: 'Storage', default: '19922944', description: 'STORAGE_BACKEND=telegram: bytes per document an object is split into (19 MiB: under the Bot API\'s 20 MB getFile download and 50 MB upload limits).' },
  { name: 'TELEGRAM_API_URL', parse: httpUrl, group: 'Alerts', default: 'https://api.telegram.org', description: 'Base URL of the Telegram Bot API (alerts and the telegram storage backend); tests point it at a local fake.' },
  { name: 'ALERT_INTERVAL', parse: int(1, 3600), group: 'Alerts', default: '10', description: 'Seconds between health checks, alert evaluations and dashboard samples.' },
  { name: 'ALERT_DB_DOWN_SECONDS', parse: int(1, 86400), group: 'Alerts', default: '30', description: 'Alert when the database has been unreachable this many seconds.' },
  { name: 'ALERT_WINDOW_MINUTES', parse: int(1, 60), group: 'Alerts', default: '5', description: 'The window over which error rate and p99 latency are judged (at least 20 requests in it).' },
  { name: 'ALERT_ERROR_RATE_PERCENT', parse: int(0, 100), group: 'Alerts', default: '5', description: 'Alert when more than this percentage of requests answered 5xx over ALERT_WINDOW_MINUTES (0 = never).' },
  { name: 'ALERT_P99_MS', parse: int(0, 3_600_000), group: 'Alerts', default: '2000', description: 'Alert when the p99 request latency over ALERT_WINDOW_MINUTES exceeds this many milliseconds (0 = never).' },
  { name: 'ALERT_REPLICATION_LAG_BYTES', parse: int(0, Number.MAX_SAFE_INTEGER), group: 'Alerts', default: '1073741824', description: 'Alert when a replication slot retains more WAL than this many bytes (0 = never).' },
  { name: 'ALERT_DISK_FREE_PERCENT', parse: int(0, 100), group: 'Alerts', default: '10', description: 'Alert when the file system of DATA_DIR has less than this percentage free (0 = never).' },
  { name: 'ALERT_WEBHOOK_URL', parse: httpUrl, group: 'Alerts', description: 'Generic webhook that receives every alert as a JSON POST (signed with ALERT_WEBHOOK_SECRET).' },
  { name: 'ALERT_WEBHOOK_SECRET', group: 'Alerts', description: 'HMAC-SHA256 key of the X-NextMavens-Signature header of webhook alerts (t=<unix seconds>,v1=<hex of "t.body">).' },
  { name: 'ALERT_SLACK_WEBHOOK_URL', parse: httpUrl, group: 'Alerts', description: 'Slack-compatible incoming webhook (JSON {text}) that receives alerts.' },
  { name: 'ALERT_DISCORD_WEBHOOK_URL', parse: httpUrl, group: 'Alerts', description: 'Discord-compatible incoming webhook (JSON {content}) that receives alerts.' },
  // Automation (database webhooks, net.http_*, cron: docs/automation.md)
  { name: 'WEBHOOK_ALLOWED_HOSTS', parse: hostList, group: 'Automation', description: 'Comma-separated host names or CIDRs (10.0.0.0/8, 127.0.0.1) that webhooks and net.http_* may reach although they are private, loopback or link-local; every other such target is refused (SSRF).' },
  { name: 'WEBHOOK_RETRY_BASE_MS', parse: int(1, 3_600_000), group: 'Automation', default: '1000', description: "Delay before the first retry of a failed webhook delivery, in milliseconds; doubled after each further failure (at most one hour) until the hook's max_attempts, then the delivery is dead." },
  // Projects (projects/, README "Many projects")
  { name: 'PROJECTS_DOMAIN', parse: matching(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'must be a lower-case domain name (e.g. localhost or api.example.com)'), group: 'Projects', default: 'localhost', description: 'Projects other than the default one answer on `http://<ref>.<PROJECTS_DOMAIN>` (Host-based, as *.supabase.co) and on the path prefix `/project/<ref>/` of PUBLIC_URL. The bare domain is the default project.' },
  { name: 'PROJECT_IDLE_TIMEOUT', parse: int(0, 86_400), group: 'Projects', default: '300', description: "Seconds without a request (and without an open WebSocket) after which a project's services, pools and replication slot are released; its next request opens them again (0 = keep them open)." },
  { name: 'PROJECT_SERVERS', parse: checked(parseProjectServers), group: 'Projects', description: 'More Postgres servers for projects, as `name=postgresql://owner:password@host:port/postgres` pairs separated by blanks (`nextmavens projects create <ref> --server name`). The stack\'s own server is `default`.' },
  { name: 'PROJECTS_ENCRYPTION_KEY', parse: secret, group: 'Projects', description: "Key (at least 32 characters) that encrypts the projects' JWT secrets in the registry (nextmavens.projects). Unset: derived from JWT_SECRET, so every instance of a stack shares it." },
  // Runtime
  { name: 'DATA_DIR', group: 'Runtime', default: './.nextmavens', description: 'Where the embedded Postgres cluster, generated secrets and local files live.' },
  { name: 'LOG_FORMAT', parse: oneOf('auto', 'pretty', 'json'), group: 'Runtime', default: 'auto', description: 'pretty (readable, coloured lines), json (one JSON object per line, for log collectors) or auto: pretty when stderr is a terminal, else json.' },
  { name: 'LOG_LEVEL', parse: oneOf(...LOG_LEVELS), group: 'Runtime', default: 'info', description: 'fatal | error | warn | info | debug | trace | silent.' },
] as const satisfies readonly EnvVarSpec[];

export const ENV_VARS: readonly EnvVarSpec[] = SPECS;

/** Every variable name the stack reads: reading any other is a type error (config/load.ts). */
export type EnvName = (typeof SPECS)[number]['name'];

type Spec = (typeof SPECS)[number];
type ParsedValue<S> = S extends { parse: Parser<infer T> } ? T : string;

/** Each variable's parsed value; undefined for a variable without a default that is not set. */
export type EnvValues = { [S in Spec as S['name']]: ParsedValue<S> | (S extends { default: string } ? never : undefined) };

/**
 * Parses every variable of the list: the environment's value (trimmed; empty counts as unset),
 * else the default; each problem is collected, naming its variable, in the order of the list.
 */
export function readEnv(env: Record<string, string | undefined>): { values: EnvValues; problems: string[] } {
  const problems: string[] = [];
  const values: Record<string, unknown> = {};
  for (const spec of ENV_VARS) {
    const raw = env[spec.name]?.trim() || spec.default;
    values[spec.name] = raw === undefined ? undefined : spec.parse ? spec.parse.parse(raw, spec.name, problems) : raw;
  }
  return { values: values as EnvValues, problems };
}

/** Whether a variable was set in `env` (not just defaulted). */
export function isSet(env: Record<string, string | undefined>, name: EnvName): boolean {
  return !!env[name]?.trim();
}

/** The default of a variable as the list gives it (the compose services' ports, the edge's body limit). */
export function envDefault(name: EnvName): string {
  const value = ENV_VARS.find((v) => v.name === name)?.default;
  if (value === undefined) throw new Error(`config: ${name} has no default`);
  return value;
}

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
