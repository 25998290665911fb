/** `POST /object/move` (storage-js `move(from, to, {destinationBucket})`): the row renamed as the caller, keeping its id (object.ts). */
import type { FastifyInstance } from 'fastify';
import type { RouteScope } from '../../scopes.ts';
import { moveCopyBody } from './move-copy-body.ts';

export default function moveObject(app: FastifyInstance, scope: RouteScope): void {
  app.post('/object/move', async (req) => {
    const storage = await scope.caller(req);
    const t = moveCopyBody(req);
    const moved = await storage.from(t.sourceBucket).moveObject(t.sourceKey, t.destinationBucket, t.destinationKey);
    return { message: 'Successfully moved', Id: moved.id, Key: moved.name };
  });
}
