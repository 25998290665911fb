/**
 * The admin user API (`auth.admin.*` with the service_role key): create, list, get, update (incl.
 * bans and moving users between tenants) and delete users.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';
import { bodyOf, checkEmail, obj, str } from '../http.ts';
import { hashPassword } from '../passwords.ts';
import {
  audit,
  countUsers,
  createUser,
  deleteUser,
  factorsOf,
  findUserByEmail,
  findUserById,
  identitiesOf,
  listUsers,
  updateUser,
  withTransaction,
  type UserChanges,
} from '../store/index.ts';
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

/** Rows per page without `per_page`, and at most (GoTrue has no ceiling; one request must not load every user). */
const DEFAULT_PER_PAGE = 50n;
const MAX_PER_PAGE = 1000n;
const MAX_UINT64 = 2n ** 64n - 1n;

/** The query of a request URL as Go's url.Query() reads it (first value of a repeated key wins with get). */
const searchParams = (url: string) => new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '');

/** Go's strconv.ParseUint(s, 10, 64) as GoTrue's paginate() calls it, with its error text. */
function parseUint(s: string): bigint {
  const quoted = JSON.stringify(s);
  if (!/^[0-9]+$/.test(s)) throw AUTH_ERRORS.validation(`Bad Pagination Parameters: strconv.ParseUint: parsing ${quoted}: invalid syntax`);
  const n = BigInt(s);
  if (n > MAX_UINT64) throw AUTH_ERRORS.validation(`Bad Pagination Parameters: strconv.ParseUint: parsing ${quoted}: value out of range`);
  return n;
}

/**
 * `page` and `per_page` (empty = absent, as auth-js sends them). Anything but an unsigned decimal
 * is GoTrue's 400; 0 means what it means to GoTrue's query builder (page 1, 20 rows).
 */
export function pagination(req: FastifyRequest): { page: bigint; perPage: bigint } {
  const q = searchParams(req.url);
  const rawPage = q.get('page') ?? '';
  const rawPerPage = q.get('per_page') ?? '';
  let page = rawPage === '' ? 1n : parseUint(rawPage);
  let perPage = rawPerPage === '' ? DEFAULT_PER_PAGE : parseUint(rawPerPage);
  if (page < 1n) page = 1n;
  if (perPage < 1n) perPage = 20n;
  if (perPage > MAX_PER_PAGE) perPage = MAX_PER_PAGE;
  return { page, perPage };
}

/** `sort=created_at [asc|desc]` (GoTrue's only sortable field; each value is checked, the first orders); newest first by default. */
function sortDescending(req: FastifyRequest): boolean {
  const values = searchParams(req.url).getAll('sort');
  const directions = values.map((value) => {
    const space = value.indexOf(' ');
    const field = space < 0 ? value : value.slice(0, space);
    if (field !== 'created_at') throw AUTH_ERRORS.validation(`Bad Sort Parameters: bad field for sort '${field}'`);
    if (space < 0) return true;
    const dir = value.slice(space + 1);
    if (dir.toUpperCase() === 'ASC') return false;
    if (dir.toUpperCase() === 'DESC') return true;
    throw AUTH_ERRORS.validation(`Bad Sort Parameters: bad direction for sort '${dir}', only 'asc' and 'desc' allowed`);
  });
  return directions[0] ?? true;
}

/** GoTrue's Link header: rel="next" while pages remain, always rel="last" (the request's URL with another `page`). */
export function paginationLinks(url: string, page: bigint, perPage: bigint, total: bigint): string {
  const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
  const params = searchParams(url);
  const totalPages = total / perPage + (total % perPage > 0n ? 1n : 0n);
  const withPage = (n: bigint) => {
    params.set('page', String(n));
    params.sort(); // Go's url.Values.Encode orders keys
    return `<${path}?${params}>`;
  };
  let header = '';
  if (totalPages > page) header += `${withPage(page + 1n)}; rel="next", `;
  return `${header}${withPage(totalPages)}; rel="last"`;
}

