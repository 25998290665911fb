/**
 * SAML 2.0 SSO through supabase-js against the stack and identity providers made in the test
 * (test/helpers/saml-idp.ts): the admin provider API in GoTrue's shapes, signInWithSSO by domain
 * and provider id (implicit and PKCE), the signed AuthnRequest, the ACS creating and finding the
 * `sso:<id>` user with amr sso/saml, IdP-initiated sign-in, and every refusal GoTrue makes —
 * unsigned, forged, tampered, expired, replayed, another IdP's assertion — as a redirect to
 * SITE_URL with GoTrue's error query.
 */
import { createClient, type SupportedStorage } from '@supabase/supabase-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningStack } from '../cli/stack.ts';
import type { TestDatabase } from '../test/helpers/db.ts';
import { createSamlIdp, samlPrivateKeyBase64, signingKey, type ResponseOptions, type SamlIdp } from '../test/helpers/saml-idp.ts';
import { startTestStack, type TestStack } from '../test/helpers/stack.ts';

const SITE = 'http://app.test';
const opts = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } } as const;

let t: TestStack;
let db: TestDatabase;
let stack: RunningStack;
let acme: SamlIdp;
let globex: SamlIdp;
let acmeId: string;
let globexId: string;

const fresh = () => createClient(stack.url, db.config.anonKey, opts);
const memoryStorage = (): SupportedStorage => {
  const m = new Map<string, string>();
  return { getItem: (k) => m.get(k) ?? null, setItem: (k, v) => void m.set(k, v), removeItem: (k) => void m.delete(k) };
};
const pkceClient = () => createClient(stack.url, db.config.anonKey, { auth: { ...opts.auth, flowType: 'pkce', storage: memoryStorage() } });
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

