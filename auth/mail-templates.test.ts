/**
 * Email templates from files (AUTH_MAILER_TEMPLATES_* / AUTH_MAILER_SUBJECTS_*) with GoTrue's
 * variables, through auth-js and a local SMTP server: the operator's HTML and subject are sent,
 * every variable filled (values HTML-escaped), the link in them works, and mails without a
 * template of their own keep the built-in one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createClient } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/load.ts';
import { startSmtp, type TestSmtp } from '../test/helpers/smtp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const SITE = 'http://app.test';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;
let dir: string;
let smtp: TestSmtp;
let t: TestStack;
const fresh = () => createClient(t.stack.url, t.db.config.anonKey, opts);
const unescape = (s: string) => s.replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/&amp;/g, '&');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'nm-templates-'));
  await writeFile(path.join(dir, 'confirm.html'), '<h1>Welcome {{ .Data.name }}</h1><p>Confirm {{ .Email }} for {{ .SiteURL }}: <a href="{{ .ConfirmationURL }}">confirm</a></p><p>Code {{ .Token }} · hash {{ .TokenHash }} · then {{ .RedirectTo }}</p><p>{{ if .Data.x }}kept{{ end }}</p>');
  await writeFile(path.join(dir, 'change.html'), '<p>From {{.Email}} to {{ .NewEmail }}: {{ .ConfirmationURL }}</p>');
  smtp = await startSmtp();
  t = await startTestStack({
    env: {
      AUTH_BCRYPT_COST: '4', AUTH_AUTOCONFIRM: 'false', AUTH_EMAIL_MAX_FREQUENCY: '0',
      SMTP_HOST: '127.0.0.1', SMTP_PORT: String(smtp.port), SITE_URL: SITE, AUTH_REDIRECT_ALLOW_LIST: `${SITE}/**`,
      AUTH_MAILER_TEMPLATES_CONFIRMATION: path.join(dir, 'confirm.html'),
      AUTH_MAILER_SUBJECTS_CONFIRMATION: 'Hi {{ .Email }}, confirm please',
      AUTH_MAILER_TEMPLATES_EMAIL_CHANGE: path.join(dir, 'change.html'),
      AUTH_MAILER_SUBJECTS_RECOVERY: 'Reset for {{ .Email }}',
    },
  });
  t.db.config.publicUrl = t.stack.url;
});

afterAll(async () => {
  await t?.close();
  await smtp?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('email templates from files', () => {
  it('the confirmation mail is the file, every GoTrue variable filled and escaped, and its link confirms', async () => {
    const { error } = await fresh().auth.signUp({ email: 'ann@example.com', password: 'secret123', options: { data: { name: 'Ann <script>' }, emailRedirectTo: `${SITE}/welcome` } });
    expect(error).toBeNull();
    const mail = await smtp.next('ann@example.com');
    expect(mail.subject).toBe('Hi ann@example.com, confirm please');
    const text = unescape(mail.text);
    expect(mail.text).toContain('Welcome Ann &#60;script&#62;');
    expect(text).toContain(`Confirm ann@example.com for ${SITE}:`);
    expect(text).toMatch(/Code \d{6} · hash [0-9a-f]{20,} · then http:\/\/app\.test\/welcome/);
    expect(text).toContain('{{ if .Data.x }}kept{{ end }}');
    const link = /href="([^"]+)"/.exec(text)![1];
    expect(link).toContain('/auth/v1/verify?');
    const res = await fetch(link, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(new URL(res.headers.get('location')!).hash).toContain('access_token=');
  });

  it('email change uses its file with {{ .NewEmail }}; recovery keeps the built-in body under its own subject', async () => {
    const sb = fresh();
    expect((await sb.auth.signUp({ email: 'bo@example.com', password: 'secret123' })).error).toBeNull();
    await smtp.next('bo@example.com');
    await t.db.admin.query(`update auth.users set email_confirmed_at = now() where email = 'bo@example.com'`);
    expect((await sb.auth.signInWithPassword({ email: 'bo@example.com', password: 'secret123' })).error).toBeNull();
    expect((await sb.auth.updateUser({ email: 'bo2@example.com' })).error).toBeNull();
    const change = await smtp.next('bo2@example.com');
    expect(unescape(change.text)).toContain('From bo@example.com to bo2@example.com: http');
    // The current address gets its half from the same file, under the built-in subject.
    const current = await smtp.next('bo@example.com');
    expect([current.subject, unescape(current.text).includes('From bo@example.com to bo2@example.com: http')]).toEqual(['Confirm email change', true]);
    expect((await fresh().auth.resetPasswordForEmail('bo@example.com')).error).toBeNull();
    const reset = await smtp.next('bo@example.com');
    expect(reset.subject).toBe('Reset for bo@example.com');
    expect(reset.text).toContain('Follow this link to reset the password of your account');
  });

  it('a template file that cannot be read is a configuration problem named by its variable', async () => {
    await expect(loadConfig({ ...process.env, AUTH_MAILER_TEMPLATES_INVITE: path.join(dir, 'missing.html') })).rejects.toThrow(/AUTH_MAILER_TEMPLATES_INVITE: cannot read .*missing\.html \(ENOENT\)/);
  });
});
