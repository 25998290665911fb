/**
 * The SAML 2.0 service provider (GoTrue's internal/api/saml.go, samlassertion.go, ssoadmin.go's
 * parseSAMLMetadata) over @node-saml/node-saml: our entity id is `<AUTH_SAML_EXTERNAL_URL>/sso/saml/metadata`,
 * the ACS `<…>/sso/saml/acs`; AuthnRequests go by HTTP-Redirect, signed with AUTH_SAML_PRIVATE_KEY
 * (whose self-signed certificate the metadata publishes, as GoTrue's conf/saml.go makes one);
 * responses come by HTTP-POST, and either the Response or its Assertion must carry a valid
 * signature of one of the certificates in the IdP's metadata (crewjam/saml's rule).
 */
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import type { CacheProvider, Profile, SAML } from '@node-saml/node-saml';
import type { X509CertificateGenerator } from '@peculiar/x509';
import { createRequire } from 'node:module';
import type { Config } from '../config/load.ts';
import { AUTH_ERRORS } from './errors.ts';

// node-saml (xml-crypto, xml-encryption, xmldom, xmlbuilder) and @peculiar/x509 (its ASN.1 and
// tsyringe) load on the first SAML request, not with the stack: ~300 modules most stacks never
// use (README "Performance", start time and memory).
let nodeSaml: Promise<typeof import('@node-saml/node-saml')> | undefined;
const samlLibrary = () => (nodeSaml ??= import('@node-saml/node-saml'));
let x509: Promise<typeof import('@peculiar/x509')> | undefined;
// @peculiar/x509 (its tsyringe) needs the Reflect metadata API loaded first.
const x509Library = () => (x509 ??= import('reflect-metadata').then(() => import('@peculiar/x509')));

export const NAME_ID_FORMATS = {
  persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  email: 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const REDIRECT_BINDING = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
/** crewjam/saml's MaxClockSkew. */
const CLOCK_SKEW_MS = 180_000;

type SamlConfig = Config['auth']['saml'];

export const spEntityId = (saml: SamlConfig) => `${saml.externalUrl}/sso/saml/metadata`;
export const acsUrl = (saml: SamlConfig) => `${saml.externalUrl}/sso/saml/acs`;

/** What we use of an IdP's metadata. */
export interface IdpMetadata {
  entityId: string;
  validUntil?: Date;
  /** Seconds (the metadata's cacheDuration). */
  cacheDuration?: number;
  /** The HTTP-Redirect SingleSignOnService. */
  ssoUrl?: string;
  /** Signing certificates (base64 DER). */
  certs: string[];
}

type Node = Record<string, unknown>;
const list = (v: unknown): Node[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is Node => !!x && typeof x === 'object');
const attr = (n: Node, name: string) => (typeof n[`@_${name}`] === 'string' ? (n[`@_${name}`] as string) : '');
const textOf = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : v && typeof v === 'object' && typeof (v as Node)['#text'] === 'string' ? ((v as Node)['#text'] as string) : '');

// fast-xml-parser loads on the first metadata parsed (its one-file CommonJS build), not with auth.
const require = createRequire(import.meta.url);
let xmlTools: { parser: import('fast-xml-parser').XMLParser; validator: typeof import('fast-xml-parser').XMLValidator } | undefined;
function metadataXml(): NonNullable<typeof xmlTools> {
  if (xmlTools) return xmlTools;
  const { XMLParser, XMLValidator } = require('fast-xml-parser') as typeof import('fast-xml-parser');
  const parser = new XMLParser({ ignoreAttributes: false, removeNSPrefix: true, parseTagValue: false, parseAttributeValue: false, processEntities: false, isArray: (_name: string, _path: unknown, _leaf: boolean, isAttribute: boolean) => !isAttribute });
  return (xmlTools = { parser, validator: XMLValidator });
}

/** xsd:duration as seconds (PnYnMnDTnHnMnS; months and years as 30 and 365 days). */
function durationSeconds(text: string): number | undefined {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text.trim());
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((v) => Number(v ?? 0));
  return ((y * 365 + mo * 30 + d) * 24 + h) * 3600 + mi * 60 + s;
}