async function admin(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.url}/auth/v1${path}`, {
    method,
    headers: { apikey: db.config.serviceRoleKey, authorization: `Bearer ${db.config.serviceRoleKey}`, 'content-type': 'application/json', 'x-supabase-api-version': '2024-01-01' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** POSTs a SAMLResponse to the ACS as the browser would; the redirect's location, parsed. */
async function postAcs(samlResponse: string, relayState?: string) {
  const form = new URLSearchParams({ SAMLResponse: samlResponse, ...(relayState !== undefined ? { RelayState: relayState } : {}) });
  const res = await fetch(`${stack.url}/auth/v1/sso/saml/acs`, { method: 'POST', body: form, redirect: 'manual' });
  const location = new URL(res.headers.get('location') ?? 'http://missing.invalid/');
  return { status: res.status, location, query: Object.fromEntries(location.searchParams), fragment: Object.fromEntries(new URLSearchParams(location.hash.slice(1))) };
}

/** signInWithSSO, then the IdP answers the AuthnRequest it was sent with an assertion of `o`. */
async function ssoRoundTrip(idp: SamlIdp, start: { domain: string } | { providerId: string }, o: Partial<ResponseOptions> & { nameId: string }, client = fresh(), redirectTo = `${SITE}/welcome`) {
  const { data, error } = await client.auth.signInWithSSO({ ...start, options: { redirectTo } } as Parameters<typeof client.auth.signInWithSSO>[0]);
  expect(error).toBeNull();
  const req = idp.readRequest(data!.url);
  const samlResponse = idp.response({ inResponseTo: req.id, audience: req.issuer, recipient: req.acs, ...o });
  return { req, client, ...(await postAcs(samlResponse, req.relayState)) };
}

beforeAll(async () => {
  t = await startTestStack({ env: { AUTH_BCRYPT_COST: '4', AUTH_SAML_ENABLED: 'true', AUTH_SAML_PRIVATE_KEY: samlPrivateKeyBase64(), SITE_URL: SITE, AUTH_REDIRECT_ALLOW_LIST: `${SITE}/**` } });
  ({ db, stack } = t);
  acme = await createSamlIdp('https://idp.acme.test/saml');
  globex = await createSamlIdp('https://idp.globex.test/saml');
  const a = await admin('POST', '/admin/sso/providers', { type: 'saml', metadata_xml: acme.metadataXml, domains: ['acme.test', 'Acme-Corp.test'], resource_id: 'acme' });
  expect(a.status).toBe(201);
  acmeId = a.body.id;
  const g = await admin('POST', '/admin/sso/providers', { type: 'saml', metadata_xml: globex.metadataXml, domains: ['globex.test'], attribute_mapping: { keys: { name: { name: 'displayName' }, groups: { name: 'groups', array: true } } } });
  expect(g.status).toBe(201);
  globexId = g.body.id;
});

afterAll(async () => {
  await t?.close();
});

describe('admin SSO providers (GoTrue\'s /admin/sso/providers)', () => {
  it('create, get (by id and resource_<id>), list without metadata_xml, update, delete, in GoTrue\'s JSON', async () => {
    const got = await admin('GET', `/admin/sso/providers/${acmeId}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({
      id: acmeId, resource_id: 'acme', disabled: null,
      saml: { entity_id: acme.entityId, metadata_xml: acme.metadataXml, attribute_mapping: {} },
      domains: [{ domain: 'acme-corp.test' }, { domain: 'acme.test' }],
    });
    expect((await admin('GET', '/admin/sso/providers/resource_acme')).body.id).toBe(acmeId);
    const listed = await admin('GET', '/admin/sso/providers');
    expect(listed.body.items.map((p: { id: string }) => p.id)).toEqual([acmeId, globexId]);
    expect(listed.body.items[0].saml.metadata_xml).toBeUndefined();
    expect((await admin('GET', '/admin/sso/providers?resource_id=ACME')).body.items.map((p: { id: string }) => p.id)).toEqual([acmeId]);

    const temp = await createSamlIdp('https://idp.temp.test/saml');
    const made = await admin('POST', '/admin/sso/providers', { type: 'saml', metadata_xml: temp.metadataXml, domains: ['temp.test'] });
    const id = made.body.id;
    const updated = await admin('PUT', `/admin/sso/providers/${id}`, { domains: ['temp2.test'], name_id_format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress', disabled: true });
    expect(updated.body).toMatchObject({ id, disabled: true, domains: [{ domain: 'temp2.test' }], saml: { name_id_format: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress' } });
    const deleted = await admin('DELETE', `/admin/sso/providers/${id}`);
    expect(deleted).toMatchObject({ status: 200, body: { id } });
    expect(await admin('GET', `/admin/sso/providers/${id}`)).toEqual({ status: 404, body: { code: 'sso_provider_not_found', message: 'SSO Identity Provider not found' } });
  });

  it('refuses what GoTrue refuses, with its codes and messages', async () => {
    const cases: [unknown, number, string, string][] = [
      [{ type: 'oidc', metadata_xml: acme.metadataXml }, 400, 'validation_failed', "Only 'saml' supported for SSO provider type"],
      [{ type: 'saml' }, 400, 'validation_failed', 'Either metadata_xml or metadata_url must be set'],
      [{ type: 'saml', metadata_xml: acme.metadataXml, metadata_url: 'https://idp.test/md' }, 400, 'validation_failed', 'Only one of metadata_xml or metadata_url needs to be set'],
      [{ type: 'saml', metadata_url: 'http://idp.test/md' }, 400, 'validation_failed', 'metadata_url is not a HTTPS URL'],
      [{ type: 'saml', metadata_xml: acme.metadataXml, name_id_format: 'nope' }, 400, 'validation_failed', expect.stringMatching(/^name_id_format must be unspecified or one of /) as unknown as string],
      [{ type: 'saml', metadata_xml: '<not xml' }, 400, 'validation_failed', 'SAML Metadata is not valid XML'],
      [{ type: 'saml', metadata_xml: '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>' }, 400, 'validation_failed', 'SAML Metadata does not contain any IDPSSODescriptor'],
      [{ type: 'saml', metadata_xml: acme.metadataXml }, 422, 'saml_idp_already_exists', `SAML Identity Provider with this EntityID (${acme.entityId}) already exists`],
    ];
    for (const [body, status, code, message] of cases) expect(await admin('POST', '/admin/sso/providers', body)).toEqual({ status, body: { code, message } });
    const other = await createSamlIdp('https://idp.other.test/saml');
    expect(await admin('POST', '/admin/sso/providers', { type: 'saml', metadata_xml: other.metadataXml, domains: ['ACME.test'] })).toEqual({
      status: 400, body: { code: 'sso_domain_already_exists', message: `SSO Domain 'acme.test' is already assigned to an SSO identity provider (${acmeId})` },
    });
    expect((await admin('PUT', `/admin/sso/providers/${globexId}`, { metadata_xml: other.metadataXml })).body).toMatchObject({ code: 'saml_entity_id_mismatch' });
    expect((await admin('GET', '/admin/sso/providers/not-a-uuid')).status).toBe(404);
    // Without the service_role key: no.
    const anon = await fetch(`${stack.url}/auth/v1/admin/sso/providers`, { headers: { apikey: db.config.anonKey, 'x-supabase-api-version': '2024-01-01' } });
    expect([anon.status, ((await anon.json()) as { code: string }).code]).toEqual([401, 'no_authorization']);
  });
});

describe('signInWithSSO and the ACS', () => {
  it('by domain: a signed AuthnRequest to the IdP, then the assertion signs a new SSO user in with amr sso/saml', async () => {
    const { req, status, location, fragment } = await ssoRoundTrip(acme, { domain: 'acme.test' }, { nameId: 'acme-u1', attributes: { email: 'Ann@Acme.test' } });
    expect(req.signed).toBe(true);
    expect(req.acs).toMatch(/\/auth\/v1\/sso\/saml\/acs$/);
    expect(req.issuer).toMatch(/\/auth\/v1\/sso\/saml\/metadata$/);
    expect(req.xml).toContain('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
    expect(status).toBe(302);
    expect(`${location.origin}${location.pathname}`).toBe(`${SITE}/welcome`);
    expect(fragment).toMatchObject({ token_type: 'bearer' });
    const claims = claimsOf(fragment.access_token);
    expect(claims).toMatchObject({ aal: 'aal1', amr: [{ method: 'sso/saml' }], app_metadata: { provider: `sso:${acmeId}`, providers: [`sso:${acmeId}`] } });
    const sb = fresh();
    const { data } = await sb.auth.setSession({ access_token: fragment.access_token, refresh_token: fragment.refresh_token });
    expect(data.user).toMatchObject({ email: 'ann@acme.test' });
    expect(data.user?.email_confirmed_at).toBeTruthy();
    expect(data.user?.identities?.map((i) => [i.provider, i.id, i.identity_data?.iss])).toEqual([[`sso:${acmeId}`, 'acme-u1', acme.entityId]]);
    // Email, phone and password of an SSO account are the IdP's (GoTrue's user_sso_managed).
    for (const change of [{ password: 'new-secret-1' }, { email: 'other@acme.test' }, { phone: '+15550100999' }]) {
      expect((await sb.auth.updateUser(change)).error).toMatchObject({ status: 422, code: 'user_sso_managed', message: 'Updating email, phone, password of a SSO account only possible via SSO' });
    }
    expect((await sb.auth.updateUser({ data: { theme: 'dark' } })).error).toBeNull();
    // The same subject again: the same user.
    const again = await ssoRoundTrip(acme, { providerId: acmeId }, { nameId: 'acme-u1', attributes: { email: 'ann@acme.test' } });
    expect(claimsOf(again.fragment.access_token).sub).toBe(claims.sub);
  });

  it('PKCE: the ACS redirects with ?code=, which exchangeCodeForSession trades once', async () => {
    const client = pkceClient();
    const { status, query } = await ssoRoundTrip(acme, { domain: 'acme-corp.test' }, { nameId: 'acme-u2', attributes: { mail: 'bo@acme.test' } }, client);
    expect(status).toBe(302);
    expect(query.code).toMatch(/^[0-9a-f-]{36}$/);
    const { data, error } = await client.auth.exchangeCodeForSession(query.code);
    expect(error).toBeNull();
    expect(data.user).toMatchObject({ email: 'bo@acme.test', app_metadata: { provider: `sso:${acmeId}` } });
    expect(claimsOf(data.session!.access_token).amr).toEqual([expect.objectContaining({ method: 'sso/saml' })]);
    expect((await client.auth.exchangeCodeForSession(query.code)).error).not.toBeNull();
  });

  it('an SSO user is its own account: a password user with the same address stays apart; attribute mapping fills custom claims', async () => {
    expect((await fresh().auth.signUp({ email: 'cy@globex.test', password: 'secret123' })).error).toBeNull();
    const { fragment } = await ssoRoundTrip(globex, { domain: 'globex.test' }, { nameId: 'g-1', attributes: { email: 'cy@globex.test', displayName: 'Cy', groups: ['eng', 'ops'] } });
    const sso = claimsOf(fragment.access_token);
    const password = await fresh().auth.signInWithPassword({ email: 'cy@globex.test', password: 'secret123' });
    expect(password.error).toBeNull();
    expect(password.data.user!.id).not.toBe(sso.sub);
    expect(password.data.user!.app_metadata.provider).toBe('email');
    const { rows } = await db.admin.query(`select is_sso_user, raw_user_meta_data from auth.users where id = $1`, [sso.sub]);
    expect(rows[0].is_sso_user).toBe(true);
    expect(rows[0].raw_user_meta_data).toMatchObject({ custom_claims: { name: 'Cy', groups: ['eng', 'ops'] } });
  });

  it('IdP-initiated: an unsolicited, signed Response from a known IdP signs in; RelayState a URL', async () => {
    const sp = acme.readRequest((await fresh().auth.signInWithSSO({ domain: 'acme.test' })).data!.url);
    const res = await postAcs(acme.response({ audience: sp.issuer, recipient: sp.acs, nameId: 'acme-u3', attributes: { email: 'di@acme.test' } }), `${SITE}/idp`);
    expect(res.status).toBe(302);
    expect(res.location.pathname).toBe('/idp');
    expect(claimsOf(res.fragment.access_token).amr[0].method).toBe('sso/saml');
  });

  it('refuses unsigned, forged, tampered, expired and mis-addressed assertions, replays and another IdP\'s assertion', async () => {
    const stranger = await signingKey();
    const refusals: [string, Partial<ResponseOptions>][] = [
      ['unsigned', { sign: 'none' }],
      ['forged', { signWith: stranger }],
      ['tampered', { tamper: (xml) => xml.replace('acme-bad@acme.test', 'ceo@acme.test') }],
      ['expired', { validFor: -600 }],
      ['wrong audience', { audience: 'https://someone-else.test/metadata' }],
      ['wrong InResponseTo', { inResponseTo: 'id-not-ours' }],
    ];
    for (const [label, o] of refusals) {
      const r = await ssoRoundTrip(acme, { domain: 'acme.test' }, { nameId: 'acme-bad', attributes: { email: 'acme-bad@acme.test' }, ...o });
      expect([label, r.status, `${r.location.origin}${r.location.pathname}`, r.query]).toEqual([label, 303, `${SITE}/`, { error: 'invalid_request', error_code: 'validation_failed', error_description: 'SAML Assertion is not valid' }]);
    }
    // The Response signed instead of the Assertion is fine (either may carry the signature).
    expect((await ssoRoundTrip(acme, { domain: 'acme.test' }, { nameId: 'acme-u4', attributes: { email: 'eve@acme.test' }, sign: 'response' })).status).toBe(302);

    // Cross-provider: a sign-in begun with acme answered by globex (signed by globex, its issuer).
    const { data } = await fresh().auth.signInWithSSO({ domain: 'acme.test' });
    const req = acme.readRequest(data!.url);
    const cross = await postAcs(globex.response({ inResponseTo: req.id, audience: req.issuer, recipient: req.acs, nameId: 'g-1', attributes: { email: 'cy@globex.test' } }), req.relayState);
    expect(cross.query).toMatchObject({ error_code: 'validation_failed', error_description: 'SAML Assertion is not valid' });
    // ... nor globex's signature under acme's name.
    const { data: d2 } = await fresh().auth.signInWithSSO({ domain: 'acme.test' });
    const req2 = acme.readRequest(d2!.url);
    const spoof = await postAcs(globex.response({ inResponseTo: req2.id, audience: req2.issuer, recipient: req2.acs, nameId: 'acme-u1', issuer: acme.entityId, attributes: { email: 'ann@acme.test' } }), req2.relayState);
    expect(spoof.query).toMatchObject({ error_code: 'validation_failed' });

    // A relay state is single use.
    const ok = await ssoRoundTrip(acme, { domain: 'acme.test' }, { nameId: 'acme-u5', attributes: { email: 'fay@acme.test' } });
    expect(ok.status).toBe(302);
    const replay = await postAcs(acme.response({ inResponseTo: ok.req.id, audience: ok.req.issuer, recipient: ok.req.acs, nameId: 'acme-u5', attributes: { email: 'fay@acme.test' } }), ok.req.relayState);
    expect(replay.query).toEqual({ error: 'server_error', error_code: 'saml_relay_state_not_found', error_description: 'SAML RelayState does not exist, try logging in again?' });

    // An assertion without an address, an unknown IdP, a garbage RelayState.
    const noEmail = await ssoRoundTrip(acme, { domain: 'acme.test' }, { nameId: 'acme-u6' });
    expect(noEmail.query).toMatchObject({ error_code: 'saml_assertion_no_email', error_description: 'SAML Assertion does not contain an email address' });
    const unknown = await createSamlIdp('https://idp.unknown.test/saml');
    expect((await postAcs(unknown.response({ audience: req.issuer, recipient: req.acs, nameId: 'x', attributes: { email: 'x@x.test' } }))).query).toMatchObject({ error_code: 'saml_idp_not_found' });
    expect((await postAcs('PHg+', 'not a uuid or url')).query).toMatchObject({ error_code: 'validation_failed', error_description: 'SAML RelayState is not a valid UUID or URL' });
    expect((await postAcs('', '')).query).toMatchObject({ error_description: 'SAMLResponse is missing' });
  });

  it('signInWithSSO refusals: unknown domain or provider, disabled provider, both or neither', async () => {
    const sb = fresh();
    expect((await sb.auth.signInWithSSO({ domain: 'nowhere.test' })).error).toMatchObject({ status: 404, code: 'sso_provider_not_found', message: 'No SSO provider assigned for this domain' });
    expect((await sb.auth.signInWithSSO({ providerId: '00000000-0000-4000-8000-000000000001' })).error).toMatchObject({ status: 404, code: 'sso_provider_not_found', message: 'No such SSO provider' });
    const both = await fetch(`${stack.url}/auth/v1/sso`, { method: 'POST', headers: { apikey: db.config.anonKey, 'content-type': 'application/json' }, body: JSON.stringify({ domain: 'acme.test', provider_id: acmeId }) });
    expect(await both.json()).toMatchObject({ msg: 'Only one of provider_id or domain supported' });
    const off = await createSamlIdp('https://idp.off.test/saml');
    const made = await admin('POST', '/admin/sso/providers', { type: 'saml', metadata_xml: off.metadataXml, domains: ['off.test'], disabled: true });
    expect((await sb.auth.signInWithSSO({ providerId: made.body.id })).error).toMatchObject({ status: 404, code: 'sso_provider_disabled', message: 'SSO Provider is currently disabled' });
  });

  it('serves our SP metadata: entity id, ACS, signing certificate, NameID formats', async () => {
    const res = await fetch(`${stack.url}/auth/v1/sso/saml/metadata?download=true`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/xml/);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="metadata.xml"');
    const xml = await res.text();
    expect(xml).toMatch(/entityID="[^"]+\/auth\/v1\/sso\/saml\/metadata"/);
    expect(xml).toMatch(/AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="[^"]+\/auth\/v1\/sso\/saml\/acs"/);
    expect(xml).toMatch(/<X509Certificate>MII[A-Za-z0-9+/=]+<\/X509Certificate>/);
    expect(xml).toContain('urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress');
  });
});
