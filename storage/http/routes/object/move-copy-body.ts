/** The body `POST /object/move` and `POST /object/copy` share: `{bucketId, sourceKey, destinationKey, destinationBucket?}`, keys checked. */
import type { FastifyRequest } from 'fastify';
import { checkKey } from '../../../names.ts';
import { bodyOf, requiredString } from '../../request.ts';

export function moveCopyBody(req: FastifyRequest) {
  const b = bodyOf(req);
  const sourceBucket = requiredString(b, 'bucketId');
  const sourceKey = checkKey(requiredString(b, 'sourceKey'));
  const destinationKey = checkKey(requiredString(b, 'destinationKey'));
  const destinationBucket = typeof b.destinationBucket === 'string' && b.destinationBucket ? b.destinationBucket : sourceBucket;
  return { b, sourceBucket, sourceKey, destinationBucket, destinationKey };
}
