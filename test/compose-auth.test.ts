/**
 * docker-compose.yml hands the auth service every Auth setting of config/schema.ts, each as
 * `NAME: ${NAME:-}` (empty = unset, so the schema's default applies), and the gateway — whose job
 * worker renders and delivers auth mail (cli/stack.ts serveOne) — the ones that mail needs;
 * docker-compose.projects.yml's `projects` gets all of them. The interpolated environments load
 * through our configuration loader, as the containers would.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { ENV_VARS, readEnv } from '../config/schema.ts';
import { COMPOSE_DOT_ENV, interpolatedEnv, mergeCompose, type ComposeService } from './helpers/compose-files.ts';

const compose = await mergeCompose('docker-compose.yml');
const { auth, gateway } = compose.services;
/** docker-compose.projects.yml's `projects`: every other project's auth, with the stack's policies (projects/config.ts), and their mail. */
const { projects } = (await mergeCompose('docker-compose.yml', 'docker-compose.projects.yml')).services;
const AUTH_VARS = ENV_VARS.filter((v) => v.group === 'Auth').map((v) => v.name);
/** What deliverAuthEmail and deliverTenantInvitation read (auth/mailer.ts, auth/tenant-invitations.ts). */
const MAIL_VARS = AUTH_VARS.filter((n) => n.startsWith('SMTP_') || n.startsWith('AUTH_MAILER_') || n === 'SITE_URL' || n === 'AUTH_OTP_EXP');
/** Compose's own choice where it differs from the schema's default. */
const COMPOSE_DEFAULTS: Record<string, string> = { AUTH_AUTOCONFIRM: 'false' };

/** The container path of `repoDir`'s bind mount in `service`. */
function mountOf(service: ComposeService, repoDir: string): string | undefined {
  return service.volumes?.map((v) => v.split(':')).find(([source]) => path.normalize(source) === repoDir)?.[1];
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'nm-compose-auth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A container's environment as our loader reads it: the mounted /templates found in `dir`, DATA_DIR kept out of the repository. */
const load = (env: Record<string, string>, mount: string) =>
  loadConfig({ ...Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v.startsWith(`${mount}/`) ? path.join(dir, v.slice(mount.length)) : v])), DATA_DIR: path.join(dir, 'data') });

