/**
 * The auth emails: subject, plain text and HTML for each action, with the link and the 6-digit
 * code (so both signInWithOtp styles work from one mail) — or, where AUTH_MAILER_TEMPLATES_* /
 * AUTH_MAILER_SUBJECTS_* name them, the operator's own template and subject with GoTrue's
 * variables (internal/mailer/templatemailer/templatemailer.go): {{ .ConfirmationURL }},
 * {{ .Token }}, {{ .TokenHash }}, {{ .SiteURL }}, {{ .Email }}, {{ .NewEmail }},
 * {{ .RedirectTo }}, {{ .Data.<key> }} (the user's metadata). Values are HTML-escaped in the
 * body, as Go's html/template does; other template actions are left as written.
 */
import type { Config } from '../config/load.ts';
import type { EmailAction } from './otp.ts';

export interface MailContent {
  subject: string;
  text: string;
  html: string;
}

export interface TemplateData {
  actionLink: string;
  code: string;
  email: string;
  /** Email change: the address being confirmed. */
  newEmail?: string;
  siteUrl: string;
  /** The token hash of the link (GoTrue's {{ .TokenHash }}). */
  tokenHash?: string;
  redirectTo?: string;
  /** The user's metadata (GoTrue's {{ .Data }}). */
  data?: Record<string, unknown>;
}

type Templates = Config['auth']['mailTemplates'];
const TEMPLATE_OF: Record<EmailAction, keyof Templates> = {
  signup: 'confirmation', invite: 'invite', magiclink: 'magicLink', recovery: 'recovery',
  email_change_current: 'emailChange', email_change_new: 'emailChange', reauthentication: 'reauthentication',
};

/** `{{ .Name }}` / `{{ .Data.key }}` replaced by their values (`escape` for HTML); anything else stays. */
function fill(template: string, d: TemplateData, escape: (s: string) => string): string {
  const vars: Record<string, string | undefined> = {
    ConfirmationURL: d.actionLink, Token: d.code, TokenHash: d.tokenHash, SiteURL: d.siteUrl,
    Email: d.email, NewEmail: d.newEmail, RedirectTo: d.redirectTo,
  };
  return template.replace(/\{\{-?\s*\.([A-Za-z]+)(?:\.([A-Za-z0-9_]+))?\s*-?\}\}/g, (whole, name: string, key?: string) => {
    if (name === 'Data') {
      const v = key === undefined ? d.data : d.data?.[key];
      return escape(v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v));
    }
    return key === undefined && name in vars ? escape(vars[name] ?? '') : whole;
  });
}

/** The text part of an operator's HTML mail: its tags dropped, entities of the escaping undone. */
const textOf = (html: string) => html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, '').replace(/<br\s*\/?>|<\/p>/gi, '\n').replace(/<[^>]+>/g, '')
  .replace(/&#(\d+);/g, (_m, n: string) => String.fromCharCode(Number(n))).replace(/\n{3,}/g, '\n\n').trim() + '\n';

const COPY: Record<EmailAction, (d: TemplateData) => { subject: string; intro: string; button: string }> = {
  signup: () => ({ subject: 'Confirm your signup', intro: 'Follow this link to confirm your email address:', button: 'Confirm your email' }),
  invite: (d) => ({ subject: 'You have been invited', intro: `You have been invited to create an account on ${d.siteUrl}. Follow this link to accept the invite:`, button: 'Accept the invite' }),
  magiclink: () => ({ subject: 'Your magic link', intro: 'Follow this link to sign in:', button: 'Sign in' }),
  recovery: () => ({ subject: 'Reset your password', intro: 'Follow this link to reset the password of your account:', button: 'Reset password' }),
  email_change_current: (d) => ({ subject: 'Confirm email change', intro: `Follow this link to confirm the change of your email from ${d.email} to ${d.newEmail}:`, button: 'Confirm the change' }),
  email_change_new: (d) => ({ subject: 'Confirm your new email', intro: `Follow this link to confirm ${d.newEmail ?? d.email} as the new email of your account:`, button: 'Confirm your new email' }),
  reauthentication: () => ({ subject: 'Confirm reauthentication', intro: 'Enter this code to confirm it is you:', button: '' }),
};

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The reauthentication nonce (GoTrue's template: "Enter the code: {{ .Token }}"), no link. */
function renderCodeOnly(subject: string, intro: string, code: string): MailContent {
  const text = `${intro}\n\n${code}\n\nIf you did not ask for this, ignore this email.\n`;
  const html = `<!doctype html><html><body>
<h2>${escapeHtml(subject)}</h2>
<p>${escapeHtml(intro)} <strong>${escapeHtml(code)}</strong></p>
<p style="color:#888">If you did not ask for this, ignore this email.</p>
</body></html>`;
  return { subject, text, html };
}

export function renderEmail(action: EmailAction, d: TemplateData, templates: Templates = {}): MailContent {
  const custom = templates[TEMPLATE_OF[action]];
  const builtIn = renderBuiltIn(action, d);
  if (!custom) return builtIn;
  const subject = custom.subject ? fill(custom.subject, d, (v) => v) : builtIn.subject;
  if (custom.html === undefined) return { ...builtIn, subject };
  const html = fill(custom.html, d, escapeHtml);
  return { subject, html, text: textOf(html) };
}

function renderBuiltIn(action: EmailAction, d: TemplateData): MailContent {
  const { subject, intro, button } = COPY[action](d);
  if (action === 'reauthentication') return renderCodeOnly(subject, intro, d.code);
  const text = `${intro}\n\n${d.actionLink}\n\nOr enter this code: ${d.code}\n\nIf you did not ask for this, ignore this email.\n`;
  const html = `<!doctype html><html><body>
<h2>${escapeHtml(subject)}</h2>
<p>${escapeHtml(intro)}</p>
<p><a href="${escapeHtml(d.actionLink)}">${escapeHtml(button)}</a></p>
<p>Or enter this code: <strong>${escapeHtml(d.code)}</strong></p>
<p style="color:#888">If you did not ask for this, ignore this email.</p>
</body></html>`;
  return { subject, text, html };
}

/** The mail inviting an address into a tenant (auth/tenant-invitations.ts): the link carries the invitation token. */
export function renderTenantInvitation(d: { tenantName: string; link: string; role: string }): MailContent {
  const subject = `You have been invited to join ${d.tenantName}`;
  const intro = `You have been invited to join ${d.tenantName} as ${d.role}. Follow this link to accept the invitation (sign up first if you have no account yet):`;
  const text = `${intro}\n\n${d.link}\n\nIf you did not expect this, ignore this email.\n`;
  const html = `<!doctype html><html><body>
<h2>${escapeHtml(subject)}</h2>
<p>${escapeHtml(intro)}</p>
<p><a href="${escapeHtml(d.link)}">Accept the invitation</a></p>
<p style="color:#888">If you did not expect this, ignore this email.</p>
</body></html>`;
  return { subject, text, html };
}
