/**
 * What the query stage hands to the transaction: statements with their bind parameters, and the
 * one row every main statement returns (the body and what the response headers are made from).
 */

export interface Statement {
  sql: string;
  values: unknown[];
}

export interface Statements {
  main: Statement;
  /** `Prefer: count=`: the statement counted (its rows, not the page), and db-max-rows for estimates. */
  count?: Statement & { maxRows?: number };
}

/** Row of every main statement. */
export interface ResultRow {
  total: string | null;
  page_total: string;
  body: string | null;
  response_headers: string | null;
  response_status: string | null;
  pgrst_location?: string | null;
  pgrst_inserted?: string | null;
}

/** The response.headers / response.status GUCs a statement may have set (docs/postgrest.md §4). */
export const RESULT_COLUMNS = `nullif(current_setting('response.headers', true), '') as response_headers,
  nullif(current_setting('response.status', true), '') as response_status`;
