/**
 * Request headers that shape a PostgREST request: `Prefer` (§2.1), `Accept` (§2.3) and
 * `Range` (§2.2) of docs/postgrest.md. No regex here can backtrack
 * super-linearly.
 */
import type { MediaType, Preferences, RangeHeader } from '../ast.ts';
import { ERRORS } from '../errors.ts';

const ASCII_WS = new Set([' ', '\t', '\n', '\r', '\v', '\f']);

function strip(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && ASCII_WS.has(s[a])) a++;
  while (b > a && ASCII_WS.has(s[b - 1])) b--;
  return s.slice(a, b);
}

type SimplePreference = 'return' | 'count' | 'resolution' | 'missing' | 'handling' | 'tx';

/** Every exact `key=value` preference that is understood, mapped to its Preferences field. */
const ACCEPTED: ReadonlyMap<string, [SimplePreference, string]> = new Map(
  (
    [
      ['return', ['minimal', 'headers-only', 'representation']],
      ['count', ['exact', 'planned', 'estimated']],
      ['resolution', ['merge-duplicates', 'ignore-duplicates']],
      ['missing', ['default', 'null']],
      ['handling', ['strict', 'lenient']],
      ['tx', ['commit', 'rollback']],
    ] as const
  ).flatMap(([key, values]) => values.map((v): [string, [SimplePreference, string]] => [`${key}=${v}`, [key, v]])),
);

/** `-?digits` with optional surrounding whitespace, as a safe integer; undefined otherwise. */
export function parseInteger(text: string): number | undefined {
  const s = strip(text);
  const digits = s.startsWith('-') ? s.slice(1) : s;
  if (digits === '') return undefined;
  for (const ch of digits) if (ch < '0' || ch > '9') return undefined;
  const n = Number(digits);
  const clamped = Number.isSafeInteger(n) ? n : Number.MAX_SAFE_INTEGER;
  return s.startsWith('-') && clamped !== 0 ? -clamped : clamped;
}

/**
 * Parses the `Prefer` header(s) (§2.1): values split on commas and trimmed; the first occurrence
 * of each preference wins. `timezone=X` is kept as given (the caller checks it against
 * pg_timezone_names and treats an unknown zone as invalid); `max-affected=N` (first one only) is
 * never invalid but is only set when N is an integer; `tx=…` is parsed whether or not overrides
 * are allowed. Anything else (including v12's `params=single-object`) goes to `invalid`, in order.
 * Empty items (`a,,b`) are skipped.
 */
export function parsePrefer(values: string[] | string | undefined): Preferences {
  const prefs: Preferences = { invalid: [] };
  const headers = values === undefined ? [] : Array.isArray(values) ? values : [values];
  let sawTimezone = false;
  let sawMaxAffected = false;
  for (const header of headers) {
    for (const raw of header.split(',')) {
      const pref = strip(raw);
      if (pref === '') continue;
      const known = ACCEPTED.get(pref);
      if (known) {
        const [key, value] = known;
        // Each key's values are exactly the union members of its Preferences field.
        (prefs as unknown as Record<string, string>)[key] ??= value;
      } else if (pref.startsWith('timezone=')) {
        if (!sawTimezone) prefs.timezone = pref.slice('timezone='.length);
        sawTimezone = true;
      } else if (pref.startsWith('max-affected=')) {
        if (!sawMaxAffected) {
          const n = parseInteger(pref.slice('max-affected='.length));
          if (n !== undefined) prefs.maxAffected = n;
        }
        sawMaxAffected = true;
      } else {
        prefs.invalid.push(pref);
      }
    }
  }
  return prefs;
}

/** Haskell's `reads :: Double` on a q-value: a leading decimal number, else 1. */
function qValue(text: string): number {
  let p = 0;
  if (text[p] === '-') p++;
  const intStart = p;
  while (text[p] >= '0' && text[p] <= '9') p++;
  if (p === intStart) return 1;
  if (text[p] === '.' && text[p + 1] >= '0' && text[p + 1] <= '9') {
    p++;
    while (text[p] >= '0' && text[p] <= '9') p++;
  }
  if (text[p] === 'e' || text[p] === 'E') {
    let e = p + 1;
    if (text[e] === '+' || text[e] === '-') e++;
    const expStart = e;
    while (text[e] >= '0' && text[e] <= '9') e++;
    if (e > expStart) p = e;
  }
  return Number(text.slice(0, p));
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}

function count(s: string, ch: string): number {
  let n = 0;
  for (const c of s) if (c === ch) n++;
  return n;
}

/**
 * Parses `Accept` (§2.3) as PostgREST (wai's parseHttpAccept) does: entries split on commas with
 * spaces removed, sorted by q-value (highest first), then by specificity (params count up, `*`
 * counts down), otherwise in the order given. Types are lower-cased; params are kept with
 * lower-cased names and unquoted values (`for="application/json"` → `application/json`); `q` is
 * not a param. Missing or blank → `*\/*`.
 */
export function parseAccept(header: string | undefined): MediaType[] {
  const entries: { media: MediaType; specificity: number }[] = [];
  for (const raw of (header ?? '').split(',')) {
    const entry = raw.replaceAll(' ', '').replaceAll('\t', '');
    if (entry === '') continue;
    const parts = entry.split(';');
    const params: Record<string, string> = {};
    let q: number | undefined;
    let beforeQ = entry;
    for (let i = 1; i < parts.length; i++) {
      const part = parts[i];
      if (part === '') continue;
      const eq = part.indexOf('=');
      const name = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
      const value = eq < 0 ? '' : part.slice(eq + 1);
      if (name === 'q') {
        if (q === undefined) {
          q = qValue(value);
          beforeQ = parts.slice(0, i).join(';');
        }
      } else if (!Object.hasOwn(params, name)) {
        params[name] = unquote(value);
      }
    }
    const specificity = count(beforeQ, ';') - count(beforeQ, '*');
    entries.push({ media: { type: parts[0].toLowerCase(), params, q: q ?? 1 }, specificity });
  }
  if (entries.length === 0) return [{ type: '*/*', params: {}, q: 1 }];
  // Array.prototype.sort is stable, so equal entries keep the client's order.
  entries.sort((a, b) => b.media.q - a.media.q || b.specificity - a.specificity);
  return entries.map((e) => e.media);
}

/**
 * Parses `Range: first-[last]` (§2.2; no unit prefix). Anything not matching
 * `^([0-9]+)-([0-9]*)$` is ignored (undefined). `last < first` → 416 PGRST103. Numbers beyond
 * 2^53 are clamped.
 */
export function parseRange(header: string | undefined): RangeHeader | undefined {
  if (header === undefined) return undefined;
  const m = /^([0-9]+)-([0-9]*)$/.exec(strip(header));
  if (!m) return undefined;
  if (m[2] !== '' && BigInt(m[2]) < BigInt(m[1])) {
    throw ERRORS.rangeNotSatisfiable('The lower boundary must be lower than or equal to the upper boundary in the Range header.');
  }
  const first = parseInteger(m[1])!;
  return m[2] === '' ? { first } : { first, last: parseInteger(m[2])! };
}
