/**
 * `GET /render/image/authenticated/:bucket/*` (RLS as the verified caller: authenticated scope)
 * and `GET /render/image/public/:bucket/*` (public buckets: public scope), with the transform
 * options of the query (transform.ts).
 */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { parseTransform } from '../../../transform.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { renderImage } from './render-image.ts';

function render(mode: 'authenticated' | 'public') {
  return (app: FastifyInstance, scope: RouteScope) => {
    app.get(`/render/image/${mode}/:bucket/*`, async (req, reply) => {
      const t = parseTransform(req.query);
      const objects = scope.storage(req).from(param(req, 'bucket'));
      return renderImage(objects, req, reply, await objects.visibleObject(keyParam(req.params), mode), t);
    });
  };
}

export const renderAuthenticatedImage = render('authenticated');
export const renderPublicImage = render('public');
