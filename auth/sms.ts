/**
 * SMS providers behind one interface: `send(phone, text)` answers the provider's message id or
 * throws with the provider's reason. Twilio is spoken over its REST API as GoTrue's
 * sms_provider/twilio.go does (POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic
 * auth; `failed`/`undelivered` count as failures). TWILIO_API_URL points tests at a local fake.
 */
import type { Config } from '../config/load.ts';

export interface SmsProvider {
  readonly name: string;
  /** Sends `text` to `phone` (E.164 digits, no `+`); the provider's message id. */
  send(phone: string, text: string): Promise<string>;
}

type TwilioConfig = NonNullable<Config['auth']['sms']['provider']>;

export function twilio(cfg: TwilioConfig): SmsProvider {
  const url = `${cfg.apiUrl}/2010-04-01/Accounts/${encodeURIComponent(cfg.accountSid)}/Messages.json`;
  const auth = `Basic ${Buffer.from(`${cfg.accountSid}:${cfg.authToken}`).toString('base64')}`;
  return {
    name: 'twilio',
    async send(phone, text) {
      const form = new URLSearchParams({ To: `+${phone}`, Channel: 'sms', From: cfg.from, Body: text });
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form,
        signal: AbortSignal.timeout(10_000),
      });
      const json = (await res.json().catch(() => ({}))) as { sid?: string; status?: string; message?: string; error_message?: string; code?: number; error_code?: number };
      if (res.status !== 200 && res.status !== 201) throw new Error(json.message ?? `Twilio answered ${res.status}`);
      if (json.status === 'failed' || json.status === 'undelivered') throw new Error(`twilio error: ${json.error_message ?? ''} ${json.error_code ?? ''} for message ${json.sid ?? ''}`);
      return json.sid ?? '';
    },
  };
}

/** The configured provider, or undefined while phone sign-in is off. */
export function createSmsProvider(config: Config): SmsProvider | undefined {
  const p = config.auth.sms.provider;
  return p ? twilio(p) : undefined;
}
