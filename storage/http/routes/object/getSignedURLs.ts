/** `POST /object/sign/:bucket` (storage-js `createSignedUrls`): a token per path the caller may read, an error entry for the others. */
import type { FastifyInstance } from 'fastify';
import { bodyOf, expiresIn, param, pathList } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { MAX_OBJECTS_PER_REQUEST } from './deleteObjects.ts';

export default function getSignedURLs(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/sign/:bucket', async (req) => {
    const storage = await scope.caller(req);
    const bucketId = param(req, 'bucket');
    const b = bodyOf(req);
    const seconds = expiresIn(b);
    const paths = pathList(b.paths, 'paths', MAX_OBJECTS_PER_REQUEST, `At most ${MAX_OBJECTS_PER_REQUEST} paths can be signed per request`);
    const tokens = await storage.from(bucketId).signDownloads(paths, seconds);
    return paths.map((p, i) =>
      tokens[i] === null
        ? { error: 'Either the object does not exist or you do not have access to it', path: p, signedURL: null }
        : { error: null, path: p, signedURL: `/object/sign/${bucketId}/${p}?token=${tokens[i]}` },
    );
  });
}
