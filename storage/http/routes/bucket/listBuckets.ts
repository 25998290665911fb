/** `GET /bucket` (storage-js `listBuckets`): the buckets the caller may see, by name. */
import type { FastifyInstance } from 'fastify';
import { listedBucketJson } from '../../json.ts';
import type { RouteScope } from '../../scopes.ts';

export default function listBuckets(app: FastifyInstance, scope: RouteScope): void {
  app.get('/bucket', async (req) => (await (await scope.caller(req)).listBuckets()).map(listedBucketJson));
}
