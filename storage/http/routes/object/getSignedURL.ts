/**
 * `POST /object/sign/:bucket/*` (storage-js `createSignedUrl`, with `transform` a render URL):
 * for an object the caller may read, a download token bound to its path (tokens.ts).
 */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { parseTransform, transformationsString } from '../../../transform.ts';
import { bodyOf, expiresIn, param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function getSignedURL(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/sign/:bucket/*', async (req) => {
    const bucketId = param(req, 'bucket');
    const name = keyParam(req.params);
    const objects = scope.storage(req).from(bucketId);
    await objects.visibleObject(name, 'authenticated');
    const seconds = expiresIn(bodyOf(req));
    const transformations = transformationsString(parseTransform(bodyOf(req).transform));
    const token = await objects.signDownload(name, seconds, transformations || undefined);
    return { signedURL: `${transformations ? '/render/image/sign' : '/object/sign'}/${bucketId}/${name}?token=${token}` };
  });
}
