/**
 * Every SQL statement of the storage service, over storage.buckets and storage.objects. A
 * StorageDb is bound to one connection: the admin pool (superuser reads: bucket settings, the row
 * an upload wrote, cleanup) or the caller's transaction (withCaller), where RLS decides. Every
 * value is a bind parameter; the only identifiers put in text are column names from fixed lists.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type pg from 'pg';
import type { Pools } from '../db/pool.ts';
import { prepared } from '../db/prepared.ts';
import { withRequestContext } from '../db/request-context.ts';
import type { JwtClaims } from '../core/jwt.ts';

/** A storage.buckets row. */
export interface BucketRow {
  id: string;
  name: string;
  owner: string | null;
  public: boolean;
  file_size_limit: string | null;
  allowed_mime_types: string[] | null;
  created_at: Date;
  updated_at: Date;
}

/** What uploads and downloads need of a bucket (storage.bucket_settings, sql/0041_storage_bucket_settings.sql). */
export type BucketSettings = Pick<BucketRow, 'id' | 'public' | 'file_size_limit' | 'allowed_mime_types'>;

/** A storage.objects row. */
export interface ObjectRow {
  id: string;
  bucket_id: string;
  name: string;
  owner: string | null;
  owner_id: string | null;
  version: string;
  metadata: Record<string, unknown>;
  user_metadata: Record<string, unknown> | null;
  created_at: Date;
  updated_at: Date;
  last_accessed_at: Date;
}

/** One entry of a listing: an object, or a folder (`id` null). */
export interface ListedRow {
  name: string;
  id: string | null;
  metadata: Record<string, unknown> | null;
  updated_at: Date | null;
  created_at: Date | null;
  last_accessed_at: Date | null;
}

/** What running SQL as the caller needs to know about the request (a Fastify or a raw Node request). */
export interface RequestLike {
  method?: string;
  url?: string;
  headers: IncomingHttpHeaders;
}

/** The bucket settings a request may change (only those it names). */
export interface BucketChanges {
  public?: boolean;
  file_size_limit?: number | null;
  allowed_mime_types?: string[] | null;
}

/** The values of a new (or upserted) object row. */
export interface NewObject {
  id: string;
  bucketId: string;
  name: string;
  /** The caller's `sub`: `owner` when it is a UUID, `owner_id` always. */
  owner: string | null;
  version: string;
  metadata: Record<string, unknown>;
  userMetadata: Record<string, unknown> | null;
}

export const V1_LIST_COLUMNS = ['name', 'updated_at', 'created_at', 'last_accessed_at'] as const;
export const V2_LIST_COLUMNS = ['name', 'updated_at', 'created_at'] as const;
export type ListOrder = 'asc' | 'desc';

export interface ListV1Query {
  prefix: string;
  search: string;
  limit: number;
  offset: number;
  column: (typeof V1_LIST_COLUMNS)[number];
  order: ListOrder;
}

export interface ListV2Query {
  prefix: string;
  delimiter: boolean;
  /** Rows fetched (a page and one more, to know whether another follows). */
  limit: number;
  column: (typeof V2_LIST_COLUMNS)[number];
  order: ListOrder;
  /** Continue after this entry (its name and, for a time column, its time). */
  after?: { name: string; at?: string };
}

const OWNER_UUID = (p: string) => `case when ${p} ~ '^[0-9a-f-]{36}$' then ${p}::uuid end`;

const UPSERT_OBJECT = `on conflict (bucket_id, name) do update set owner = excluded.owner, owner_id = excluded.owner_id, version = excluded.version,
             metadata = excluded.metadata, user_metadata = excluded.user_metadata, updated_at = now() returning id`;

export class StorageDb {
  readonly q: pg.Pool | pg.PoolClient;
  constructor(q: pg.Pool | pg.PoolClient) {
    this.q = q;
  }

