/** `DELETE /bucket/:id` (storage-js `deleteBucket`): only an empty bucket, deleted as the caller. */
import type { FastifyInstance } from 'fastify';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function deleteBucket(app: FastifyInstance, scope: RouteScope): void {
  app.delete('/bucket/:id', async (req) => {
    await (await scope.caller(req)).deleteBucket(param(req, 'id'));
    return { message: 'Successfully deleted' };
  });
}
