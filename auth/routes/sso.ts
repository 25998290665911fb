/**
 * SAML 2.0 sign-in (GoTrue's internal/api/sso.go, saml.go, samlacs.go): `POST /sso`
 * (signInWithSSO by domain or provider_id → the IdP's URL with a signed AuthnRequest and a relay
 * state, PKCE too), `GET /sso/saml/metadata` (our SP metadata) and `POST /sso/saml/acs` (the IdP
 * posts its signed Response: SP-initiated with our relay state, or IdP-initiated). Every ACS
 * outcome is a redirect: tokens in the fragment, a PKCE `?code=`, or GoTrue's error query on
 * SITE_URL. The SSO user is the identity `sso:<provider id>`, its session's amr `sso/saml`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { asAuthError, AuthError, AUTH_ERRORS } from '../errors.ts';
import { userForProfile } from '../external-users.ts';
import { challengeOf, createFlowState, issueAuthCode } from '../flow-state.ts';
import { bodyOf, queryOf, str } from '../http.ts';
import { safeRedirect, withQuery, withSessionFragment } from '../redirects.ts';
import { authnRequestUrl, isMetadataStale, newRequestId, parseIdpMetadata, readAssertion, spMetadataXml, validateResponse, type AttributeMapping } from '../saml.ts';
import { findSsoProvider, insertRelayState, refreshSamlMetadata, takeRelayState, withTransaction, type SsoProviderRow } from '../store/index.ts';
import { fetchMetadata } from './sso-admin.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const METHOD = 'sso/saml';

/** requireSAMLEnabled: 404 saml_provider_disabled "SAML 2.0 is disabled". */
export function requireSaml(d: AuthDeps): void {
  if (!d.config.auth.saml.enabled) throw AUTH_ERRORS.samlDisabled();
}

const isEnabled = (p: SsoProviderRow) => p.disabled !== true;

/** POST /sso (signInWithSSO). */
export async function singleSignOn(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requireSaml(d);
  const body = bodyOf(req);
  const providerId = body.provider_id ?? '';
  const domain = body.domain ?? '';
  if (typeof providerId !== 'string' || typeof domain !== 'string') throw AUTH_ERRORS.badJson();
  // Go decodes provider_id into a uuid.UUID: anything else is a JSON error.
  if (providerId && !UUID.test(providerId)) throw AUTH_ERRORS.badJson();
  if (providerId && domain) throw AUTH_ERRORS.validation('Only one of provider_id or domain supported');
  if (!providerId && !domain) throw AUTH_ERRORS.validation('A provider_id or domain needs to be provided');
  const provider = providerId ? await findSsoProvider(d.pool, { id: providerId }) : await findSsoProvider(d.pool, { domain });
  if (!provider) throw new AuthError(404, 'sso_provider_not_found', providerId ? 'No such SSO provider' : 'No SSO provider assigned for this domain');
  if (!isEnabled(provider)) throw new AuthError(404, 'sso_provider_disabled', 'SSO Provider is currently disabled');
  const challenge = challengeOf(body);
  const redirectTo = str(body.redirect_to) ? safeRedirect(d.config, str(body.redirect_to)) : null;
  const idp = parseIdpMetadata(provider.metadata_xml);
  const requestId = newRequestId();
  const relayState = await withTransaction(d.pool, async (c) => {
    const flowStateId = challenge ? await createFlowState(c, { challenge, authMethod: METHOD, providerType: METHOD, redirectTo: redirectTo ?? undefined }) : null;
    return insertRelayState(c, { providerId: provider.id, requestId, redirectTo, flowStateId });
  });
  const url = await authnRequestUrl(d.config.auth.saml, idp, requestId, relayState, provider.name_id_format);
  if (body.skip_http_redirect === true) return { url };
  return reply.code(303).header('location', url).send();
}

/** GET /sso/saml/metadata (`?download=true`: valid 5 years, as an attachment). */
export async function samlMetadata(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requireSaml(d);
  const download = str(queryOf(req).download) === 'true';
  reply.header('content-type', 'application/xml').header('cache-control', 'public, max-age=600');
  if (download) reply.header('content-disposition', 'attachment; filename="metadata.xml"');
  return reply.send(await spMetadataXml(d.config.auth.saml, download));
}

/** GoTrue's oauthErrorMap over HTTP statuses, for the error query of a failed ACS. */
function errorName(e: AuthError): string {
  if (['signup_disabled', 'user_banned', 'provider_email_needs_verification'].includes(e.code)) return 'access_denied';
  return ({ 400: 'invalid_request', 401: 'unauthorized_client', 403: 'access_denied', 500: 'server_error', 503: 'temporarily_unavailable' } as Record<number, string>)[e.status] ?? 'server_error';
}

/** POST /sso/saml/acs: any refusal goes to SITE_URL with error, error_code, error_description (SamlAcs). */
export async function samlAcs(d: AuthDeps, req: FastifyRequest, reply: FastifyReply) {
  requireSaml(d);
  try {
    const location = await handleAcs(d, req);
    return reply.code(302).header('location', location).header('cache-control', 'no-store').send();
  } catch (err) {
    const e = asAuthError(err);
    if (!(err instanceof AuthError)) req.log[e.status === 503 ? 'warn' : 'error']({ err }, 'auth: SAML sign-in failed');
    const location = withQuery(d.config.auth.siteUrl, { error: errorName(e), error_code: e.code, error_description: e.message });
    return reply.code(303).header('location', location).send();
  }
}

