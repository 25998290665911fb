/**
 * The Fastify scopes storage's routes are registered in (as supabase/storage's authenticated and
 * public route contexts). Each scope decides how its requests' caller is read, gives route
 * files the request's Storage (storage.ts), and renders whatever a handler throws in storage's
 * shape with its own error handler (errors.ts) — no route wrapper:
 *
 * - `authenticated`: a missing or bad token, or a role that is not an API role, is AccessDenied;
 * - `public`: such a request is the anonymous caller (public buckets need no caller at all).
 *
 * Uploads are registered in a streaming child scope (`streaming`): multipart streamed by busboy,
 * any other body handed over as the raw request stream (never buffered, whatever its content type).
 */
import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import { requestCaller, type StorageDeps } from '../context.ts';
import type { RequestLike } from '../db.ts';
import { storageErrorHandler } from '../errors.ts';
import { MAX_UPLOAD_BYTES } from '../limits.ts';
import { Storage } from '../storage.ts';

export type Access = 'authenticated' | 'public';

export interface RouteScope {
  readonly access: Access;
  /** The request's Storage; its caller is read when an operation first needs it. */
  storage(req: RequestLike): Storage;
  /** The request's Storage with its caller read now: in the authenticated scope, AccessDenied before anything else is looked at. */
  caller(req: RequestLike): Promise<Storage>;
  /** Registers routes whose bodies are streamed (uploads). */
  streaming(register: (scope: FastifyInstance) => void | Promise<void>): Promise<void>;
}

/** What a route file exports: it adds its route(s) to the scope. */
export type RouteRegistrar = (app: FastifyInstance, scope: RouteScope) => void | Promise<void>;

export interface ScopeOptions {
  /** Errors sent with their own status rather than storage-js's 400 (the short /storage routes). */
  logicalStatus?: boolean;
}

export async function storageScope(app: FastifyInstance, deps: StorageDeps, access: Access, routes: RouteRegistrar[], opts: ScopeOptions = {}): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler(storageErrorHandler(opts.logicalStatus));
    const storage = (req: RequestLike) => new Storage(deps, requestCaller(deps.verifier, req, access === 'public'));
    const routeScope: RouteScope = {
      access,
      storage,
      async caller(req) {
        const s = storage(req);
        await s.claims();
        return s;
      },
      async streaming(register) {
        await scope.register(async (uploads) => {
          uploads.removeAllContentTypeParsers();
          await uploads.register(multipart, { limits: { fileSize: MAX_UPLOAD_BYTES, files: 1 } });
          uploads.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
          await register(uploads);
        });
      },
    };
    for (const register of routes) await register(scope, routeScope);
  });
}