export async function adminCreate(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const body = bodyOf(req);
  const email = str(body.email)?.trim().toLowerCase() || undefined;
  if (!email && !str(body.phone)) throw AUTH_ERRORS.validation('Cannot create a user without either an email or phone');
  if (email) checkEmail(email);
  const password = str(body.password);
  const appMeta = obj(body.app_metadata);
  const tenantId = tenantOf(body.tenant_id) ?? tenantOf(appMeta.tenant_id) ?? null;
  delete appMeta.tenant_id;
  return withTransaction(d.pool, async (c) => {
    if (email && (await findUserByEmail(c, email))) throw AUTH_ERRORS.emailExists();
    const user = await createUser(c, {
      email,
      passwordHash: password ? await hashPassword(d.checkPassword(password), d.config.auth.bcryptCost) : undefined,
      confirmed: body.email_confirm === true,
      userMetadata: obj(body.user_metadata),
      appMetadata: { provider: 'email', providers: ['email'], ...appMeta },
      isAnonymous: false,
      tenantId,
      role: str(body.role),
    });
    await audit(c, 'user_signedup', { user_id: user.id, actor_role: 'service_role', provider: 'admin' }, req.ip);
    return userJson(user, await identitiesOf(c, user.id));
  });
}

export async function adminList(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  await d.requireAdmin(req);
  const { page, perPage } = pagination(req);
  const desc = sortDescending(req);
  const offset = (page - 1n) * perPage;
  const total = await countUsers(d.pool);
  // Pages past the last one are empty (an offset beyond bigint would not even parse).
  const rows = offset >= total ? [] : await listUsers(d.pool, desc, perPage, offset);
  const users = await Promise.all(rows.map(async (u) => userJson(u, await identitiesOf(d.pool, u.id), await factorsOf(d.pool, u.id))));
  reply.header('link', paginationLinks(req.url, page, perPage, total)).header('x-total-count', String(total));
  return { users, aud: 'authenticated' };
}

export async function adminGet(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const user = await findUserById(d.pool, (req.params as { id: string }).id);
  if (!user) throw AUTH_ERRORS.userNotFound();
  return userJson(user, await identitiesOf(d.pool, user.id), await factorsOf(d.pool, user.id));
}

export async function adminUpdate(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const user = await findUserById(d.pool, (req.params as { id: string }).id);
  if (!user) throw AUTH_ERRORS.userNotFound();
  const body = bodyOf(req);
  const changes: UserChanges = {};
  if (body.user_metadata !== undefined) changes.userMetadata = obj(body.user_metadata);
  if (body.app_metadata !== undefined) {
    const meta = obj(body.app_metadata);
    if (meta.tenant_id !== undefined) changes.tenantId = tenantOf(meta.tenant_id);
    delete meta.tenant_id;
    changes.mergeAppMetadata = meta;
  }
  if (body.tenant_id !== undefined) changes.tenantId = tenantOf(body.tenant_id);
  const email = str(body.email)?.trim().toLowerCase();
  if (email && email !== user.email) {
    checkEmail(email);
    if (await findUserByEmail(d.pool, email)) throw AUTH_ERRORS.emailExists();
    changes.email = email;
  }
  if (str(body.password)) changes.passwordHash = await hashPassword(d.checkPassword(str(body.password)), d.config.auth.bcryptCost);
  if (body.email_confirm === true) changes.confirmEmail = true;
  if (str(body.role)) changes.role = str(body.role);
  // A platform super-admin (sql/0026_tenant_rbac.sql): only this admin API grants or revokes it.
  if (body.is_super_admin !== undefined) {
    if (typeof body.is_super_admin !== 'boolean') throw AUTH_ERRORS.validation('is_super_admin must be a boolean');
    changes.isSuperAdmin = body.is_super_admin;
  }
  const ban = str(body.ban_duration);
  if (ban !== undefined) changes.banSeconds = banSeconds(ban);
  await withTransaction(d.pool, async (c) => {
    await updateUser(c, user.id, changes);
    await audit(c, changes.passwordHash ? 'user_updated_password' : 'user_modified', { user_id: user.id, actor_role: 'service_role', fields: Object.keys(changes) }, req.ip);
  });
  const fresh = (await findUserById(d.pool, user.id))!;
  return userJson(fresh, await identitiesOf(d.pool, user.id), await factorsOf(d.pool, user.id));
}

export async function adminDelete(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const id = (req.params as { id: string }).id;
  if (!UUID.test(id)) throw AUTH_ERRORS.userNotFound();
  await withTransaction(d.pool, async (c) => {
    const user = await findUserById(c, id);
    if (!user || !(await deleteUser(c, id))) throw AUTH_ERRORS.userNotFound();
    await audit(c, 'user_deleted', { user_id: id, tenant_id: user.tenant_id, actor_role: 'service_role' }, req.ip);
  });
  return {};
}
