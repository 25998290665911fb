/** `GET /object/info/:bucket/*` (storage-js `info`): the object's attributes, as `GET /object/:bucket/*` decides who may see it. */
import type { FastifyInstance } from 'fastify';
import { keyParam } from '../../../names.ts';
import { infoJson } from '../../json.ts';
import { param } from '../../request.ts';
import type { RouteScope } from '../../scopes.ts';

export default function getObjectInfo(app: FastifyInstance, scope: RouteScope): void {
  app.get('/object/info/:bucket/*', async (req) => infoJson(await scope.storage(req).from(param(req, 'bucket')).visibleObject(keyParam(req.params), 'default')));
}
