/** `PUT /bucket/:id` (storage-js `updateBucket`): only the settings the body names change. */
import type { FastifyInstance } from 'fastify';
import { bodyOf, param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function updateBucket(app: FastifyInstance, scope: RouteScope): void {
  app.put('/bucket/:id', async (req) => {
    await (await scope.caller(req)).updateBucket(param(req, 'id'), bodyOf(req));
    return { message: 'Successfully updated' };
  });
}
