/**
 * The admin SSO provider API with the service_role key (GoTrue's internal/api/ssoadmin.go):
 * `GET|POST /admin/sso/providers`, `GET|PUT|DELETE /admin/sso/providers/{id | resource_<id>}`,
 * with GoTrue's parameters, checks, messages and JSON (internal/models/sso.go).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AuthError, AUTH_ERRORS } from '../errors.ts';
import { bodyOf, obj, queryOf, str, type Body } from '../http.ts';
import { NAME_ID_FORMATS, parseIdpMetadata, type IdpMetadata } from '../saml.ts';
import {
  deleteSsoProvider,
  domainOwners,
  findSsoProvider,
  insertSsoProvider,
  listSsoProviders,
  setSsoDomains,
  updateSsoProvider,
  withTransaction,
  type SsoProviderRow,
} from '../store/index.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_METADATA_BYTES = 1 << 20;

/** A provider as GoTrue's models.SSOProvider marshals it; `withXml: false` for lists. */
export function providerJson(p: SsoProviderRow, withXml = true) {
  return {
    id: p.id,
    ...(p.resource_id !== null ? { resource_id: p.resource_id } : {}),
    disabled: p.disabled,
    saml: {
      entity_id: p.entity_id,
      ...(withXml ? { metadata_xml: p.metadata_xml } : {}),
      ...(p.metadata_url ? { metadata_url: p.metadata_url } : {}),
      attribute_mapping: p.attribute_mapping ?? {},
      ...(p.name_id_format ? { name_id_format: p.name_id_format } : {}),
    },
    domains: p.domains.map((domain) => ({ domain })),
    created_at: p.created_at,
    updated_at: p.updated_at,
  };
}

/** GoTrue's fetchSAMLMetadata: GET with an XML Accept; anything but 200 is 400 saml_metadata_fetch_failed. */
export async function fetchMetadata(url: string): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/xml;charset=UTF-8', 'accept-charset': 'UTF-8' }, redirect: 'error', signal: AbortSignal.timeout(10_000) });
  } catch {
    throw new AuthError(400, 'saml_metadata_fetch_failed', `Unable to fetch SAML Metadata from URL '${url}'`);
  }
  if (res.status !== 200) throw new AuthError(400, 'saml_metadata_fetch_failed', `HTTP ${res.status} error fetching SAML Metadata from URL '${url}'`);
  const bytes = Buffer.from(await res.arrayBuffer());
  if (bytes.length > MAX_METADATA_BYTES) throw new AuthError(400, 'saml_metadata_fetch_failed', `SAML Metadata from URL '${url}' is too large`);
  return bytes.toString('utf8');
}

interface Params {
  type?: string;
  metadataUrl: string;
  metadataXml: string;
  domains?: string[];
  attributeMapping?: Body;
  nameIdFormat: string;
  resourceId?: string;
  disabled?: boolean;
}

function paramsOf(body: Body): Params {
  const text = (key: string) => {
    const v = body[key];
    if (v !== undefined && v !== null && typeof v !== 'string') throw AUTH_ERRORS.badJson();
    return (v as string | null | undefined) ?? '';
  };
  let domains: string[] | undefined;
  if (body.domains !== undefined && body.domains !== null) {
    if (!Array.isArray(body.domains) || body.domains.some((d) => typeof d !== 'string')) throw AUTH_ERRORS.badJson();
    domains = (body.domains as string[]).map((d) => d.trim().toLowerCase()).filter(Boolean);
  }
  if (body.disabled !== undefined && body.disabled !== null && typeof body.disabled !== 'boolean') throw AUTH_ERRORS.badJson();
  if (body.attribute_mapping !== undefined && body.attribute_mapping !== null && (typeof body.attribute_mapping !== 'object' || Array.isArray(body.attribute_mapping))) throw AUTH_ERRORS.badJson();
  return {
    type: str(body.type),
    metadataUrl: text('metadata_url'),
    metadataXml: text('metadata_xml'),
    domains,
    attributeMapping: body.attribute_mapping ? obj(body.attribute_mapping) : undefined,
    nameIdFormat: text('name_id_format'),
    resourceId: typeof body.resource_id === 'string' ? body.resource_id : undefined,
    disabled: typeof body.disabled === 'boolean' ? body.disabled : undefined,
  };
}

/** CreateSSOProviderParams.validate. */
function validate(p: Params, forUpdate: boolean): void {
  if (!forUpdate && p.type !== 'saml') throw AUTH_ERRORS.validation("Only 'saml' supported for SSO provider type");
  if (p.metadataUrl && p.metadataXml) throw AUTH_ERRORS.validation('Only one of metadata_xml or metadata_url needs to be set');
  if (!forUpdate && !p.metadataUrl && !p.metadataXml) throw AUTH_ERRORS.validation('Either metadata_xml or metadata_url must be set');
  if (p.metadataUrl) {
    if (!URL.canParse(p.metadataUrl) || !/^[a-z][a-z0-9+.-]*:/i.test(p.metadataUrl)) throw AUTH_ERRORS.validation('metadata_url is not a valid URL');
    if (new URL(p.metadataUrl).protocol !== 'https:') throw AUTH_ERRORS.validation('metadata_url is not a HTTPS URL');
  }
  const formats = Object.values(NAME_ID_FORMATS) as string[];
  if (p.nameIdFormat && !formats.includes(p.nameIdFormat)) throw AUTH_ERRORS.validation(`name_id_format must be unspecified or one of ${formats.join(', ')}`);
  const keys = p.attributeMapping?.keys;
  if (keys !== undefined && keys !== null && (typeof keys !== 'object' || Array.isArray(keys))) throw AUTH_ERRORS.badJson();
  if (p.resourceId === '') return;
}

