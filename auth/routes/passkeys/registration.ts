/**
 * `POST /passkeys/registration/options` and `/verify` (auth.passkey.startRegistration /
 * verifyRegistration): a signed-in, non-anonymous user adds a passkey — creation options for a
 * discoverable credential (the user's passkeys excluded), then the attestation checked
 * (auth/webauthn.ts) and stored; at most AUTH_PASSKEY_MAX_PER_USER (GoTrue's passkey_registration.go).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AuthError, AUTH_ERRORS } from '../../errors.ts';
import { audit, createPasskey, createPasskeyChallenge, findSession, passkeysOf, takePasskeyChallenge, withTransaction, type UserRow } from '../../store/index.ts';
import { creationOptions, verifyCreation, type WebauthnSession } from '../../webauthn.ts';
import { ceremonyAnswer, challengeExpired, challengeNotFound, passkeyJson, requireManagementAal, requirePasskeys, verificationFailed } from './shared.ts';

const tooMany = () => new AuthError(422, 'too_many_passkeys', 'Maximum number of passkeys reached');

/** The signed-in, non-anonymous user allowed to add a passkey now. */
async function registrant(d: AuthDeps, req: FastifyRequest): Promise<UserRow> {
  requirePasskeys(d);
  const { user, claims } = await d.currentUser(req);
  if (claims.is_anonymous === true) throw AUTH_ERRORS.anonymousNotAllowed();
  const session = typeof claims.session_id === 'string' ? await findSession(d.pool, claims.session_id) : undefined;
  await requireManagementAal(d, user, session);
  return user;
}

export async function registrationOptions(d: AuthDeps, req: FastifyRequest) {
  const user = await registrant(d, req);
  const existing = await passkeysOf(d.pool, user.id);
  if (existing.length >= d.config.auth.passkey.maxPerUser) throw tooMany();
  const exclude = existing.map((p) => ({ id: p.credential_id, public_key: p.public_key, counter: Number(p.sign_count), transports: p.transports }));
  const { options, session } = await creationOptions(d.config.auth.webauthn, user, exclude, true);
  const challenge = await createPasskeyChallenge(d.pool, user.id, 'registration', session, d.config.auth.passkey.challengeExpiry);
  return { challenge_id: challenge.id, options, expires_at: challenge.expiresAt };
}

export async function registrationVerify(d: AuthDeps, req: FastifyRequest) {
  const user = await registrant(d, req);
  const { challengeId, credential } = ceremonyAnswer(req);
  const taken = await takePasskeyChallenge(d.pool, challengeId, 'registration', user.id);
  if (!taken) throw challengeNotFound();
  if (taken.expired) throw challengeExpired();
  const verified = await verifyCreation(d.config.auth.webauthn, taken.session_data as unknown as WebauthnSession, credential).catch((err: Error) => {
    req.log.info({ err: err.message }, 'auth: passkey registration refused');
    throw verificationFailed();
  });
  return withTransaction(d.pool, async (c) => {
    if ((await passkeysOf(c, user.id)).length >= d.config.auth.passkey.maxPerUser) throw tooMany();
    const passkey = await createPasskey(c, {
      userId: user.id,
      credentialId: verified.credential.id,
      publicKey: verified.credential.public_key,
      signCount: verified.credential.counter,
      transports: verified.credential.transports ?? [],
      aaguid: verified.aaguid,
      // GoTrue names a passkey after its authenticator's AAGUID when it knows it; here always "Passkey".
      friendlyName: 'Passkey',
      backupEligible: verified.backupEligible,
      backedUp: verified.backedUp,
    }).catch((err: { code?: string }) => {
      if (err.code === '23505') throw new AuthError(422, 'webauthn_credential_exists', 'This credential is already registered');
      throw err;
    });
    await audit(c, 'passkey_created', { actor_id: user.id, passkey_id: passkey.id }, req.ip);
    return passkeyJson(passkey);
  });
}
