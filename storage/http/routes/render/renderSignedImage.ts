/** `GET /render/image/sign/:bucket/*?token=…` (a createSignedUrl with `transform`): the transformations the token carries. */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { parseTransformations } from '../../../transform.ts';
import { param, queryParam } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { renderImage } from './render-image.ts';

export default function renderSignedImage(app: FastifyInstance, scope: RouteScope): void {
  app.get('/render/image/sign/:bucket/*', async (req, reply) => {
    const objects = scope.storage(req).from(param(req, 'bucket'));
    const name = keyParam(req.params);
    const token = await objects.verifyDownload(name, queryParam(req, 'token'));
    const t = parseTransformations(token.transformations);
    return renderImage(objects, req, reply, await objects.visibleObject(name, 'signed'), t);
  });
}
