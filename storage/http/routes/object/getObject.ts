/**
 * Downloads (storage-js `download`, public URLs): `GET /object/:bucket/*` as the caller (RLS, or
 * everyone on a public bucket; a bad token reads as anon), `GET /object/public/:bucket/*` (public
 * buckets only, no caller) — both public scope — and `GET /object/authenticated/:bucket/*` (RLS
 * as the verified caller, authenticated scope). HEAD answers the headers alone.
 */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import type { ReadMode } from '../../../object.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { sendObject } from '../../send-object.ts';

function download(url: string, mode: ReadMode) {
  return (app: FastifyInstance, scope: RouteScope) => {
    app.get(url, async (req, reply) => {
      const objects = scope.storage(req).from(param(req, 'bucket'));
      return sendObject(objects, req, reply, await objects.visibleObject(keyParam(req.params), mode));
    });
  };
}

export const getObject = download('/object/:bucket/*', 'default');
export const getPublicObject = download('/object/public/:bucket/*', 'public');
export const getAuthenticatedObject = download('/object/authenticated/:bucket/*', 'authenticated');
