/**
 * `POST /bucket/:id/empty` (storage-js `emptyBucket`): deletes the objects the caller may delete, and
 * their blobs. Done before answering; the message is storage-api's own (emptyBucket.ts queues the work).
 */
import type { FastifyInstance } from 'fastify';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function emptyBucket(app: FastifyInstance, scope: RouteScope): void {
  app.post('/bucket/:id/empty', async (req) => {
    await (await scope.caller(req)).emptyBucket(param(req, 'id'));
    return { message: 'Empty bucket has been queued. Completion may take up to an hour.' };
  });
}
