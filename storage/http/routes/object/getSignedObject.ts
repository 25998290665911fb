/** `GET /object/sign/:bucket/*?token=…` (signed URLs): the bytes, to whoever holds a valid download token for that path. */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { param, queryParam } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';
import { sendObject } from '../../send-object.ts';

export default function getSignedObject(app: FastifyInstance, scope: RouteScope): void {
  app.get('/object/sign/:bucket/*', async (req, reply) => {
    const objects = scope.storage(req).from(param(req, 'bucket'));
    const name = keyParam(req.params);
    await objects.verifyDownload(name, queryParam(req, 'token'));
    return sendObject(objects, req, reply, await objects.visibleObject(name, 'signed'));
  });
}
