/**
 * The Auth settings page's API: the SMTP server, the mails' sender and the Google/GitHub OAuth
 * clients as they are in effect (each field with its source: environment, database or default;
 * secrets only as set / not set), and their update by a developer. Stored in nextmavens.settings
 * and read by auth at use time (core/auth-settings.ts): a change applies without a restart; a
 * variable set in the environment still wins, and the page shows it read-only.
 */
import type { FastifyInstance } from 'fastify';
import { authSettingsView, saveAuthSettings, SettingsInputError } from '../../core/auth-settings.ts';
import { AdminError } from '../errors.ts';
import type { AdminContext } from '../server.ts';

export function settingsRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const { db, config } = ctx.deps;

  app.get('/admin/api/settings/auth', async (req, reply) => {
    await ctx.session(req);
    return reply.header('cache-control', 'no-store').send(await authSettingsView(config, db));
  });

  app.put<{ Params: { group: string } }>('/admin/api/settings/auth/:group', async (req, reply) => {
    const s = await ctx.session(req, 'developer');
    try {
      await saveAuthSettings(db, req.params.group, req.body, `admin:${s.admin.id}`);
    } catch (err) {
      if (err instanceof SettingsInputError) throw new AdminError('validation_failed', 400, err.message);
      throw err;
    }
    // The field names only: values (secrets among them) stay out of the audit chain.
    await ctx.audit(req, 'settings.update', `auth.${req.params.group}`, { fields: Object.keys(req.body as object) });
    return reply.header('cache-control', 'no-store').send(await authSettingsView(config, db));
  });
}
