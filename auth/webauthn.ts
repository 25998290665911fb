/**
 * WebAuthn factors (GoTrue's challengeWebAuthnFactor / verifyWebAuthnFactor over go-webauthn),
 * here on @simplewebauthn/server: creation options for an unverified factor and request options
 * for a verified one, both answered as `{publicKey: …}` in the WebAuthn JSON encoding auth-js
 * decodes; the response of the authenticator checked against the challenge, the relying party
 * (AUTH_WEBAUTHN_RP_ID, AUTH_WEBAUTHN_RP_ORIGINS) and, for assertions, the stored public key
 * and signature counter.
 */
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import type { Config } from '../config/load.ts';

// @simplewebauthn/server (and its ASN.1 and COSE dependencies) loads on the first WebAuthn
// request, not with the stack: most stacks never see one (README "Performance", start time and memory).
let library: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => (library ??= import('@simplewebauthn/server'));

export type RelyingParty = Config['auth']['webauthn'];

/** What a factor keeps of its credential (auth.mfa_factors.web_authn_credential). */
export interface StoredCredential {
  id: string;
  /** COSE public key, base64url. */
  public_key: string;
  counter: number;
  transports?: string[];
}

/** What a challenge keeps until it is answered (auth.mfa_challenges.web_authn_session_data). */
export interface WebauthnSession {
  type: 'create' | 'request';
  challenge: string;
}

export async function creationOptions(rp: RelyingParty, user: { id: string; email: string | null; phone: string | null }, exclude: StoredCredential[], passkey = false) {
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: rp.rpName,
    rpID: rp.rpId,
    userID: new TextEncoder().encode(user.id),
    userName: user.email || user.phone || user.id,
    attestationType: 'none',
    excludeCredentials: exclude.map((c) => ({ id: c.id, transports: c.transports })),
    // A passkey is a discoverable credential: sign-in finds the user by it.
    authenticatorSelection: passkey ? { residentKey: 'required', userVerification: 'preferred' } : { residentKey: 'discouraged', userVerification: 'preferred' },
  });
  return { options, session: { type: 'create', challenge: options.challenge } satisfies WebauthnSession };
}

/** Request options for `credential`, or — without one — for any discoverable credential (passkey sign-in). */
export async function requestOptions(rp: RelyingParty, credential?: StoredCredential) {
  const options = await (await webauthn()).generateAuthenticationOptions({
    rpID: rp.rpId,
    allowCredentials: credential ? [{ id: credential.id, transports: credential.transports as never }] : [],
    userVerification: 'preferred',
  });
  return { options, session: { type: 'request', challenge: options.challenge } satisfies WebauthnSession };
}

/** A new credential from a creation response, with its authenticator's AAGUID; throws when it does not verify. */
export async function verifyCreation(rp: RelyingParty, session: WebauthnSession, response: unknown): Promise<{ credential: StoredCredential; aaguid: string; backupEligible: boolean; backedUp: boolean }> {
  const result = await (await webauthn()).verifyRegistrationResponse({
    response: response as RegistrationResponseJSON,
    expectedChallenge: session.challenge,
    expectedOrigin: rp.rpOrigins,
    expectedRPID: rp.rpId,
    requireUserVerification: false,
  });
  if (!result.verified) throw new Error('registration not verified');
  const { credential, aaguid, credentialDeviceType, credentialBackedUp } = result.registrationInfo;
  return {
    backupEligible: credentialDeviceType === 'multiDevice',
    backedUp: credentialBackedUp,
    credential: { id: credential.id, public_key: Buffer.from(credential.publicKey).toString('base64url'), counter: credential.counter, transports: credential.transports },
    aaguid,
  };
}

/** The credential's new signature counter after a request response; throws when it does not verify. */
export async function verifyAssertion(rp: RelyingParty, session: WebauthnSession, credential: StoredCredential, response: unknown): Promise<number> {
  const result = await (await webauthn()).verifyAuthenticationResponse({
    response: response as AuthenticationResponseJSON,
    expectedChallenge: session.challenge,
    expectedOrigin: rp.rpOrigins,
    expectedRPID: rp.rpId,
    credential: { id: credential.id, publicKey: new Uint8Array(Buffer.from(credential.public_key, 'base64url')), counter: credential.counter, transports: credential.transports as never },
    requireUserVerification: false,
  });
  if (!result.verified) throw new Error('assertion not verified');
  return result.authenticationInfo.newCounter;
}
