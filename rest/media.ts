/**
 * Response media types (§2.3): which one the Accept header picks, the SQL aggregate that builds
 * the body from the result rows (`pgrst_source`), and the Content-Type it is served with.
 */
import type { MediaType } from './ast.ts';
import { ERRORS } from './errors.ts';
import { parseAccept } from './parse/headers.ts';
import { ident, type Params } from './sql.ts';

export type BodyKind = 'array' | 'object' | 'csv';

export interface ResponseMedia {
  kind: BodyKind;
  stripNulls: boolean;
  contentType: string;
  /**
   * `Accept: application/vnd.pgrst.plan[+json|+text]; for="…"; options=analyze|…` (only with
   * db-plan-enabled): the response is Postgres's EXPLAIN of the statement that would build a body
   * of this media (`kind`, `stripNulls`: the `for` type, application/json by default).
   */
  plan?: { format: 'json' | 'text'; options: string[] };
}

/** EXPLAIN options a plan request may ask for, in the order PostgREST applies and echoes them. */
const PLAN_OPTIONS = ['analyze', 'verbose', 'settings', 'buffers', 'wal'];
const PLAN_FORMATS: Record<string, 'json' | 'text'> = {
  'application/vnd.pgrst.plan': 'text',
  'application/vnd.pgrst.plan+text': 'text',
  'application/vnd.pgrst.plan+json': 'json',
};

/** Whether an Accept entry asks for a plan (application/vnd.pgrst.plan, +json, +text). */
export const isPlanType = (type: string) => type in PLAN_FORMATS;

function choosePlan(m: MediaType, allowCsv: boolean): ResponseMedia | undefined {
  const format = PLAN_FORMATS[m.type];
  const forType = parseAccept(m.params.for ?? 'application/json')[0];
  const inner = forType && !PLAN_FORMATS[forType.type] ? choose(forType, allowCsv) : undefined;
  if (!inner) return undefined;
  const asked = (m.params.options ?? '').split('|');
  const options = PLAN_OPTIONS.filter((o) => asked.includes(o));
  const forMime = inner.contentType.replace(/; charset=utf-8$/, '');
  const contentType = `application/vnd.pgrst.plan+${format}; for="${forMime}"${options.length ? `; options=${options.join('|')}` : ''}; charset=utf-8`;
  return { ...inner, contentType, plan: { format, options } };
}

const JSON_TYPE = 'application/json; charset=utf-8';

function choose(m: MediaType, allowCsv: boolean): ResponseMedia | undefined {
  const stripped = m.params.nulls === 'stripped';
  switch (m.type) {
    case '*/*':
    case 'application/*':
    case 'application/json':
      return { kind: 'array', stripNulls: false, contentType: JSON_TYPE };
    case 'application/vnd.pgrst.array+json':
    case 'application/vnd.pgrst.array':
      return stripped
        ? { kind: 'array', stripNulls: true, contentType: 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8' }
        : { kind: 'array', stripNulls: false, contentType: JSON_TYPE };
    case 'application/vnd.pgrst.object+json':
    case 'application/vnd.pgrst.object':
      return {
        kind: 'object',
        stripNulls: stripped,
        contentType: stripped ? 'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8' : 'application/vnd.pgrst.object+json; charset=utf-8',
      };
    case 'text/csv':
      return allowCsv ? { kind: 'csv', stripNulls: false, contentType: 'text/csv; charset=utf-8' } : undefined;
    default:
      return undefined;
  }
}

/**
 * The first acceptable media type, highest q first; 406 PGRST107 when none is. The plan media
 * types count only with `planEnabled` (PostgREST's db-plan-enabled; otherwise they are as unknown).
 */
export function negotiate(accept: MediaType[], rawAccept: string | undefined, allowCsv = true, planEnabled = false): ResponseMedia {
  for (const m of accept) {
    const chosen = PLAN_FORMATS[m.type] ? (planEnabled ? choosePlan(m, allowCsv) : undefined) : choose(m, allowCsv);
    if (chosen) return chosen;
  }
  throw ERRORS.mediaType(rawAccept ?? '');
}

/**
 * SQL of the body over the rows of `source` (a relation alias): a JSON array or the single
 * object, or CSV with the given header (PostgreSQL record text format per line, §2.3).
 */
export function bodyAggregate(media: ResponseMedia, source: string, csvHeader: string[], params: Params): string {
  const s = ident(source);
  if (media.kind === 'csv') {
    const header = csvHeader.map((h) => (/[",\s\\()]/.test(h) || h === '' ? `"${h.replace(/"/g, '""')}"` : h)).join(',');
    return `${params.add(header + '\n')}::text || coalesce(string_agg(substr(${s}::text, 2, length(${s}::text) - 2), E'\\n'), '')`;
  }
  const agg = media.stripNulls ? `json_agg(json_strip_nulls(row_to_json(${s})))` : `json_agg(${s})`;
  if (media.kind === 'object') return `coalesce((${agg}->0)::text, 'null')`;
  return `coalesce(${agg}, '[]')::text`;
}