describe('docker-compose.yml: auth settings', () => {
  it('passes every Auth variable of config/schema.ts to the auth service as ${NAME:-default}', () => {
    expect(AUTH_VARS.length).toBeGreaterThan(80);
    const env = auth.environment ?? {};
    expect(AUTH_VARS.filter((n) => !(n in env)), 'missing from the auth service').toEqual([]);
    for (const name of AUTH_VARS) expect(env[name], name).toBe(`\${${name}:-${COMPOSE_DEFAULTS[name] ?? ''}}`);
  });

  it('passes what auth mail needs to the gateway too, as auth gets it', () => {
    expect(MAIL_VARS).toEqual(expect.arrayContaining(['SMTP_HOST', 'SMTP_PASS', 'SITE_URL', 'AUTH_MAILER_TEMPLATES_RECOVERY', 'AUTH_MAILER_SUBJECTS_INVITE']));
    for (const name of MAIL_VARS) expect(gateway.environment?.[name], name).toBe(auth.environment?.[name]);
    // The SMS, SAML and OAuth secrets stay in the auth container.
    for (const name of ['AUTH_SAML_PRIVATE_KEY', 'TWILIO_AUTH_TOKEN', 'VONAGE_API_SECRET', 'GITHUB_CLIENT_SECRET']) expect(gateway.environment?.[name], name).toBeUndefined();
  });

  it('passes every Auth variable to docker-compose.projects.yml\'s projects service, as auth gets it (no anchor crosses files)', () => {
    for (const name of AUTH_VARS) expect(projects.environment?.[name], name).toBe(auth.environment?.[name]);
  });

  it('mounts ./auth-templates read-only at the same path in every container that renders auth mail', () => {
    const mount = mountOf(auth, 'auth-templates');
    expect(mount).toBe('/templates');
    for (const s of [gateway, projects]) expect(mountOf(s, 'auth-templates')).toBe(mount);
    for (const s of [auth, gateway, projects]) expect(s.volumes?.find((v) => v.startsWith('./auth-templates:'))).toMatch(/:ro$/);
  });

  it('reads an empty or blank value as unset for every variable of the schema, whatever its parser (what ${NAME:-} relies on)', () => {
    const unset = readEnv({});
    for (const { name } of ENV_VARS) {
      for (const raw of ['', '  ']) {
        const { values, problems } = readEnv({ [name]: raw });
        expect(problems, name).toEqual(unset.problems);
        expect(values, name).toEqual(unset.values);
      }
    }
  });

  it('loads with nothing set: every empty value means the schema default (compose\'s AUTH_AUTOCONFIRM=false aside)', async () => {
    const env = interpolatedEnv(auth.environment);
    for (const name of AUTH_VARS) expect(env[name], name).toBe(COMPOSE_DEFAULTS[name] ?? '');
    const unset = Object.fromEntries(Object.entries(env).filter(([k, v]) => v !== '' && !(k in COMPOSE_DEFAULTS)));
    expect((await load(env, '/templates')).auth).toEqual((await load({ ...unset, AUTH_AUTOCONFIRM: 'false' }, '/templates')).auth);
  });

  it('loads SAML, Vonage, Apple/Azure/Facebook, passkeys, the OAuth server and mail templates set in .env', async () => {
    const saml = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' }).toString('base64');
    await writeFile(path.join(dir, 'recovery.html'), '<p>Reset: <a href="{{ .ConfirmationURL }}">link</a></p>');
    const dotEnv = {
      ...COMPOSE_DOT_ENV,
      SITE_URL: 'https://app.example.com',
      AUTH_SAML_ENABLED: 'true',
      AUTH_SAML_PRIVATE_KEY: saml,
      AUTH_SAML_EXTERNAL_URL: 'https://api.example.com/auth/v1',
      AUTH_SMS_PROVIDER: 'vonage',
      VONAGE_API_KEY: 'vonage-key',
      VONAGE_API_SECRET: 'vonage-secret',
      VONAGE_FROM: 'Example',
      AUTH_SMS_TEST_OTP: '+15555550100:123456',
      APPLE_CLIENT_ID: 'com.example.app,com.example.web',
      AZURE_CLIENT_ID: 'azure-app',
      FACEBOOK_CLIENT_ID: 'fb-app',
      AUTH_PASSKEY_ENABLED: 'true',
      AUTH_MFA_WEBAUTHN_ENABLED: 'true',
      AUTH_OAUTH_SERVER_ENABLED: 'true',
      AUTH_AUTOCONFIRM: 'true',
      SMTP_HOST: 'smtp.example.com',
      SMTP_PORT: '465',
      AUTH_MAILER_TEMPLATES_RECOVERY: '/templates/recovery.html',
      AUTH_MAILER_SUBJECTS_RECOVERY: 'Reset your password',
    };
    const config = await load(interpolatedEnv(auth.environment, dotEnv), '/templates');
    expect(config.auth.saml).toMatchObject({ enabled: true, externalUrl: 'https://api.example.com/auth/v1' });
    expect(config.auth.saml.privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(config.auth.sms.provider).toMatchObject({ kind: 'vonage', apiKey: 'vonage-key', apiSecret: 'vonage-secret', from: 'Example' });
    expect(config.auth.sms.testOtp).toEqual({ '15555550100': '123456' });
    expect(config.auth.idTokens.apple?.clientIds).toEqual(['com.example.app', 'com.example.web']);
    expect(config.auth.idTokens.azure?.clientIds).toEqual(['azure-app']);
    expect(config.auth.idTokens.facebook?.clientIds).toEqual(['fb-app']);
    expect(config.auth.passkey.enabled).toBe(true);
    expect(config.auth.webauthn).toMatchObject({ enabled: true, rpId: 'app.example.com' });
    expect(config.auth.oauthServer.enabled).toBe(true);
    expect(config.auth.autoconfirm).toBe(true);
    expect(config.auth.smtp).toMatchObject({ host: 'smtp.example.com', port: 465 });
    expect(config.auth.mailTemplates.recovery).toEqual({ html: expect.stringContaining('{{ .ConfirmationURL }}'), subject: 'Reset your password' });

    // The gateway's worker sends that mail with the same SMTP server, template and links.
    const worker = await load(interpolatedEnv(gateway.environment, dotEnv), '/templates');
    for (const key of ['smtp', 'mailFrom', 'mailTemplates', 'siteUrl', 'otpExp'] as const) expect(worker.auth[key], key).toEqual(config.auth[key]);
  });

  it('refuses, naming the variable, what the auth container would refuse: a template outside the mount, a half-set SMS provider', async () => {
    const bad = { ...COMPOSE_DOT_ENV, AUTH_MAILER_TEMPLATES_INVITE: '/templates/missing.html', AUTH_SMS_PROVIDER: 'messagebird', MESSAGEBIRD_ACCESS_KEY: 'k' };
    await expect(load(interpolatedEnv(auth.environment, bad), '/templates')).rejects.toThrow(/AUTH_MAILER_TEMPLATES_INVITE: cannot read[\s\S]*AUTH_SMS_PROVIDER=messagebird needs MESSAGEBIRD_ACCESS_KEY and MESSAGEBIRD_ORIGINATOR/);
  });
});
