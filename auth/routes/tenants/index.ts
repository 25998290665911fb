/**
 * The tenant admin API (sql/0026_tenant_rbac.sql; README "Multi-tenancy"): tenants, members,
 * custom roles and invitations, one route per file, GoTrue's error shapes. Who may do what:
 * access.ts.
 */
import type { FastifyInstance } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { createTenantRoute } from './create.ts';
import { getTenantRoute } from './get.ts';
import { acceptInvitationRoute } from './invitation-accept.ts';
import { createInvitationRoute } from './invitation-create.ts';
import { deleteInvitationRoute } from './invitation-delete.ts';
import { listInvitationsRoute } from './invitations-list.ts';
import { listTenantsRoute } from './list.ts';
import { deleteMemberRoute } from './member-delete.ts';
import { putMemberRoute } from './member-put.ts';
import { listMembersRoute } from './members-list.ts';
import { deleteTenantRoute } from './remove.ts';
import { deleteRoleRoute } from './role-delete.ts';
import { getRoleRoute } from './role-get.ts';
import { putRoleRoute } from './role-put.ts';
import { listRolesRoute } from './roles-list.ts';
import { updateTenantRoute } from './update.ts';

export function registerTenantRoutes(app: FastifyInstance, d: AuthDeps): void {
  app.get('/tenants', (req) => listTenantsRoute(d, req));
  app.post('/tenants', (req, reply) => createTenantRoute(d, req, reply));
  app.get('/tenants/:id', (req) => getTenantRoute(d, req));
  app.patch('/tenants/:id', (req) => updateTenantRoute(d, req));
  app.delete('/tenants/:id', (req, reply) => deleteTenantRoute(d, req, reply));

  app.get('/tenants/:id/members', (req) => listMembersRoute(d, req));
  app.put('/tenants/:id/members/:user_id', (req) => putMemberRoute(d, req));
  app.delete('/tenants/:id/members/:user_id', (req, reply) => deleteMemberRoute(d, req, reply));

  app.get('/tenants/:id/roles', (req) => listRolesRoute(d, req));
  app.get('/tenants/:id/roles/:name', (req) => getRoleRoute(d, req));
  app.put('/tenants/:id/roles/:name', (req) => putRoleRoute(d, req));
  app.delete('/tenants/:id/roles/:name', (req, reply) => deleteRoleRoute(d, req, reply));

  app.get('/tenants/:id/invitations', (req) => listInvitationsRoute(d, req));
  app.post('/tenants/:id/invitations', (req, reply) => createInvitationRoute(d, req, reply));
  app.delete('/tenants/:id/invitations/:invitation_id', (req, reply) => deleteInvitationRoute(d, req, reply));
  app.post('/invitations/accept', (req) => acceptInvitationRoute(d, req));
}
