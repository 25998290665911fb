/**
 * A SAML 2.0 identity provider made in the test: its own RSA key and self-signed certificate,
 * its metadata (HTTP-Redirect SSO endpoint), a reader of the AuthnRequest our stack redirects to
 * it, and Responses it signs with xml-crypto (the Assertion, the Response, or nothing) for any
 * subject, audience, recipient and lifetime the test asks for.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
import { certificatePem, selfSignedCertificate } from '../../auth/saml.ts';

export interface SamlIdp {
  entityId: string;
  ssoUrl: string;
  metadataXml: string;
  /** The AuthnRequest of a redirect URL: its ID, ACS, issuer, relay state and whether the query is signed. */
  readRequest(url: string): { id: string; acs: string; issuer: string; relayState: string; signed: boolean; xml: string };
  /** A base64 SAMLResponse. */
  response(o: ResponseOptions): string;
}

export interface ResponseOptions {
  inResponseTo?: string;
  audience: string;
  recipient: string;
  nameId: string;
  nameIdFormat?: string;
  attributes?: Record<string, string | string[]>;
  /** Seconds from now the assertion stays valid (negative: already expired). */
  validFor?: number;
  /** What carries the signature. */
  sign?: 'assertion' | 'response' | 'none';
  /** Sign with another key than the metadata's (a forgery). */
  signWith?: { privateKey: string; cert: string };
  /** Changes the XML after signing (tampering). */
  tamper?: (xml: string) => string;
  /** The Issuer written in the Response and Assertion (default: this IdP's entity id). */
  issuer?: string;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');

export function rsaKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
}

/** A fresh RSA key as GoTrue's GOTRUE_SAML_PRIVATE_KEY wants it: standard Base64 of PKCS#1 DER. */
export function samlPrivateKeyBase64(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'der', type: 'pkcs1' }).toString('base64');
}

export async function signingKey(): Promise<{ privateKey: string; cert: string }> {
  const privateKey = rsaKeyPem();
  return { privateKey, cert: await selfSignedCertificate(privateKey, 'idp.test') };
}

export async function createSamlIdp(entityId: string): Promise<SamlIdp> {
  const key = await signingKey();
  const ssoUrl = `${entityId.replace(/\/+$/, '')}/sso`;
  const metadataXml = `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(entityId)}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${key.cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(ssoUrl)}"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(ssoUrl)}"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;

  return {
    entityId,
    ssoUrl,
    metadataXml,
    readRequest(url) {
      const u = new URL(url);
      const xml = inflateRawSync(Buffer.from(u.searchParams.get('SAMLRequest') ?? '', 'base64')).toString('utf8');
      const pick = (re: RegExp) => re.exec(xml)?.[1] ?? '';
      return {
        id: pick(/\sID="([^"]+)"/),
        acs: pick(/AssertionConsumerServiceURL="([^"]+)"/),
        issuer: pick(/<(?:saml:)?Issuer[^>]*>([^<]+)</),
        relayState: u.searchParams.get('RelayState') ?? '',
        signed: !!u.searchParams.get('Signature') && !!u.searchParams.get('SigAlg'),
        xml,
      };
    },
    response(o) {
      const now = Date.now();
      const iso = (ms: number) => new Date(ms).toISOString();
      const until = iso(now + (o.validFor ?? 300) * 1000);
      const issuer = esc(o.issuer ?? entityId);
      const inResponseTo = o.inResponseTo ? ` InResponseTo="${esc(o.inResponseTo)}"` : '';
      const attributes = Object.entries(o.attributes ?? {})
        .map(([name, values]) => `<saml:Attribute Name="${esc(name)}">${(Array.isArray(values) ? values : [values]).map((v) => `<saml:AttributeValue>${esc(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`)
        .join('');
      const assertion = `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a${randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${iso(now)}">` +
        `<saml:Issuer>${issuer}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="${esc(o.nameIdFormat ?? 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent')}">${esc(o.nameId)}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${until}" Recipient="${esc(o.recipient)}"/></saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${iso(now - 60_000)}" NotOnOrAfter="${until}"><saml:AudienceRestriction><saml:Audience>${esc(o.audience)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${iso(now)}" SessionIndex="_s${randomBytes(8).toString('hex')}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
        (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
        `</saml:Assertion>`;
      let xml = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${randomBytes(16).toString('hex')}" Version="2.0" IssueInstant="${iso(now)}" Destination="${esc(o.recipient)}"${inResponseTo}>` +
        `<saml:Issuer>${issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>${assertion}</samlp:Response>`;
      const sign = o.sign ?? 'assertion';
      if (sign !== 'none') {
        const k = o.signWith ?? key;
        const target = sign === 'assertion' ? "//*[local-name(.)='Assertion']" : "/*[local-name(.)='Response']";
        const sig = new SignedXml({
          privateKey: k.privateKey,
          publicCert: certificatePem(k.cert),
          signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
          canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#',
        });
        sig.addReference({ xpath: target, transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'], digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256' });
        sig.computeSignature(xml, { location: { reference: `${target}/*[local-name(.)='Issuer']`, action: 'after' } });
        xml = sig.getSignedXml();
      }
      if (o.tamper) xml = o.tamper(xml);
      return Buffer.from(xml, 'utf8').toString('base64');
    },
  };
}
