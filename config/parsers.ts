/**
 * How each environment variable's text becomes a value: every entry of config/schema.ts names its
 * parser (with its range), and the type of the parsed configuration follows from those parsers
 * (config/schema.ts EnvValues). A parser reports a problem (naming the variable) instead of
 * throwing, so every problem of a configuration is reported at once.
 */

import { isIP } from 'node:net';

export interface Parser<T> {
  parse(raw: string, name: string, problems: string[]): T;
}

/** The text as written (trimmed). */
export const text: Parser<string> = { parse: (raw) => raw };

/** A whole number in [min, max]. */
export function int(min: number, max: number): Parser<number> {
  return {
    parse(raw, name, problems) {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n < min || n > max) {
        problems.push(`${name} must be an integer between ${min} and ${max} (got "${raw}")`);
        return min;
      }
      return n;
    },
  };
}

export const port = int(1, 65535);

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];

export const bool: Parser<boolean> = {
  parse(raw, name, problems) {
    const value = raw.toLowerCase();
    if (TRUE.includes(value)) return true;
    if (FALSE.includes(value)) return false;
    problems.push(`${name} must be true or false (got "${raw}")`);
    return false;
  },
};

/** Comma-separated items, trimmed, empty ones dropped. */
export const list: Parser<string[]> = { parse: (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean) };

/** Comma-separated host names, IP addresses and CIDRs (WEBHOOK_ALLOWED_HOSTS). */
export const hostList: Parser<string[]> = {
  parse(raw, name, problems) {
    const entries = list.parse(raw, name, problems);
    for (const entry of entries) {
      const [addr, bits, extra] = entry.split('/');
      const family = isIP(addr);
      if (!family && (bits !== undefined || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(addr))) {
        problems.push(`${name}: "${entry}" is neither a host name nor an IP address/CIDR`);
      } else if (family && (extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))))) {
        problems.push(`${name}: "${entry}" is not a CIDR`);
      }
    }
    return entries;
  },
};

/** Comma-separated IP addresses and CIDRs (ADMIN_IP_ALLOWLIST). */
export const cidrList: Parser<string[]> = {
  parse(raw, name, problems) {
    const entries = list.parse(raw, name, problems);
    for (const entry of entries) {
      const [addr, bits, extra] = entry.split('/');
      const family = isIP(addr);
      const max = family === 4 ? 32 : 128;
      if (!family || extra !== undefined || (bits !== undefined && (!/^\d+$/.test(bits) || Number(bits) > max))) {
        problems.push(`${name}: "${entry}" is not an IP address or CIDR`);
      }
    }
    return entries;
  },
};

/** One of the given words. */
export function oneOf<const T extends string>(...values: T[]): Parser<T> {
  return {
    parse(raw, name, problems) {
      if ((values as string[]).includes(raw)) return raw as T;
      problems.push(`${name} must be one of ${values.join(', ')} (got "${raw}")`);
      return values[0];
    },
  };
}

/** Text matching `pattern`; `rule` says what is allowed. */
export function matching(pattern: RegExp, rule: string): Parser<string> {
  return {
    parse(raw, name, problems) {
      if (!pattern.test(raw)) problems.push(`${name} ${rule}`);
      return raw;
    },
  };
}

/** An absolute http(s) URL, without a trailing slash. */
export const httpUrl: Parser<string> = {
  parse(raw, name, problems) {
    const value = raw.replace(/\/+$/, '');
    if (!/^https?:\/\//i.test(value) || !URL.canParse(value)) problems.push(`${name} must be an absolute http(s) URL`);
    return value;
  },
};

/** Any absolute URL (PUBLIC_URL, SITE_URL), without a trailing slash. */
export const absoluteUrl: Parser<string> = {
  parse(raw, name, problems) {
    const value = raw.replace(/\/+$/, '');
    if (!URL.canParse(value)) problems.push(`${name} must be an absolute URL`);
    return value;
  },
};

/** A postgres:// or postgresql:// connection URL. */
export const postgresUrl: Parser<string> = {
  parse(raw, name, problems) {
    const url = URL.canParse(raw) ? new URL(raw) : undefined;
    if (url?.protocol !== 'postgres:' && url?.protocol !== 'postgresql:') problems.push(`${name} must be a postgres:// or postgresql:// URL`);
    return raw;
  },
};

/** A comma-separated list of postgres:// URLs (DATABASE_READ_URL). */
export const postgresUrlList: Parser<string[]> = {
  parse(raw, name, problems) {
    const urls = list.parse(raw, name, problems);
    for (const url of urls) postgresUrl.parse(url, name, problems);
    return urls;
  },
};

export const MIN_JWT_SECRET_LENGTH = 32;

/** An HS256 secret: at least 32 characters. */
export const secret: Parser<string> = {
  parse(raw, name, problems) {
    if (raw.length < MIN_JWT_SECRET_LENGTH) problems.push(`${name} must be at least ${MIN_JWT_SECRET_LENGTH} characters long (HS256)`);
    return raw;
  },
};

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Comma-separated schema names, at least one. */
export const schemaList: Parser<string[]> = {
  parse(raw, name, problems) {
    const names = list.parse(raw, name, problems);
    for (const s of names) if (!IDENTIFIER.test(s)) problems.push(`${name}: "${s}" is not a valid schema name`);
    if (names.length === 0) problems.push(`${name} must name at least one schema`);
    return names;
  },
};

/** A JSON value checked by `check` (which throws a message for a bad one). */
export function json<T>(check: (value: unknown) => T, what: string): Parser<T | undefined> {
  return {
    parse(raw, name, problems) {
      try {
        return check(JSON.parse(raw));
      } catch (err) {
        problems.push(err instanceof SyntaxError ? `${name} must be ${what}` : `${name}: ${(err as Error).message}`);
        return undefined;
      }
    },
  };
}

/** Parsed by a function that throws an Error whose message is the whole problem. */
export function checked<T>(fn: (raw: string) => T): Parser<T | undefined> {
  return {
    parse(raw, _name, problems) {
      try {
        return fn(raw);
      } catch (err) {
        problems.push((err as Error).message);
        return undefined;
      }
    },
  };
}

/**
 * GoTrue's sms.test_otp: comma-separated `phone:code` pairs (`+1 555 0100:123456`); phone
 * numbers are kept as GoTrue stores them (E.164 digits, without `+` or spaces).
 */
export const phoneCodes: Parser<Record<string, string>> = {
  parse(raw, name, problems) {
    const codes: Record<string, string> = {};
    for (const pair of list.parse(raw, name, problems)) {
      const at = pair.lastIndexOf(':');
      const phone = pair.slice(0, at).trim().replace(/^\+/, '').replaceAll(' ', '');
      const code = pair.slice(at + 1).trim();
      if (at < 0 || !/^[1-9][0-9]{1,14}$/.test(phone) || !/^\d{4,10}$/.test(code)) {
        problems.push(`${name} must be comma-separated phone:code pairs with E.164 numbers and 4-10 digit codes (got "${pair}")`);
        continue;
      }
      codes[phone] = code;
    }
    return codes;
  },
};