  /**
   * Runs a statement; on a connection of the request pool as a named prepared statement
   * (db/prepared.ts), so each connection parses and plans it once. The query is sent before this
   * returns, so several calls without an await in between go out together on a pipelining
   * connection (db/pool.ts).
   */
  private run<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    return this.q.query<R>(prepared(this.q as pg.ClientBase, { text, values }));
  }

  async ping(): Promise<void> {
    await this.q.query('select 1 from storage.buckets limit 1');
  }

  // ----------------------------------------------------------------------- buckets

  /** The bucket's settings, whatever the connection's role may see of storage.buckets. */
  async bucketSettings(id: string): Promise<BucketSettings | undefined> {
    return (await this.run<BucketSettings>(`select * from storage.bucket_settings($1)`, [id])).rows[0];
  }

  async findBucket(id: string): Promise<BucketRow | undefined> {
    return (await this.q.query<BucketRow>(`select * from storage.buckets where id = $1`, [id])).rows[0];
  }

  async listBuckets(): Promise<BucketRow[]> {
    return (await this.q.query<BucketRow>(`select * from storage.buckets order by name`)).rows;
  }

  async createBucket(b: { id: string; name: string; owner: string | null; public: boolean; fileSizeLimit: number | null; allowedMimeTypes: string[] | null }): Promise<void> {
    await this.q.query(
      `insert into storage.buckets (id, name, owner, owner_id, public, file_size_limit, allowed_mime_types)
         values ($1, $2, ${OWNER_UUID('$3')}, $3, $4, $5, $6)`,
      [b.id, b.name, b.owner, b.public, b.fileSizeLimit, b.allowedMimeTypes],
    );
  }

  /** Sets the named settings (and updated_at); false when no such bucket is visible. */
  async updateBucket(id: string, changes: BucketChanges): Promise<boolean> {
    // Column names from BucketChanges' fixed keys only.
    const set = (['public', 'file_size_limit', 'allowed_mime_types'] as const).filter((c) => changes[c] !== undefined).map((c) => [c, changes[c]] as const);
    const assignments = set.map(([column], i) => `${column} = $${i + 2}`).concat('updated_at = now()').join(', ');
    const { rowCount } = await this.q.query(`update storage.buckets set ${assignments} where id = $1`, [id, ...set.map(([, v]) => v)]);
    return Boolean(rowCount);
  }

  async deleteBucket(id: string): Promise<boolean> {
    return Boolean((await this.q.query(`delete from storage.buckets where id = $1`, [id])).rowCount);
  }

  async bucketHasObjects(id: string): Promise<boolean> {
    return (await this.q.query(`select 1 from storage.objects where bucket_id = $1 limit 1`, [id])).rows.length > 0;
  }

  // ----------------------------------------------------------------------- objects

  async findObject(bucketId: string, name: string, opts: { forUpdate?: boolean } = {}): Promise<ObjectRow | undefined> {
    return (await this.run<ObjectRow>(`select * from storage.objects where bucket_id = $1 and name = $2${opts.forUpdate ? ' for update' : ''}`, [bucketId, name])).rows[0];
  }

  async findObjectById(id: string, version?: string): Promise<ObjectRow | undefined> {
    if (version === undefined) return (await this.q.query<ObjectRow>(`select * from storage.objects where id = $1`, [id])).rows[0];
    return (await this.q.query<ObjectRow>(`select * from storage.objects where id = $1 and version = $2`, [id, version])).rows[0];
  }

  /** The names among `names` that exist (and the connection's role may see) in the bucket. */
  async existingNames(bucketId: string, names: string[]): Promise<Set<string>> {
    const { rows } = await this.q.query<{ name: string }>(`select name from storage.objects where bucket_id = $1 and name = any($2::text[])`, [bucketId, names]);
    return new Set(rows.map((r) => r.name));
  }

  /**
   * Inserts the row; with `upsert`, replaces the one of the same name and returns its id. A plain
   * insert has no RETURNING, which would need a SELECT policy too: it needs only INSERT (an upsert
   * needs INSERT, UPDATE and SELECT), as in supabase/storage.
   */
  async insertObject(o: NewObject, upsert: boolean): Promise<string> {
    const r = await this.run<{ id: string }>(
      `insert into storage.objects (id, bucket_id, name, owner, owner_id, version, metadata, user_metadata)
          values ($7, $1, $2, ${OWNER_UUID('$3')}, $3, $4, $5, $6)
          ${upsert ? UPSERT_OBJECT : ''}`,
      [o.bucketId, o.name, o.owner, o.version, o.metadata, o.userMetadata, o.id],
    );
    return upsert ? r.rows[0].id : o.id;
  }

  /** Writers of one name take turns until the transaction ends (each knows the version it replaces). */
  async lockName(bucketId: string, name: string): Promise<void> {
    await this.run(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [`storage.objects/${bucketId}/${name}`]);
  }

  /** Moves the row to a new bucket, name and version (owner: the mover, when known); undefined when the UPDATE saw no row. */
  async moveObject(id: string, to: { bucketId: string; name: string; version: string; owner: string | null }): Promise<ObjectRow | undefined> {
    const { rows } = await this.q.query<ObjectRow>(
      `update storage.objects set bucket_id = $2, name = $3, version = $4,
             owner = coalesce(${OWNER_UUID('$5')}, owner), owner_id = coalesce($5, owner_id), updated_at = now()
           where id = $1 returning *`,
      [id, to.bucketId, to.name, to.version, to.owner],
    );
    return rows[0];
  }

  async deleteObjects(bucketId: string, names: string[]): Promise<ObjectRow[]> {
    return (await this.q.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 and name = any($2) returning *`, [bucketId, names])).rows;
  }

  async deleteAllObjects(bucketId: string): Promise<ObjectRow[]> {
    return (await this.q.query<ObjectRow>(`delete from storage.objects where bucket_id = $1 returning *`, [bucketId])).rows;
  }

  async deleteObjectById(id: string): Promise<ObjectRow | undefined> {
    return (await this.q.query<ObjectRow>(`delete from storage.objects where id = $1 returning *`, [id])).rows[0];
  }

  // ----------------------------------------------------------------------- listings

  /** One folder level under `prefix`: folders (id null) and objects, names starting (any case) with `search`. */
  async listV1(bucketId: string, l: ListV1Query): Promise<ListedRow[]> {
    const { rows } = await this.q.query<ListedRow>(
      `with o as (
             select *, substr(name, length($2) + 1) as rest from storage.objects
             where bucket_id = $1 and starts_with(name, $2)
           ), entries as (
             select distinct split_part(rest, '/', 1) as name, null::uuid as id, null::timestamptz as updated_at, null::timestamptz as created_at,
                    null::timestamptz as last_accessed_at, null::jsonb as metadata
             from o where position('/' in rest) > 0
             union all
             select rest, id, updated_at, created_at, last_accessed_at, metadata from o where position('/' in rest) = 0
           )
           select * from entries where starts_with(lower(name), lower($3))
           order by ${l.column === 'name' ? 'name' : `"${l.column}" nulls first, name`} ${l.order}
           limit $4 offset $5`,
      [bucketId, l.prefix, l.search, l.limit, l.offset],
    );
    return rows;
  }

  /** Objects under a plain-string prefix, with `delimiter` the next level folded into folders; one sorted sequence, after the cursor. */
  async listV2(bucketId: string, l: ListV2Query): Promise<(ListedRow & { key: string | null })[]> {
    const op = l.order === 'asc' ? '>' : '<';
    const values: unknown[] = [bucketId, l.prefix, l.delimiter, l.limit, l.prefix.split('/').length];
    const param = (v: unknown) => `$${values.push(v)}`;
    const keys = l.column === 'name' ? ['name collate "C"'] : [`date_trunc('milliseconds', "${l.column}")`, 'name collate "C"'];
    let after = 'true';
    if (l.after) after = l.column === 'name' ? `name collate "C" ${op} ${param(l.after.name)}` : `(${keys.join(', ')}) ${op} (${param(l.after.at ?? null)}::timestamptz, ${param(l.after.name)})`;
    const { rows } = await this.q.query<ListedRow & { key: string | null }>(
      `with o as (
             select name, id, metadata, updated_at, created_at, last_accessed_at,
                    case when $3 and position('/' in substr(name, length($2) + 1)) > 0
                         then left(name, length($2) + position('/' in substr(name, length($2) + 1))) end as folder
             from storage.objects
             where bucket_id = $1 and starts_with(name, $2)
           ), entries as (
             select folder as name, null::uuid as id, null::jsonb as metadata, min(created_at) as updated_at, min(created_at) as created_at,
                    null::timestamptz as last_accessed_at
             from o where folder is not null group by folder
             union all
             select name, id, metadata, updated_at, created_at, last_accessed_at from o where folder is null
           )
           select *, case when $3 then split_part(name, '/', $5) end as key from entries
           where ${after}
           order by ${keys.map((k) => `${k} ${l.order}`).join(', ')}
           limit $4`,
      values,
    );
    return rows;
  }

  // ----------------------------------------------------------------------- cleanup

  /** The positions (1-based) of the (bucket, name, version) triples no row holds. */
  async unreferenced(blobs: { bucket_id: string; name: string; version: string }[]): Promise<number[]> {
    const { rows } = await this.q.query<{ i: string }>(
      `select k.i from unnest($1::text[], $2::text[], $3::text[]) with ordinality as k(b, n, v, i)
       where not exists (select 1 from storage.objects o where o.bucket_id = k.b and o.name = k.n and o.version = k.v)`,
      [blobs.map((c) => c.bucket_id), blobs.map((c) => c.name), blobs.map((c) => c.version)],
    );
    return rows.map((r) => Number(r.i));
  }
}

/** How withCaller runs: `rollback` undoes the work (permission tests); `singleQuery`: db/request-context.ts's (COMMIT sent right behind `fn`'s statements). */
export interface CallerOptions {
  rollback?: boolean;
  singleQuery?: boolean;
}

/** Runs `fn` in a transaction as `claims` (RLS decides). */
export function withCaller<T>(pools: Pools, claims: JwtClaims, req: RequestLike, fn: (db: StorageDb) => Promise<T>, opts: CallerOptions = {}): Promise<T> {
  return withRequestContext(pools.request, claims, (c) => fn(new StorageDb(c)), { request: { method: req.method, path: (req.url ?? '').split('?')[0] }, ...opts });
}