/** An IdP's metadata XML parsed and checked with GoTrue's messages (400 validation_failed). */
export function parseIdpMetadata(xml: string): IdpMetadata {
  if (xml.includes('\uFFFD')) throw AUTH_ERRORS.validation('SAML Metadata XML contains invalid UTF-8 characters, which are not supported at this time');
  const { parser, validator } = metadataXml();
  if (validator.validate(xml) !== true) throw AUTH_ERRORS.validation('SAML Metadata is not valid XML');
  const doc = parser.parse(xml) as Node;
  let root = list(doc.EntityDescriptor)[0];
  if (!root) root = list(list(doc.EntitiesDescriptor)[0]?.EntityDescriptor)[0];
  if (!root) throw AUTH_ERRORS.validation('SAML Metadata is not a SAML EntityDescriptor');
  const entityId = attr(root, 'entityID');
  if (!entityId) throw AUTH_ERRORS.validation('SAML Metadata does not contain an EntityID');
  const idps = list(root.IDPSSODescriptor);
  if (idps.length < 1) throw AUTH_ERRORS.validation('SAML Metadata does not contain any IDPSSODescriptor');
  if (idps.length > 1) throw AUTH_ERRORS.validation('SAML Metadata contains multiple IDPSSODescriptors');
  const idp = idps[0];
  const certs = list(idp.KeyDescriptor)
    .filter((kd) => attr(kd, 'use') !== 'encryption')
    .flatMap((kd) => list(kd.KeyInfo).flatMap((ki) => list(ki.X509Data)).flatMap((x) => (Array.isArray(x.X509Certificate) ? x.X509Certificate : [x.X509Certificate])))
    .map((c) => textOf(c).replace(/\s+/g, ''))
    .filter(Boolean);
  const sso = list(idp.SingleSignOnService).find((s) => attr(s, 'Binding') === REDIRECT_BINDING);
  const validUntil = attr(root, 'validUntil') ? new Date(attr(root, 'validUntil')) : undefined;
  const cacheText = attr(root, 'cacheDuration');
  return {
    entityId,
    validUntil: validUntil && !Number.isNaN(validUntil.getTime()) ? validUntil : undefined,
    cacheDuration: cacheText ? durationSeconds(cacheText) : undefined,
    ssoUrl: (sso && attr(sso, 'Location')) || undefined,
    certs,
  };
}

/** GoTrue's IsSAMLMetadataStale: past validUntil, past cacheDuration since the last update, or a day old without either. */
export function isMetadataStale(md: IdpMetadata, updatedAt: Date, now = Date.now()): boolean {
  if (md.validUntil && now > md.validUntil.getTime()) return true;
  if (md.cacheDuration && now > updatedAt.getTime() + md.cacheDuration * 1000) return true;
  return !md.validUntil && !md.cacheDuration && now > updatedAt.getTime() + 86_400_000;
}

export const certificatePem = (base64Der: string) => `-----BEGIN CERTIFICATE-----\n${base64Der.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** A self-signed certificate (base64 DER, SHA-256 with RSA, 10 years) of an RSA key, as GoTrue's conf/saml.go makes ours. */
export async function selfSignedCertificate(privateKeyPem: string, commonName: string): Promise<string> {
  const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  const key = createPrivateKey(privateKeyPem);
  const privateKey = await webcrypto.subtle.importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), alg, true, ['sign']);
  const publicKey = await webcrypto.subtle.importKey('spki', createPublicKey(key).export({ format: 'der', type: 'spki' }), alg, true, ['verify']);
  const now = Date.now();
  const { X509CertificateGenerator: Generator } = await x509Library();
  const made = await Generator.createSelfSigned({
    serialNumber: `01${randomBytes(8).toString('hex')}`,
    name: `CN=${commonName}`,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 10 * 365 * 86_400_000),
    keys: { privateKey, publicKey },
    signingAlgorithm: alg,
  }, webcrypto as unknown as Parameters<typeof X509CertificateGenerator.createSelfSigned>[1]);
  return Buffer.from(made.rawData).toString('base64');
}

const certificates = new Map<string, Promise<string>>();

/** Our certificate, made once per key. */
export function spCertificate(saml: SamlConfig): Promise<string> {
  let cert = certificates.get(saml.privateKeyPem);
  if (!cert) certificates.set(saml.privateKeyPem, (cert = selfSignedCertificate(saml.privateKeyPem, new URL(saml.externalUrl).hostname)));
  return cert;
}

/**
 * A cache provider that knows only the request ids of this one sign-in (its relay state's, whose
 * age the ACS checked already): node-saml reads the value as the request's creation time.
 */
function knownRequests(ids: string[]): CacheProvider {
  return {
    saveAsync: async (_key, value) => ({ value, createdAt: Date.now() }),
    getAsync: async (key) => (ids.includes(key) ? new Date().toISOString() : null),
    removeAsync: async (key) => key,
  };
}

async function serviceProvider(saml: SamlConfig, idp: IdpMetadata, o: { requestId?: string; nameIdFormat?: string | null; expectedRequestIds?: string[] }): Promise<SAML> {
  const { SAML, ValidateInResponseTo } = await samlLibrary();
  return new SAML({
    callbackUrl: acsUrl(saml),
    issuer: spEntityId(saml),
    audience: spEntityId(saml),
    entryPoint: idp.ssoUrl,
    idpIssuer: idp.entityId,
    // A placeholder when the metadata names no certificate: then no signature can verify.
    idpCert: idp.certs.length ? idp.certs.map(certificatePem) : 'MIIB',
    privateKey: saml.privateKeyPem,
    signatureAlgorithm: 'sha256',
    identifierFormat: o.nameIdFormat ?? NAME_ID_FORMATS.persistent,
    disableRequestedAuthnContext: true,
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    acceptedClockSkewMs: CLOCK_SKEW_MS,
    generateUniqueId: () => o.requestId ?? `_${randomBytes(20).toString('hex')}`,
    validateInResponseTo: o.expectedRequestIds ? ValidateInResponseTo.always : ValidateInResponseTo.never,
    cacheProvider: knownRequests(o.expectedRequestIds ?? []),
  });
}

/** A new AuthnRequest id (crewjam's are `id-` + hex). */
export const newRequestId = () => `id-${randomBytes(20).toString('hex')}`;

/** The IdP's URL for an SP-initiated sign-in: a signed HTTP-Redirect AuthnRequest carrying `relayState`. */
export async function authnRequestUrl(saml: SamlConfig, idp: IdpMetadata, requestId: string, relayState: string, nameIdFormat: string | null): Promise<string> {
  if (!idp.ssoUrl) throw AUTH_ERRORS.validation('SAML Metadata of this provider has no HTTP-Redirect SingleSignOnService');
  return (await serviceProvider(saml, idp, { requestId, nameIdFormat })).getAuthorizeUrlAsync(relayState, undefined, {});
}

/**
 * The assertion of a POSTed SAMLResponse, if its signature, issuer, audience, recipient, time
 * conditions and (SP-initiated) InResponseTo hold; throws with the library's reason otherwise.
 */
export async function validateResponse(saml: SamlConfig, idp: IdpMetadata, samlResponse: string, expectedRequestIds: string[] | undefined): Promise<Profile> {
  const { profile } = await (await serviceProvider(saml, idp, { expectedRequestIds })).validatePostResponseAsync({ SAMLResponse: samlResponse });
  if (!profile) throw new Error('no assertion in the SAML response');
  return profile;
}

/** Our SP metadata (GoTrue's SAMLMetadata): signing key, both NameID formats, the ACS; `download` makes it valid 5 years. */
export async function spMetadataXml(saml: SamlConfig, download: boolean): Promise<string> {
  const cert = await spCertificate(saml);
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const validUntil = download ? ` validUntil="${new Date(Date.now() + 5 * 365 * 86_400_000).toISOString()}"` : '';
  return `<EntityDescriptor xmlns="${MD}" entityID="${esc(spEntityId(saml))}"${validUntil}>` +
    `<SPSSODescriptor xmlns="${MD}" WantAssertionsSigned="true" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
    `<KeyDescriptor use="signing"><KeyInfo xmlns="${DS}"><X509Data><X509Certificate>${cert}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>` +
    `<NameIDFormat>${NAME_ID_FORMATS.email}</NameIDFormat><NameIDFormat>${NAME_ID_FORMATS.persistent}</NameIDFormat>` +
    `<AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(acsUrl(saml))}" index="1"></AssertionConsumerService>` +
    `</SPSSODescriptor></EntityDescriptor>`;
}