/** Where the ACS starts: the relay state of an SP-initiated sign-in, or the Issuer of an IdP-initiated one. */
async function startOf(d: AuthDeps, form: Record<string, unknown>) {
  const relayValue = str(form.RelayState) ?? '';
  if (UUID.test(relayValue)) {
    const relay = await takeRelayState(d.pool, relayValue, d.config.auth.saml.relayStateValidity);
    if (!relay) throw new AuthError(404, 'saml_relay_state_not_found', 'SAML RelayState does not exist, try logging in again?');
    if (relay.expired) throw new AuthError(422, 'saml_relay_state_expired', 'SAML RelayState has expired. Try logging in again?');
    const provider = await findSsoProvider(d.pool, { id: relay.sso_provider_id });
    if (!provider) throw new AuthError(500, 'unexpected_failure', 'Unable to find SSO Provider from SAML RelayState');
    return { provider, redirectTo: relay.redirect_to ?? '', requestIds: [relay.request_id], flowStateId: relay.flow_state_id };
  }
  if (relayValue !== '' && !/^[a-z][a-z0-9+.-]*:\/\//i.test(relayValue) && !relayValue.startsWith('/')) {
    throw AUTH_ERRORS.validation('SAML RelayState is not a valid UUID or URL');
  }
  if (str(form.SAMLart)) throw AUTH_ERRORS.validation('SAML Artifact response can only be used with SP initiated flow');
  const samlResponse = str(form.SAMLResponse) ?? '';
  if (!samlResponse) throw AUTH_ERRORS.validation('SAMLResponse is missing');
  if (!/^[A-Za-z0-9+/\s]+={0,2}\s*$/.test(samlResponse)) throw AUTH_ERRORS.validation('SAMLResponse is not a valid Base64 string');
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  const issuer = /<(?:[A-Za-z_][\w.-]*:)?Response\b[\s\S]*?<(?:[A-Za-z_][\w.-]*:)?Issuer\b[^>]*>([^<]*)<\//.exec(xml)?.[1]?.trim();
  if (!issuer) throw AUTH_ERRORS.validation('SAMLResponse is not a valid XML SAML assertion');
  const provider = await findSsoProvider(d.pool, { entityId: issuer });
  if (!provider) throw new AuthError(404, 'saml_idp_not_found', 'A SAML connection has not been established with this Identity Provider');
  return { provider, redirectTo: relayValue, requestIds: undefined, flowStateId: null };
}

async function handleAcs(d: AuthDeps, req: FastifyRequest): Promise<string> {
  const { config } = d;
  const form = bodyOf(req);
  const { provider, redirectTo, requestIds, flowStateId } = await startOf(d, form);
  if (!isEnabled(provider)) throw new AuthError(404, 'sso_provider_disabled', 'SSO Provider assigned for this domain is currently disabled');
  let idp = parseIdpMetadata(provider.metadata_xml);
  if (provider.metadata_url && isMetadataStale(idp, provider.saml_updated_at)) {
    // As GoTrue: a failed refresh keeps the metadata we have.
    const fresh = await fetchMetadata(provider.metadata_url).then((xml) => ({ xml, md: parseIdpMetadata(xml) })).catch(() => undefined);
    if (fresh && fresh.md.entityId === provider.entity_id) {
      await refreshSamlMetadata(d.pool, provider.id, fresh.xml);
      idp = fresh.md;
    }
  }
  const samlResponse = str(form.SAMLResponse) ?? '';
  if (!samlResponse) throw AUTH_ERRORS.validation('SAMLResponse is missing');
  let assertion: ReturnType<typeof readAssertion>;
  try {
    assertion = readAssertion(await validateResponse(config.auth.saml, idp, samlResponse, requestIds), (provider.attribute_mapping ?? {}) as AttributeMapping);
  } catch (err) {
    req.log.info({ err, sso_provider_id: provider.id }, 'auth: SAML assertion refused');
    throw AUTH_ERRORS.validation('SAML Assertion is not valid');
  }
  const { userId, email, claims } = assertion;
  if (!userId) throw new AuthError(400, 'saml_assertion_no_user_id', 'SAML Assertion did not contain a persistent Subject Identifier attribute or Subject NameID uniquely identifying this user');
  if (!email) throw new AuthError(400, 'saml_assertion_no_email', 'SAML Assertion does not contain an email address');
  const { email: _mapped, ...custom } = claims;
  const data = {
    iss: provider.entity_id, sub: userId, email, email_verified: true, phone_verified: false, provider_id: userId,
    ...(Object.keys(custom).length ? { custom_claims: custom } : {}),
  };
  const target = safeRedirect(config, redirectTo || undefined);
  const name = `sso:${provider.id}`;
  return withTransaction(d.pool, async (c) => {
    const user = await userForProfile(c, name, { id: userId, email: email.toLowerCase(), emailVerified: true, data }, { sso: true });
    if (flowStateId) return withQuery(target, { code: await issueAuthCode(c, flowStateId, user.id) });
    const s = await d.issue(c, user, METHOD, req);
    return withSessionFragment(target, s);
  });
}
