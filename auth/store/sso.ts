/**
 * SAML SSO's tables (sql/0033_auth_sso.sql): providers with their SAML connection and domains,
 * and the relay states of SP-initiated sign-ins.
 */
import type { Db } from './db.ts';

export interface SsoProviderRow {
  id: string;
  resource_id: string | null;
  disabled: boolean | null;
  created_at: Date;
  updated_at: Date;
  entity_id: string;
  metadata_xml: string;
  metadata_url: string | null;
  attribute_mapping: Record<string, unknown> | null;
  name_id_format: string | null;
  saml_updated_at: Date;
  domains: string[];
}

const SELECT = `select p.*, s.entity_id, s.metadata_xml, s.metadata_url, s.attribute_mapping, s.name_id_format, s.updated_at as saml_updated_at,
    array(select d.domain from auth.sso_domains d where d.sso_provider_id = p.id order by d.created_at, d.domain) as domains
  from auth.sso_providers p join auth.saml_providers s on s.sso_provider_id = p.id`;

export type ProviderKey = { id: string } | { resourceId: string } | { domain: string } | { entityId: string };

export async function findSsoProvider(db: Db, key: ProviderKey, forUpdate = false): Promise<SsoProviderRow | undefined> {
  const [where, value] =
    'id' in key ? ['p.id = $1::uuid', key.id]
    : 'resourceId' in key ? ['lower(p.resource_id) = lower($1)', key.resourceId]
    : 'domain' in key ? ['p.id = (select sso_provider_id from auth.sso_domains where lower(domain) = lower($1))', key.domain]
    : ['s.entity_id = $1', key.entityId];
  const { rows } = await db.query<SsoProviderRow>(`${SELECT} where ${where}${forUpdate ? ' for update of p' : ''}`, [value]);
  return rows[0];
}

/** Every provider, oldest first; `resource_id` or `resource_id_prefix` filter as GoTrue's FindAllSSOProvidersByFilter. */
export async function listSsoProviders(db: Db, filter: { resourceId?: string; resourceIdPrefix?: string }): Promise<SsoProviderRow[]> {
  if (filter.resourceId !== undefined) {
    return (await db.query<SsoProviderRow>(`${SELECT} where lower(p.resource_id) = lower($1) order by p.created_at, p.id`, [filter.resourceId])).rows;
  }
  if (filter.resourceIdPrefix !== undefined) {
    const pattern = `${filter.resourceIdPrefix.replace(/[\\%_]/g, '\\$&')}%`;
    return (await db.query<SsoProviderRow>(`${SELECT} where p.resource_id like $1 order by p.created_at, p.id`, [pattern])).rows;
  }
  return (await db.query<SsoProviderRow>(`${SELECT} order by p.created_at, p.id`)).rows;
}

/** Which provider holds each of these domains (lower-cased domain → provider id). */
export async function domainOwners(db: Db, domains: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ domain: string; sso_provider_id: string }>(
    `select lower(domain) as domain, sso_provider_id from auth.sso_domains where lower(domain) = any($1::text[])`,
    [domains.map((d) => d.toLowerCase())],
  );
  return new Map(rows.map((r) => [r.domain, r.sso_provider_id]));
}

export interface SamlFields {
  entityId: string;
  metadataXml: string;
  metadataUrl: string | null;
  attributeMapping: Record<string, unknown>;
  nameIdFormat: string | null;
}

export async function insertSsoProvider(db: Db, p: { resourceId: string | null; disabled: boolean | null; saml: SamlFields; domains: string[] }): Promise<string> {
  const { rows } = await db.query<{ id: string }>(`insert into auth.sso_providers (resource_id, disabled) values ($1, $2) returning id`, [p.resourceId, p.disabled]);
  const id = rows[0].id;
  await db.query(
    `insert into auth.saml_providers (sso_provider_id, entity_id, metadata_xml, metadata_url, attribute_mapping, name_id_format) values ($1, $2, $3, $4, $5, $6)`,
    [id, p.saml.entityId, p.saml.metadataXml, p.saml.metadataUrl, p.saml.attributeMapping, p.saml.nameIdFormat],
  );
  await setSsoDomains(db, id, p.domains);
  return id;
}

/** Replaces the provider's domains (those kept stay as they are). */
export async function setSsoDomains(db: Db, providerId: string, domains: string[]): Promise<void> {
  await db.query(`delete from auth.sso_domains where sso_provider_id = $1 and lower(domain) <> all($2::text[])`, [providerId, domains.map((d) => d.toLowerCase())]);
  await db.query(
    `insert into auth.sso_domains (sso_provider_id, domain)
     select $1, d from unnest($2::text[]) with ordinality as u(d, n)
     where not exists (select 1 from auth.sso_domains x where x.sso_provider_id = $1 and lower(x.domain) = lower(u.d)) order by n`,
    [providerId, domains],
  );
}

export async function updateSsoProvider(db: Db, id: string, p: { resourceId: string | null; disabled: boolean | null; saml: SamlFields }): Promise<void> {
  await db.query(`update auth.sso_providers set resource_id = $2, disabled = $3, updated_at = now() where id = $1`, [id, p.resourceId, p.disabled]);
  await db.query(
    `update auth.saml_providers set metadata_xml = $2, metadata_url = $3, attribute_mapping = $4, name_id_format = $5, updated_at = now() where sso_provider_id = $1`,
    [id, p.saml.metadataXml, p.saml.metadataUrl, p.saml.attributeMapping, p.saml.nameIdFormat],
  );
}

/** The metadata fetched again from metadata_url (the ACS refreshes stale metadata). */
export async function refreshSamlMetadata(db: Db, id: string, metadataXml: string): Promise<void> {
  await db.query(`update auth.saml_providers set metadata_xml = $2, updated_at = now() where sso_provider_id = $1`, [id, metadataXml]);
}

export async function deleteSsoProvider(db: Db, id: string): Promise<void> {
  await db.query(`delete from auth.sso_providers where id = $1`, [id]);
}

export interface RelayStateRow {
  id: string;
  sso_provider_id: string;
  request_id: string;
  redirect_to: string | null;
  flow_state_id: string | null;
  expired: boolean;
}

export async function insertRelayState(db: Db, r: { providerId: string; requestId: string; redirectTo: string | null; flowStateId: string | null }): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    `insert into auth.saml_relay_states (sso_provider_id, request_id, redirect_to, flow_state_id) values ($1, $2, $3, $4) returning id`,
    [r.providerId, r.requestId, r.redirectTo, r.flowStateId],
  );
  return rows[0].id;
}

/** Takes (deletes) a relay state: single use; `expired` once `validitySeconds` passed. Old ones are swept too. */
export async function takeRelayState(db: Db, id: string, validitySeconds: number): Promise<RelayStateRow | undefined> {
  await db.query(`delete from auth.saml_relay_states where created_at < now() - interval '1 day'`);
  const { rows } = await db.query<RelayStateRow>(
    `delete from auth.saml_relay_states where id = $1::uuid
     returning id, sso_provider_id, request_id, redirect_to, flow_state_id, created_at + make_interval(secs => $2) <= now() as expired`,
    [id, validitySeconds],
  );
  return rows[0];
}
