/**
 * Every storage route, in the scope that decides its caller (scopes.ts): the authenticated scope
 * (a verified API role, else AccessDenied) and the public scope (no caller needed, or anon),
 * then the short /storage routes in scopes of their own (simple-routes.ts).
 */
import type { Locker } from '@tus/server';
import type { FastifyInstance } from 'fastify';
import type { StorageDeps } from '../../context.ts';
import { storageScope } from '../scopes.ts';
import * as bucket from './bucket/index.ts';
import * as object from './object/index.ts';
import * as render from './render/index.ts';
import { registerSimpleRoutes } from './simple-routes.ts';
import { tusRoutes } from './tus.ts';

export async function registerRoutes(app: FastifyInstance, deps: StorageDeps, opts: { dataDir: string; tusLocker?: Locker }): Promise<void> {
  await storageScope(app, deps, 'authenticated', [...bucket.authenticatedRoutes, ...object.authenticatedRoutes, ...render.authenticatedRoutes, tusRoutes(opts.dataDir, opts.tusLocker)]);
  await storageScope(app, deps, 'public', [...object.publicRoutes, ...render.publicRoutes]);
  await registerSimpleRoutes(app, deps);
}
