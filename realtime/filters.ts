/**
 * postgres_changes subscription filters (docs/protocols.md §1.7): `col=op.value`, comma-separated
 * conditions ANDed, operators eq, neq, lt, lte, gt, gte, in (with `not.`), evaluated against
 * the changed row's values.
 */

export interface ChangeFilter {
  column: string;
  op: 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'in';
  negated: boolean;
  value: string | string[];
}

const OPS = new Set(['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in']);

function splitTopLevel(input: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const ch of input) {
    if (ch === '"') quoted = !quoted;
    if (!quoted && ch === '(') depth++;
    if (!quoted && ch === ')') depth--;
    if (!quoted && depth === 0 && ch === ',') {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

const unquote = (v: string) => (v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);

/** Parses a filter string; throws with a message for the client on bad input. */
export function parseChangeFilter(filter: string | undefined): ChangeFilter[] {
  if (!filter || !filter.trim()) return [];
  return splitTopLevel(filter).map((cond) => {
    const eq = cond.indexOf('=');
    if (eq <= 0) throw new Error(`Error parsing \`filter\` params: ${cond}`);
    const column = cond.slice(0, eq);
    let rest = cond.slice(eq + 1);
    const negated = rest.startsWith('not.');
    if (negated) rest = rest.slice(4);
    const dot = rest.indexOf('.');
    const op = rest.slice(0, dot) as ChangeFilter['op'];
    if (dot < 0 || !OPS.has(op)) throw new Error(`Error parsing \`filter\` params: ${cond}`);
    const raw = rest.slice(dot + 1);
    if (op === 'in') {
      if (!raw.startsWith('(') || !raw.endsWith(')')) throw new Error('`in` filter value must be wrapped by parentheses');
      return { column, op, negated, value: splitTopLevel(raw.slice(1, -1)).map(unquote) };
    }
    return { column, op, negated, value: unquote(raw) };
  });
}

function compare(a: unknown, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a !== null && a !== '' && b !== '' && !Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  const s = a instanceof Date ? a.toISOString() : String(a);
  return s < b ? -1 : s > b ? 1 : 0;
}

const text = (v: unknown) => (v instanceof Date ? v.toISOString() : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));

/** Whether `row` passes every filter; a filter on a column missing from the row fails closed. */
export function matchesFilters(filters: ChangeFilter[], row: Record<string, unknown> | undefined): boolean {
  if (!row) return filters.length === 0;
  return filters.every((f) => {
    if (!(f.column in row)) return false;
    const v = row[f.column];
    let ok: boolean;
    switch (f.op) {
      case 'eq':
        ok = v !== null && (text(v) === f.value || compare(v, f.value as string) === 0);
        break;
      case 'neq':
        ok = v !== null && text(v) !== f.value && compare(v, f.value as string) !== 0;
        break;
      case 'lt':
        ok = v !== null && compare(v, f.value as string) < 0;
        break;
      case 'lte':
        ok = v !== null && compare(v, f.value as string) <= 0;
        break;
      case 'gt':
        ok = v !== null && compare(v, f.value as string) > 0;
        break;
      case 'gte':
        ok = v !== null && compare(v, f.value as string) >= 0;
        break;
      case 'in':
        ok = v !== null && (f.value as string[]).some((x) => text(v) === x || compare(v, x) === 0);
        break;
    }
    return f.negated ? !ok : ok;
  });
}
