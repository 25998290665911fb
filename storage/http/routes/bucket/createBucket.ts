/** `POST /bucket` (storage-js `createBucket`): `{id or name, public, file_size_limit, allowed_mime_types}`, inserted as the caller. */
import type { FastifyInstance } from 'fastify';
import { bodyOf } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function createBucket(app: FastifyInstance, scope: RouteScope): void {
  app.post('/bucket', async (req) => ({ name: await (await scope.caller(req)).createBucket(bodyOf(req)) }));
}
