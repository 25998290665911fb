/**
 * The admin user API (`auth.admin.*` with the service_role key): create, list, get, update (incl.
 * bans and moving users between tenants) and delete users.
 */
import type { FastifyRequest } from 'fastify';
import { AUTH_ERRORS } from '../errors.ts';
import { bodyOf, checkEmail, obj, str, wrap, type AuthDeps, type Body } from '../http.ts';
import { hashPassword } from '../passwords.ts';
import { createUser, findUserByEmail, findUserById, identitiesOf, withTransaction, type UserRow } from '../store.ts';
import { userJson } from '../tokens.ts';

const MAX_BAN_SECONDS = 9_223_372_036;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A tenant id from the body: a uuid, null (no tenant) or absent. */
function tenantOf(v: unknown): string | null | undefined {
  if (v === undefined || v === null) return v;
  if (typeof v !== 'string' || !UUID.test(v)) throw AUTH_ERRORS.validation('tenant_id must be a uuid');
  return v;
}

/** GoTrue's ban_duration: "none" lifts a ban; otherwise a Go duration such as "24h" or "90m". */
function banSeconds(duration: string): number | null {
  if (duration === 'none') return null;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(h|m|s)/g;
  let matched = '';
  for (let m = re.exec(duration); m; m = re.exec(duration)) {
    total += Number(m[1]) * units[m[2]];
    matched += m[0];
  }
  if (!matched || matched !== duration) throw AUTH_ERRORS.validation(`invalid format for ban duration: ${duration}`);
  // Go's time.Duration stops at ~292 years; beyond that Postgres' interval overflows too.
  if (!Number.isFinite(total) || total > MAX_BAN_SECONDS) throw AUTH_ERRORS.validation(`invalid format for ban duration: ${duration}`);
  return total;
}

export function registerAdminRoutes(d: AuthDeps): void {
  const { app, config, pool, requireAdmin, checkPassword } = d;


  async function adminCreate(req: FastifyRequest) {
    await requireAdmin(req);
    const body = bodyOf(req);
    const email = str(body.email)?.trim().toLowerCase() || undefined;
    if (!email && !str(body.phone)) throw AUTH_ERRORS.validation('Cannot create a user without either an email or phone');
    if (email) checkEmail(email);
    const password = str(body.password);
    const appMeta = obj(body.app_metadata);
    const tenantId = tenantOf(body.tenant_id) ?? tenantOf(appMeta.tenant_id) ?? null;
    delete appMeta.tenant_id;
    return withTransaction(pool, async (c) => {
      if (email && (await findUserByEmail(c, email))) throw AUTH_ERRORS.emailExists();
      const user = await createUser(c, {
        email,
        passwordHash: password ? await hashPassword(checkPassword(password), config.auth.bcryptCost) : undefined,
        confirmed: body.email_confirm === true,
        userMetadata: obj(body.user_metadata),
        appMetadata: { provider: 'email', providers: ['email'], ...appMeta },
        isAnonymous: false,
        tenantId,
        role: str(body.role),
      });
      return userJson(user, await identitiesOf(c, user.id));
    });
  }

  async function adminList(req: FastifyRequest) {
    await requireAdmin(req);
    const q = req.query as Body;
    const perPage = Math.min(Math.max(Math.floor(Number(q.per_page)) || 50, 1), 1000);
    const page = Math.min(Math.max(Math.floor(Number(q.page)) || 1, 1), 1_000_000);
    const { rows } = await pool.query<UserRow & { total: string }>(
      `select *, count(*) over () as total from auth.users where deleted_at is null order by created_at, id limit $1 offset $2`,
      [perPage, (page - 1) * perPage],
    );
    const users = await Promise.all(rows.map(async (u) => userJson(u, await identitiesOf(pool, u.id))));
    return { users, aud: 'authenticated', total: Number(rows[0]?.total ?? 0) };
  }

  async function adminGet(req: FastifyRequest) {
    await requireAdmin(req);
    const user = await findUserById(pool, (req.params as { id: string }).id);
    if (!user) throw AUTH_ERRORS.userNotFound();
    return userJson(user, await identitiesOf(pool, user.id));
  }

  async function adminUpdate(req: FastifyRequest) {
    await requireAdmin(req);
    const user = await findUserById(pool, (req.params as { id: string }).id);
    if (!user) throw AUTH_ERRORS.userNotFound();
    const body = bodyOf(req);
    const sets: string[] = [];
    const values: unknown[] = [user.id];
    const set = (sql: string, value: unknown) => {
      values.push(value);
      sets.push(sql.replace('?', `$${values.length}`));
    };
    if (body.user_metadata !== undefined) set('raw_user_meta_data = ?', obj(body.user_metadata));
    if (body.app_metadata !== undefined) {
      const meta = obj(body.app_metadata);
      if (meta.tenant_id !== undefined) set('tenant_id = ?', tenantOf(meta.tenant_id));
      delete meta.tenant_id;
      set('raw_app_meta_data = raw_app_meta_data || ?', meta);
    }
    if (body.tenant_id !== undefined) set('tenant_id = ?', tenantOf(body.tenant_id));
    const email = str(body.email)?.trim().toLowerCase();
    if (email && email !== user.email) {
      checkEmail(email);
      if (await findUserByEmail(pool, email)) throw AUTH_ERRORS.emailExists();
      set('email = ?', email);
    }
    if (str(body.password)) set('encrypted_password = ?', await hashPassword(checkPassword(str(body.password)), config.auth.bcryptCost));
    if (body.email_confirm === true) sets.push('email_confirmed_at = coalesce(email_confirmed_at, now())');
    if (str(body.role)) set('role = ?', str(body.role));
    const ban = str(body.ban_duration);
    if (ban !== undefined) set('banned_until = now() + make_interval(secs => ?)', banSeconds(ban));
    if (sets.length) await pool.query(`update auth.users set ${sets.join(', ')}, updated_at = now() where id = $1`, values);
    const fresh = (await findUserById(pool, user.id))!;
    return userJson(fresh, await identitiesOf(pool, user.id));
  }

  async function adminDelete(req: FastifyRequest) {
    await requireAdmin(req);
    const id = (req.params as { id: string }).id;
    if (!UUID.test(id)) throw AUTH_ERRORS.userNotFound();
    const { rowCount } = await pool.query(`delete from auth.users where id = $1`, [id]);
    if (!rowCount) throw AUTH_ERRORS.userNotFound();
    return {};
  }

  app.get('/admin/users', wrap(adminList));
  app.post('/admin/users', wrap(adminCreate));
  app.get('/admin/users/:id', wrap(adminGet));
  app.put('/admin/users/:id', wrap(adminUpdate));
  app.delete('/admin/users/:id', wrap(adminDelete));
}
