/**
 * TUS resumable uploads (tus-js-client, as supabase/storage serves them) at `/upload/resumable` with @tus/server and a
 * @tus/file-store under DATA_DIR/storage/tus, whatever the blob backend.
 *
 * - Create (`POST`, `Upload-Metadata: bucketName, objectName, contentType, cacheControl,
 *   metadata`, `x-upsert`): the caller's JWT is verified, the bucket, key, MIME type and size
 *   checked, and the insert (or upsert) tried as the caller under RLS, all before any byte is
 *   accepted. The upload remembers its creator and the upsert flag.
 * - `PATCH`/`HEAD`/`DELETE` on `Location` only for the creator (same role and `sub`); each `PATCH` re-runs
 *   the RLS check, as supabase/storage does.
 * - On completion the staged file goes through the normal upload pipeline (object.ts `storeObject`: limits,
 *   the row inserted as the caller, the blob committed to the configured backend), and the TUS
 *   file is deleted whether that succeeds or not. Errors are storage-shaped JSON bodies with the
 *   logical status (403 RLS, 404, 409 duplicate, 413, 415).
 * - Locks are in memory for one instance; several instances (REDIS_URL) share them in Redis
 *   (storage/tus-locker.ts), and must share DATA_DIR (compose: one volume) for the staged files.
 *   Unfinished uploads expire after TUS_EXPIRY_MS.
 *
 * Registered in the authenticated scope (http/scopes.ts): every request's caller must be verified.
 */
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { FileStore } from '@tus/file-store';
import { Metadata, Server, type Locker, type ServerOptions, type Upload } from '@tus/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { roleOf } from '../../../db/request-context.ts';
import type { JwtClaims } from '../../../core/jwt.ts';
import { STORAGE_ERRORS, asStorageError } from '../../errors.ts';
import { checkMime, uploadLimit } from '../../limits.ts';
import { checkKey } from '../../names.ts';
import type { Storage } from '../../storage.ts';
import type { RouteRegistrar, RouteScope } from '../scopes.ts';

export const TUS_PATH = '/upload/resumable';
/** Unfinished uploads are forgotten after an hour (supabase/storage TUS_URL_EXPIRY_MS). */
export const TUS_EXPIRY_MS = 60 * 60 * 1000;
const CLEANUP_INTERVAL_MS = 10 * 60 * 1000;
/** Metadata keys the server adds to an upload (clients cannot set them: they are overwritten). */
const OWNER = 'nmOwner';
const UPSERT = 'nmUpsert';

type TusRequest = Parameters<NonNullable<ServerOptions['onIncomingRequest']>>[0];
type TusError = { status_code: number; body: string };

function nodeRequest(req: TusRequest): IncomingMessage {
  const node = req.runtime?.node?.req;
  if (!node) throw STORAGE_ERRORS.internal();
  return node as IncomingMessage;
}

/** A StorageError (or the Postgres errors the service maps) as a TUS error: logical status, JSON body. */
function tusError(err: unknown): TusError | undefined {
  const e = asStorageError(err);
  if (!e) return undefined;
  return { status_code: e.statusCode, body: JSON.stringify(e.render()) };
}

