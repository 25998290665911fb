/**
 * Where alerts go and how each channel wants them (docs/operations.md has the wire formats):
 * Telegram (Bot API sendMessage to TELEGRAM_CHANNEL_ID), a generic webhook (JSON, HMAC-signed),
 * Slack- and Discord-compatible incoming webhooks. `deliver` throws on any failure (network,
 * non-2xx), so the graphile-worker job that called it is retried with back-off.
 */
import { createHmac } from 'node:crypto';
import type { Config } from '../../config/load.ts';
import type { Severity } from '../store.ts';

export type ChannelName = 'telegram' | 'webhook' | 'slack' | 'discord';

/** One message about one alert: its start, its resolution, or a one-off event. */
export interface AlertMessage {
  status: 'firing' | 'resolved' | 'event';
  rule: string;
  key: string;
  severity: Severity;
  summary: string;
  started_at: string;
  resolved_at?: string;
  details?: Record<string, unknown>;
}

const DELIVERY_TIMEOUT_MS = 10_000;

/** The channels the configuration enables. */
export function configuredChannels(config: Config): ChannelName[] {
  const a = config.ops.alerts;
  const channels: ChannelName[] = [];
  if (config.telegram.botToken && config.telegram.channelId) channels.push('telegram');
  if (a.webhook) channels.push('webhook');
  if (a.slackUrl) channels.push('slack');
  if (a.discordUrl) channels.push('discord');
  return channels;
}

const ICON = { firing: { critical: '🔴', warning: '🟠', info: '🔵' }, resolved: '✅', event: { critical: '🔴', warning: '🟠', info: 'ℹ️' } } as const;

/** The one-line-plus-details text of chat channels. */
export function alertText(m: AlertMessage, instance: string): string {
  const icon = m.status === 'resolved' ? ICON.resolved : ICON[m.status][m.severity];
  const head = m.status === 'firing' ? 'FIRING' : m.status === 'resolved' ? 'RESOLVED' : 'EVENT';
  const lines = [`${icon} ${head} [${m.severity}] ${m.summary}`, `rule: ${m.rule}${m.key ? ` (${m.key})` : ''}`, `since: ${m.started_at}`];
  if (m.resolved_at && m.status === 'resolved') lines.push(`resolved: ${m.resolved_at}`);
  lines.push(`instance: ${instance}`);
  return lines.join('\n');
}

/** The webhook signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. */
export function webhookSignature(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

async function post(url: string, payload: string, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: payload,
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
    redirect: 'error',
  });
  const text = await res.text().catch(() => '');
  // Never the URL in the error: a Telegram URL holds the bot token, webhook URLs their secret.
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${text.slice(0, 200)}`);
}

export async function deliver(config: Config, channel: ChannelName, m: AlertMessage): Promise<void> {
  const instance = config.publicUrl;
  const a = config.ops.alerts;
  switch (channel) {
    case 'telegram': {
      const { botToken, channelId, apiUrl } = config.telegram;
      if (!botToken || !channelId) throw new Error('telegram: TELEGRAM_BOT_TOKEN and TELEGRAM_CHANNEL_ID are not set');
      return post(`${apiUrl}/bot${botToken}/sendMessage`, JSON.stringify({ chat_id: channelId, text: alertText(m, instance), disable_web_page_preview: true }));
    }
    case 'webhook': {
      if (!a.webhook) throw new Error('webhook: ALERT_WEBHOOK_URL is not set');
      const body = JSON.stringify({ ...m, instance });
      const headers: Record<string, string> = { 'user-agent': 'NextMavens-Alerts' };
      if (a.webhook.secret) headers['x-nextmavens-signature'] = webhookSignature(a.webhook.secret, body);
      return post(a.webhook.url, body, headers);
    }
    case 'slack':
      if (!a.slackUrl) throw new Error('slack: ALERT_SLACK_WEBHOOK_URL is not set');
      return post(a.slackUrl, JSON.stringify({ text: alertText(m, instance) }));
    case 'discord':
      if (!a.discordUrl) throw new Error('discord: ALERT_DISCORD_WEBHOOK_URL is not set');
      return post(a.discordUrl, JSON.stringify({ content: alertText(m, instance).slice(0, 2000) }));
  }
}
