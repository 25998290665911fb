/**
 * What every auth store module shares: the connection type, transactions and the audit log.
 * All auth SQL lives in auth/store/ (the `auth` schema, over the owner connection); every value
 * is a bind parameter.
 */
import type pg from 'pg';

export type Db = pg.Pool | pg.PoolClient;

/** Is the database reachable and auth's schema there (the service's health check)? */
export async function pingAuthSchema(db: Db): Promise<void> {
  await db.query('select 1 from auth.users limit 1');
}

export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // A connection that cannot even roll back (Postgres went away) is dropped, not pooled again.
  let broken: Error | undefined;
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((e: Error) => {
      broken = e;
    });
    throw err;
  } finally {
    client.release(broken);
  }
}

export async function audit(db: Db, action: string, payload: Record<string, unknown>, ip?: string): Promise<void> {
  await db.query(`insert into auth.audit_log_entries (payload, ip_address) values ($1, $2)`, [{ action, ...payload }, ip ?? null]);
}