/** An attribute mapping (GoTrue's SAMLAttributeMapping): claim → attribute name(s), default, array. */
export interface AttributeMapping {
  keys?: Record<string, { name?: string; names?: string[]; default?: unknown; array?: boolean }>;
}

const SUBJECT_ID = 'urn:oasis:names:tc:SAML:attribute:subject-id';
const EMAIL_ATTRIBUTES = [
  'urn:oid:0.9.2342.19200300.100.1.3',
  'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress',
  'http://schemas.xmlsoap.org/claims/EmailAddress',
  'mail',
  'Mail',
  'email',
];

/** The string values of the attributes named `name` (case-insensitively, as GoTrue's Attribute). */
function attribute(profile: Profile, name: string): string[] {
  const attrs = (profile.attributes ?? {}) as Record<string, unknown>;
  const out: string[] = [];
  for (const [key, value] of Object.entries(attrs)) {
    if (key.toLowerCase() !== name.toLowerCase()) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      const s = typeof v === 'string' ? v : typeof (v as { _?: unknown })?._ === 'string' ? (v as { _: string })._ : undefined;
      if (s) out.push(s);
    }
  }
  return out;
}

/** What GoTrue takes from an assertion: the persistent user id, the email and the mapped claims. */
export function readAssertion(profile: Profile, mapping: AttributeMapping): { userId: string; email: string; claims: Record<string, unknown> } {
  let userId = attribute(profile, SUBJECT_ID)[0] ?? '';
  if (!userId && profile.nameID) {
    if (profile.nameIDFormat === NAME_ID_FORMATS.email) userId = profile.nameID.trim().toLowerCase();
    else if (profile.nameIDFormat !== NAME_ID_FORMATS.transient) userId = profile.nameID;
  }
  const claims: Record<string, unknown> = {};
  for (const [key, m] of Object.entries(mapping.keys ?? {})) {
    const names = [...(m.name ? [m.name] : []), ...(m.names ?? [])];
    for (const name of names) {
      const values = attribute(profile, name);
      if (!values.length) continue;
      claims[key] = m.array ? values : values[0];
      break;
    }
    if (claims[key] === undefined && m.default !== undefined) claims[key] = m.default;
  }
  let email = typeof claims.email === 'string' ? claims.email : '';
  if (!email) email = EMAIL_ATTRIBUTES.map((n) => attribute(profile, n)[0]).find(Boolean) ?? '';
  if (!email && profile.nameIDFormat === NAME_ID_FORMATS.email) email = profile.nameID ?? '';
  return { userId, email, claims };
}
