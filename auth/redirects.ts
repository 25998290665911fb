/**
 * Where email links and OAuth sign-ins may send the browser. A `redirect_to` is honoured when it
 * has the origin of SITE_URL or matches a pattern of AUTH_REDIRECT_ALLOW_LIST; anything else
 * falls back to SITE_URL (as GoTrue does), so a link can never bounce tokens to a stranger.
 *
 * Patterns are globs over the whole URL: `*` matches within one host label or path segment
 * (not across `.` or `/`), `**` matches anything, `?` one such character.
 */
import type { Config } from '../config/load.ts';

const cache = new Map<string, RegExp>();

function globToRegExp(pattern: string): RegExp {
  let re = cache.get(pattern);
  if (re) return re;
  let src = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*' && pattern[i + 1] === '*') {
      src += '.*';
      i++;
    } else if (ch === '*') src += '[^./]*';
    else if (ch === '?') src += '[^./]';
    else src += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`);
  cache.set(pattern, re);
  return re;
}

/**
 * Is the URL exactly what it looks like? Globs are matched against the raw text, so the text must
 * name the host the browser will go to: no whitespace, control characters or backslashes (which
 * WHATWG parsers drop or read as `/`), no percent-encoding or other rewriting in the authority
 * (`https://evil%2ecom\@x.site.com` or `https://2130706433\@x.site.com` go elsewhere).
 */
function isLiteral(url: string, parsed: URL): boolean {
  if (/[\s\\\u0000-\u001f\u007f]/.test(url)) return false;
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(url)?.[1];
  if (authority === undefined) return parsed.host === '';
  const host = authority.toLowerCase().replace(/:\d*$/, '');
  return host === parsed.hostname.toLowerCase();
}

export function isAllowedRedirect(config: Config, url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (!isLiteral(url, parsed)) return false;
  const site = new URL(config.auth.siteUrl);
  if ((parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.origin === site.origin) return true;
  return config.auth.redirectAllowList.some((p) => globToRegExp(p).test(url));
}

/** `redirect_to` when allowed, else SITE_URL. */
export function safeRedirect(config: Config, redirectTo: string | undefined): string {
  return redirectTo && isAllowedRedirect(config, redirectTo) ? redirectTo : config.auth.siteUrl;
}

/** `url` with `params` as its fragment (implicit flow: tokens never reach a server log). */
export function withFragment(url: string, params: Record<string, string>): string {
  const base = url.split('#')[0];
  return `${base}#${new URLSearchParams(params).toString()}`;
}

/** `url` with a session in its fragment, as GoTrue's AccessTokenResponse.AsRedirectURL (implicit flow), `extra` after it. */
export function withSessionFragment(url: string, s: { access_token: string; expires_at: number; expires_in: number; refresh_token: string }, extra: Record<string, string> = {}): string {
  return withFragment(url, {
    access_token: s.access_token,
    expires_at: String(s.expires_at),
    expires_in: String(s.expires_in),
    refresh_token: s.refresh_token,
    token_type: 'bearer',
    ...extra,
  });
}

/** `url` with `params` added to its query (PKCE: `?code=`), the fragment kept. */
export function withQuery(url: string, params: Record<string, string>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.toString();
}

/** GoTrue's error redirect: the error in the fragment, and for PKCE in the query as well. */
export function errorRedirect(url: string, error: { error: string; code: string; description: string }, pkce: boolean): string {
  const params = { error: error.error, error_code: error.code, error_description: error.description };
  const target = pkce ? withQuery(url, params) : url;
  return withFragment(target, { ...params, sb: '' });
}
