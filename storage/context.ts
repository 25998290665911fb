/**
 * What every storage operation runs with: the service's shared parts (pools, blob backend,
 * verifier, signing key: StorageDeps, built once by service.ts) and one request's caller. The
 * bucket operations (storage.ts) and the object operations (object.ts) both stand on it.
 */
import type { Logger } from 'pino';
import { withBlobDeletion } from '../db/blob-guard.ts';
import type { Pools } from '../db/pool.ts';
import type { JwtClaims, JwtVerifier } from '../core/jwt.ts';
import { verifyRequest } from '../core/caller.ts';
import type { StorageBackend } from './backend/index.ts';
import { StorageDb, withCaller, type BucketRow, type CallerOptions, type RequestLike } from './db.ts';
import { STORAGE_ERRORS } from './errors.ts';
import { checkBucketId } from './names.ts';

export interface StorageDeps {
  pools: Pools;
  backend: StorageBackend;
  log: Logger;
  verifier: JwtVerifier;
  /** HS256 key for signed URL tokens (the project JWT secret). */
  signingKey: Uint8Array;
}

/** Who a request acts as, decided the first time an operation asks (and then remembered). */
export interface Caller {
  readonly request: RequestLike;
  claims(): Promise<JwtClaims>;
}

/**
 * The caller, as the edge decides it for every service (gateway/verify.ts): the Bearer token,
 * else the API key (header or `?apikey=`), each a valid JWT whose role is an API role. A request
 * with neither, a bad token or another role (postgres, a role that does not exist) is
 * AccessDenied — or, with `anonymousIfInvalid` (reads that public buckets answer), the anonymous caller.
 */
export function requestCaller(verifier: JwtVerifier, request: RequestLike, anonymousIfInvalid: boolean): Caller {
  let claims: Promise<JwtClaims> | undefined;
  return {
    request,
    claims: () =>
      (claims ??= verifyRequest(verifier, request.headers, request.url).then((result) => {
        if (result.ok) return result.identity.claims;
        if (anonymousIfInvalid) return { role: 'anon' };
        throw STORAGE_ERRORS.accessDenied(String(result.body.message ?? 'Invalid JWT'));
      })),
  };
}

export class StorageContext {
  readonly deps: StorageDeps;
  readonly caller: Caller;
  /** Statements run as superuser (bucket settings, read-backs). */
  readonly superUser: StorageDb;

  constructor(deps: StorageDeps, caller: Caller) {
    this.deps = deps;
    this.caller = caller;
    this.superUser = new StorageDb(deps.pools.admin);
  }

  get backend(): StorageBackend {
    return this.deps.backend;
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** The caller's verified claims (or AccessDenied, or anon: as the request's scope decided). */
  claims(): Promise<JwtClaims> {
    return this.caller.claims();
  }

  /** Runs `fn` in a transaction as the caller (RLS decides); `rollback` undoes it (permission tests). */
  async asCaller<T>(fn: (db: StorageDb) => Promise<T>, opts: CallerOptions = {}): Promise<T> {
    return withCaller(this.deps.pools, await this.claims(), this.caller.request, fn, opts);
  }

  /** The bucket read as superuser, or NoSuchBucket. */
  async bucket(id: string): Promise<BucketRow> {
    const row = await this.superUser.findBucket(checkBucketId(id));
    if (!row) throw STORAGE_ERRORS.noSuchBucket();
    return row;
  }

  /** Deletes blobs no row names any more; a failure, or a backup running (db/blob-guard.ts), leaves them to cleanup. */
  async dropBlobs(keys: string[]): Promise<void> {
    if (!keys.length) return;
    await withBlobDeletion(this.deps.pools.admin, () => this.backend.delete(keys)).then(
      (done) => done || this.log.debug({ keys }, 'storage: a backup is running, cleanup will delete the blobs'),
      (err) => this.log.warn({ err, keys }, 'storage: could not delete blobs (cleanup will)'),
    );
  }
}
