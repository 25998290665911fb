/**
 * SMS providers behind one interface: `send(phone, text)` answers the provider's message id or
 * throws with the provider's reason. Twilio is spoken over its REST API as GoTrue's
 * sms_provider/twilio.go does (POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic
 * auth; `failed`/`undelivered` count as failures); MessageBird (Bird) as messagebird.go does
 * (POST /messages, form-encoded, `AccessKey` auth, unicode data coding; a 400/401/403/422's first
 * error description, or no recipient sent to, is a failure); Vonage as vonage.go does (POST
 * /sms/json, form-encoded with api_key/api_secret, `type=unicode` for non-ASCII text; a first
 * message status other than "0" is a failure). *_API_URL points tests at local fakes.
 */
import type { Config } from '../config/load.ts';

export interface SmsProvider {
  readonly name: string;
  /** Sends `text` to `phone` (E.164 digits, no `+`); the provider's message id. */
  send(phone: string, text: string): Promise<string>;
}

type ProviderConfig = NonNullable<Config['auth']['sms']['provider']>;
type TwilioConfig = Extract<ProviderConfig, { kind: 'twilio' }>;
type MessagebirdConfig = Extract<ProviderConfig, { kind: 'messagebird' }>;
type VonageConfig = Extract<ProviderConfig, { kind: 'vonage' }>;

/** A form POST to a provider (GoTrue's 10 s client timeout); its status and JSON body ({} when none). */
async function postForm(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: new URLSearchParams(form),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, json: ((await res.json().catch(() => ({}))) ?? {}) as Record<string, unknown> };
}

export function twilio(cfg: TwilioConfig): SmsProvider {
  const url = `${cfg.apiUrl}/2010-04-01/Accounts/${encodeURIComponent(cfg.accountSid)}/Messages.json`;
  const auth = `Basic ${Buffer.from(`${cfg.accountSid}:${cfg.authToken}`).toString('base64')}`;
  return {
    name: 'twilio',
    async send(phone, text) {
      const { status, json } = await postForm(url, { To: `+${phone}`, Channel: 'sms', From: cfg.from, Body: text }, { authorization: auth });
      const j = json as { sid?: string; status?: string; message?: string; error_message?: string; error_code?: number };
      if (status !== 200 && status !== 201) throw new Error(j.message ?? `Twilio answered ${status}`);
      if (j.status === 'failed' || j.status === 'undelivered') throw new Error(`twilio error: ${j.error_message ?? ''} ${j.error_code ?? ''} for message ${j.sid ?? ''}`);
      return j.sid ?? '';
    },
  };
}

export function messagebird(cfg: MessagebirdConfig): SmsProvider {
  const url = `${cfg.apiUrl.replace(/\/+$/, '')}/messages`;
  return {
    name: 'messagebird',
    async send(phone, text) {
      const { status, json } = await postForm(url, { originator: cfg.originator, body: text, recipients: phone, type: 'sms', datacoding: 'unicode' }, { authorization: `AccessKey ${cfg.accessKey}` });
      if ([400, 401, 403, 422].includes(status)) {
        const errors = (json as { errors?: { description?: string }[] }).errors;
        throw new Error(errors?.[0]?.description ?? `MessageBird answered ${status}`);
      }
      const j = json as { id?: string; recipients?: { totalSentCount?: number } };
      if (!j.recipients?.totalSentCount) throw new Error('messagebird error: total sent count is 0');
      return j.id ?? '';
    },
  };
}

export function vonage(cfg: VonageConfig): SmsProvider {
  const url = `${cfg.apiUrl.replace(/\/+$/, '')}/sms/json`;
  return {
    name: 'vonage',
    async send(phone, text) {
      const form: Record<string, string> = { from: cfg.from, to: phone, text, api_key: cfg.apiKey, api_secret: cfg.apiSecret };
      if (/[^\x00-\x7f]/.test(text)) form.type = 'unicode';
      const { json } = await postForm(url, form);
      const m = (json as { messages?: { 'message-id'?: string; status?: string; 'error-text'?: string }[] }).messages?.[0];
      if (!m) throw new Error('vonage error: Internal Error');
      if (m.status !== '0') throw new Error(`vonage error: ${m['error-text'] ?? ''} (status: ${m.status}) for message ${m['message-id'] ?? ''}`);
      return m['message-id'] ?? '';
    },
  };
}

/** The configured provider, or undefined while phone sign-in is off. */
export function createSmsProvider(config: Config): SmsProvider | undefined {
  const p = config.auth.sms.provider;
  if (!p) return undefined;
  if (p.kind === 'messagebird') return messagebird(p);
  if (p.kind === 'vonage') return vonage(p);
  return twilio(p);
}