async function metadataOf(p: Params): Promise<{ xml: string; md: IdpMetadata } | undefined> {
  const xml = p.metadataXml || (p.metadataUrl ? await fetchMetadata(p.metadataUrl) : '');
  if (!xml) return undefined;
  return { xml, md: parseIdpMetadata(xml) };
}

const notFound = () => new AuthError(404, 'sso_provider_not_found', 'SSO Identity Provider not found');

/** loadSSOProvider: `resource_<id>` by resource id, else a uuid. */
async function load(d: AuthDeps, req: FastifyRequest, db: Parameters<typeof findSsoProvider>[0] = d.pool, forUpdate = false): Promise<SsoProviderRow> {
  const idp = String((req.params as { idp_id?: string }).idp_id ?? '');
  let found: SsoProviderRow | undefined;
  if (idp.startsWith('resource_')) found = await findSsoProvider(db, { resourceId: idp.slice('resource_'.length) }, forUpdate);
  else if (UUID.test(idp)) found = await findSsoProvider(db, { id: idp }, forUpdate);
  if (!found) throw notFound();
  return found;
}

/** Domains another provider holds: GoTrue's 400 sso_domain_already_exists. */
async function checkDomains(db: Parameters<typeof domainOwners>[0], domains: string[], self: string | undefined): Promise<void> {
  const owners = await domainOwners(db, domains);
  for (const domain of domains) {
    const owner = owners.get(domain);
    if (owner && owner !== self) {
      throw new AuthError(400, 'sso_domain_already_exists', self
        ? `SSO domain '${domain}' already assigned to another provider (${owner})`
        : `SSO Domain '${domain}' is already assigned to an SSO identity provider (${owner})`);
    }
  }
}

export async function adminListSsoProviders(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const q = queryOf(req);
  const providers = await listSsoProviders(d.pool, { resourceId: str(q.resource_id), resourceIdPrefix: str(q.resource_id_prefix) });
  return { items: providers.map((p) => providerJson(p, false)) };
}

export async function adminCreateSsoProvider(d: AuthDeps, req: FastifyRequest, reply: { code(n: number): unknown }) {
  await d.requireAdmin(req);
  const p = paramsOf(bodyOf(req));
  validate(p, false);
  const { xml, md } = (await metadataOf(p))!;
  const domains = [...new Set(p.domains ?? [])];
  const id = await withTransaction(d.pool, async (c) => {
    if (await findSsoProvider(c, { entityId: md.entityId })) {
      throw new AuthError(422, 'saml_idp_already_exists', `SAML Identity Provider with this EntityID (${md.entityId}) already exists`);
    }
    await checkDomains(c, domains, undefined);
    return insertSsoProvider(c, {
      resourceId: p.resourceId || null,
      disabled: p.disabled ?? null,
      saml: { entityId: md.entityId, metadataXml: xml, metadataUrl: p.metadataUrl || null, attributeMapping: p.attributeMapping ?? {}, nameIdFormat: p.nameIdFormat || null },
      domains,
    });
  }).catch(conflict);
  reply.code(201);
  return providerJson((await findSsoProvider(d.pool, { id }))!);
}

/** A unique index that lost a race (entity id, domain, resource id): GoTrue's 422 conflict. */
function conflict(err: unknown): never {
  if ((err as { code?: string }).code === '23505') throw new AuthError(422, 'conflict', 'Updating SSO provider failed, likely due to a conflict. Try again?');
  throw err;
}

export async function adminGetSsoProvider(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  return providerJson(await load(d, req));
}

export async function adminUpdateSsoProvider(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const p = paramsOf(bodyOf(req));
  validate(p, true);
  const current = await load(d, req);
  const metadata = await metadataOf(p);
  if (metadata && metadata.md.entityId !== current.entity_id) {
    throw new AuthError(400, 'saml_entity_id_mismatch', `SAML Metadata can be updated only if the EntityID matches for the provider; expected '${current.entity_id}' but got '${metadata.md.entityId}'`);
  }
  await withTransaction(d.pool, async (c) => {
    const row = await load(d, req, c, true);
    if (p.domains) {
      const domains = [...new Set(p.domains)];
      await checkDomains(c, domains, row.id);
      await setSsoDomains(c, row.id, domains);
    }
    const resourceId = p.resourceId === undefined ? row.resource_id : p.resourceId || null;
    await updateSsoProvider(c, row.id, {
      resourceId,
      disabled: p.disabled ?? row.disabled,
      saml: {
        entityId: row.entity_id,
        metadataXml: metadata?.xml ?? row.metadata_xml,
        metadataUrl: p.metadataUrl || row.metadata_url,
        attributeMapping: p.attributeMapping?.keys ? p.attributeMapping : (row.attribute_mapping ?? {}),
        nameIdFormat: p.nameIdFormat || null,
      },
    });
  }).catch(conflict);
  return providerJson((await findSsoProvider(d.pool, { id: current.id }))!);
}

export async function adminDeleteSsoProvider(d: AuthDeps, req: FastifyRequest) {
  await d.requireAdmin(req);
  const row = await load(d, req);
  await deleteSsoProvider(d.pool, row.id);
  return providerJson(row);
}
