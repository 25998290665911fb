/**
 * The body checks of the two listings (listObjects.ts, listObjectsV2.ts): a field of the wrong
 * type or out of range is a 400 before anything runs; and list-v2's opaque cursor.
 */
import { V2_LIST_COLUMNS, type ListOrder } from '../../../db.ts';
import { STORAGE_ERRORS } from '../../../errors.ts';
import { checkNameField } from '../../../names.ts';

type Body = Record<string, unknown>;
const ORDERS = ['asc', 'desc'] as const;
export const bad = (message: string) => STORAGE_ERRORS.invalidRequest(message);
export const absent = (v: unknown) => v === undefined || v === null;

export function optionalString(b: Body, field: string): string | undefined {
  return absent(b[field]) ? undefined : checkNameField(b[field], field);
}

export function optionalInt(b: Body, field: string, min: number): number | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${field} must be an integer of at least ${min}`);
  return v;
}

export function optionalBoolean(b: Body, field: string): boolean | undefined {
  const v = b[field];
  if (absent(v)) return undefined;
  if (typeof v !== 'boolean') throw bad(`${field} must be a boolean`);
  return v;
}

/** `sortBy: {column, order}`: the column one of `columns`, the order asc or desc (any case). */
export function sortBy<C extends string>(b: Body, columns: readonly C[]): { column?: C; order?: ListOrder } {
  const v = b.sortBy;
  if (absent(v)) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('sortBy must be an object with column and order');
  const { column, order } = v as Record<string, unknown>;
  if (!absent(column) && !columns.includes(column as C)) throw bad(`sortBy.column must be one of ${columns.join(', ')}`);
  const o = typeof order === 'string' ? order.toLowerCase() : order;
  if (!absent(o) && !ORDERS.includes(o as ListOrder)) throw bad(`sortBy.order must be one of ${ORDERS.join(', ')}`);
  return { column: (column ?? undefined) as C | undefined, order: (o ?? undefined) as ListOrder | undefined };
}

/** Where a list-v2 page continues: after the entry `name` (whose sort column held `at`), in the listing's column and order. */
export interface Cursor {
  name: string;
  column: (typeof V2_LIST_COLUMNS)[number];
  order: ListOrder;
  at?: string;
}

export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.name, c.column, c.order, c.at ?? null])).toString('base64url');

export function decodeCursor(s: string): Cursor {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    throw bad('Invalid cursor');
  }
  if (!Array.isArray(v) || v.length !== 4) throw bad('Invalid cursor');
  const [name, column, order, at] = v as unknown[];
  if (typeof name !== 'string' || !V2_LIST_COLUMNS.includes(column as Cursor['column']) || !ORDERS.includes(order as ListOrder)) throw bad('Invalid cursor');
  if (at !== null && (typeof at !== 'string' || Number.isNaN(Date.parse(at)))) throw bad('Invalid cursor');
  checkNameField(name, 'cursor');
  return { name, column: column as Cursor['column'], order: order as ListOrder, ...(at !== null ? { at: at as string } : {}) };
}
