/** `GET /bucket/:id` (storage-js `getBucket`): the bucket, if the caller may see it. */
import type { FastifyInstance } from 'fastify';
import { bucketJson } from '../../json.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function getBucket(app: FastifyInstance, scope: RouteScope): void {
  app.get('/bucket/:id', async (req) => bucketJson(await (await scope.caller(req)).findBucket(param(req, 'id'))));
}
