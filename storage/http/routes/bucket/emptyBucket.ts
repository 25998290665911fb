/** `POST /bucket/:id/empty` (storage-js `emptyBucket`): deletes the objects the caller may delete, and their blobs. */
import type { FastifyInstance } from 'fastify';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function emptyBucket(app: FastifyInstance, scope: RouteScope): void {
  app.post('/bucket/:id/empty', async (req) => {
    await (await scope.caller(req)).emptyBucket(param(req, 'id'));
    return { message: 'Successfully emptied' };
  });
}
