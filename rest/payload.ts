/**
 * Request bodies of inserts, updates and RPC calls (§2.4): JSON (default), CSV and
 * form-urlencoded, validated like PostgREST (PGRST102). The JSON text handed to Postgres is the
 * client's own text whenever possible, so large numbers keep their precision.
 */
import { ERRORS } from './errors.ts';

export interface Payload {
  /** A JSON array of objects, as text. */
  json: string;
  /** Parsed rows (for key checks and PUT's primary-key comparison). */
  rows: Record<string, unknown>[];
  /** The column list the payload implies: the `columns` param, else the first row's keys. */
  keys: string[];
}

interface RequestLike {
  headers: Record<string, string | string[] | undefined>;
  body?: Buffer;
}

function mediaTypeOf(req: RequestLike): string {
  const raw = req.headers['content-type'];
  const value = (Array.isArray(raw) ? raw[0] : raw) ?? 'application/json';
  return value.split(';')[0].trim().toLowerCase();
}

/** A minimal RFC 4180 reader: quoted fields with doubled quotes, `\n` or `\r\n` line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function fromCsv(text: string): Record<string, unknown>[] {
  const [header, ...lines] = parseCsv(text);
  if (!header) return [];
  return lines.map((cells) => {
    if (cells.length !== header.length) throw ERRORS.invalidBody('All lines must have same number of fields');
    return Object.fromEntries(header.map((h, i) => [h, cells[i] === 'NULL' ? null : cells[i]]));
  });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parses the body. `single`: PATCH/PUT take one object (the first of an array).
 * `columns`: only these keys count, and objects may then have different key sets.
 */
export function parsePayload(req: RequestLike, columns: string[] | undefined, opts: { single?: boolean } = {}): Payload {
  const media = mediaTypeOf(req);
  const text = req.body?.toString('utf8') ?? '';
  let rows: Record<string, unknown>[];
  let json: string | undefined;
  if (media === 'application/json' || media.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw ERRORS.invalidBody();
    }
    if (Array.isArray(parsed)) {
      if (!parsed.every(isObject)) throw ERRORS.invalidBody('All object keys must match');
      rows = parsed;
      json = text;
    } else if (isObject(parsed)) {
      rows = [parsed];
      json = `[${text}]`;
    } else {
      rows = [];
      json = '[]';
    }
  } else if (media === 'text/csv') {
    rows = fromCsv(text);
  } else if (media === 'application/x-www-form-urlencoded') {
    rows = [Object.fromEntries(new URLSearchParams(text))];
  } else {
    throw ERRORS.invalidBody(`Content-Type not acceptable: ${media}`);
  }
  if (opts.single && rows.length > 1) {
    rows = rows.slice(0, 1);
    json = undefined;
  }
  const keys = columns ?? Object.keys(rows[0] ?? {});
  if (!columns && rows.length > 1) {
    const expected = [...keys].sort().join('\u0000');
    for (const r of rows) if (Object.keys(r).sort().join('\u0000') !== expected) throw ERRORS.invalidBody('All object keys must match');
  }
  return { json: json ?? JSON.stringify(rows), rows, keys };
}