function userMetadata(raw: string | null | undefined): Record<string, unknown> | null {
  if (!raw) return null;
  try {
    const v = JSON.parse(raw) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw STORAGE_ERRORS.invalidRequest('metadata must be a JSON object');
}

/** The public prefix the gateway strips before the service sees `/upload/resumable` (Location must carry it). */
// Supabase's public path of storage (the gateway strips it before the service sees a request;
// gateway/routes.ts routes it here).
const publicPrefix = '/storage/v1';

/** Who an upload belongs to: role and sub (anon and service_role both lack a sub, and must not share uploads). */
const ownerOf = (claims: JwtClaims) => JSON.stringify([roleOf(claims), typeof claims.sub === 'string' ? claims.sub : '']);

/** Validates a creation request as `storage`'s (verified) caller; returns what the upload must remember. */
async function authorizeCreate(storage: Storage, node: IncomingMessage) {
  let meta: Record<string, string | null>;
  try {
    meta = Metadata.parse(typeof node.headers['upload-metadata'] === 'string' ? node.headers['upload-metadata'] : undefined);
  } catch {
    throw STORAGE_ERRORS.invalidRequest('Invalid Upload-Metadata header');
  }
  if (!meta.bucketName || !meta.objectName) throw STORAGE_ERRORS.invalidRequest('Upload-Metadata must include bucketName and objectName');
  const name = checkKey(meta.objectName);
  const b = await storage.bucket(meta.bucketName);
  if (meta.contentType) checkMime(b, meta.contentType);
  const length = Number(node.headers['upload-length'] ?? 0);
  if (length > uploadLimit(b)) throw STORAGE_ERRORS.tooLarge();
  userMetadata(meta.metadata);
  const upsert = node.headers['x-upsert'] === 'true';
  await storage.from(b.id).canUpload(name, upsert);
  return { meta, upsert };
}

/** The TUS server: its hooks authorise as the request's caller and finish through the upload pipeline. */
function tusServer(scope: RouteScope, datastore: FileStore, locker: Locker | undefined): Server {
  return new Server({
    path: TUS_PATH,
    datastore,
    ...(locker ? { locker } : {}),
    disableTerminationForFinishedUploads: true,
    // CORS is the edge's job (gateway / Traefik): never widen it here.
    allowedOrigins: () => false,
    allowedHeaders: ['Authorization', 'ApiKey', 'X-Upsert', 'X-Client-Info'],
    generateUrl: (_req, { path: p, id }) => `${publicPrefix}${p}/${id}`,
    maxSize: async (req, id) => {
      try {
        const bucketId =
          req.method === 'POST'
            ? Metadata.parse(req.headers.get('upload-metadata') ?? undefined).bucketName
            : (await datastore.getUpload(id ?? '')).metadata?.bucketName;
        // No caller is needed to read a bucket's limit.
        return bucketId ? uploadLimit(await scope.storage({ headers: {} }).bucket(bucketId)) : 0;
      } catch {
        return 0; // the hooks report what is wrong; storeObject enforces the limit in any case
      }
    },
    async onIncomingRequest(req, id) {
      if (req.method === 'POST') return; // onUploadCreate authorizes creations
      const node = nodeRequest(req);
      const storage = await scope.caller(node);
      const claims = await storage.claims();
      const upload = await datastore.getUpload(id);
      if (upload.metadata?.[OWNER] !== ownerOf(claims)) throw STORAGE_ERRORS.accessDenied('This upload belongs to someone else');
      if (req.method === 'PATCH') {
        const m = upload.metadata ?? {};
        await storage.from(m.bucketName ?? '').canUpload(checkKey(m.objectName ?? ''), m[UPSERT] === 'true');
      }
    },
    async onUploadCreate(req, upload) {
      const node = nodeRequest(req);
      const storage = await scope.caller(node);
      const claims = await storage.claims();
      const { meta, upsert } = await authorizeCreate(storage, node);
      const cacheControl = /^\d+$/.test(meta.cacheControl ?? '') ? `max-age=${meta.cacheControl}` : 'no-cache';
      return { metadata: { ...upload.metadata, cacheControl, [OWNER]: ownerOf(claims), [UPSERT]: String(upsert) } };
    },
    async onUploadFinish(req, upload: Upload) {
      const node = nodeRequest(req);
      const m = upload.metadata ?? {};
      try {
        const storage = await scope.caller(node);
        await storage.from(m.bucketName ?? '').storeObject(checkKey(m.objectName ?? ''), m[UPSERT] === 'true', {
          stream: datastore.read(upload.id),
          mimetype: m.contentType || 'application/octet-stream',
          cacheControl: m.cacheControl || 'no-cache',
          userMetadata: userMetadata(m.metadata),
        });
      } finally {
        await datastore.remove(upload.id).catch(() => undefined);
      }
      return {};
    },
    onResponseError: (_req, err) => tusError(err),
  });
}

/** The TUS routes, with the upload files under `dataDir`/storage/tus; `locker`: shared locks (else in memory). */
export function tusRoutes(dataDir: string, locker?: Locker): RouteRegistrar {
  return async (app: FastifyInstance, scope: RouteScope) => {
    const datastore = new FileStore({ directory: path.join(dataDir, 'storage', 'tus'), expirationPeriodInMilliseconds: TUS_EXPIRY_MS });
    const server = tusServer(scope, datastore, locker);
    const timer = setInterval(() => void server.cleanUpExpiredUploads().catch(() => undefined), CLEANUP_INTERVAL_MS);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      reply.hijack();
      try {
        await server.handle(req.raw, reply.raw);
      } catch (err) {
        req.log.error({ err }, 'tus: unexpected error');
        if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify(STORAGE_ERRORS.internal().render()));
        else reply.raw.destroy();
      }
    };
    await scope.streaming((uploads) => {
      for (const url of [TUS_PATH, `${TUS_PATH}/*`]) {
        // GET is not routed: finished uploads are objects, unfinished ones are nobody's download.
        uploads.route({ method: ['POST', 'PATCH', 'HEAD', 'DELETE', 'OPTIONS'], url, handler, exposeHeadRoute: false });
      }
    });
  };
}
