/**
 * `POST /factors/{factor_id}/challenge` (mfa.challenge): a challenge of the caller's factor, bound
 * to the client address, valid 300 s (GoTrue's challengeTOTPFactor / challengeWebAuthnFactor). A
 * WebAuthn factor's challenge carries the options of its ceremony: creation while the factor is
 * unverified (the user's other credentials excluded), request once it is verified.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { audit, createChallenge, factorsOf, withTransaction, type FactorRow, type UserRow } from '../../store/index.ts';
import { creationOptions, requestOptions, type StoredCredential } from '../../webauthn.ts';
import { mfaCaller, ownedFactor } from './caller.ts';

/** The ceremony of a WebAuthn factor's next challenge, as GoTrue answers it. */
async function webauthnCeremony(d: AuthDeps, user: UserRow, factor: FactorRow) {
  const rp = d.config.auth.webauthn;
  if (factor.status === 'verified' && factor.web_authn_credential) {
    const { options, session } = await requestOptions(rp, factor.web_authn_credential as unknown as StoredCredential);
    return { session, answer: { type: 'request', credential_options: { publicKey: options } } };
  }
  const others = (await factorsOf(d.pool, user.id)).flatMap((f) => (f.factor_type === 'webauthn' && f.web_authn_credential ? [f.web_authn_credential as unknown as StoredCredential] : []));
  const { options, session } = await creationOptions(rp, user, others);
  return { session, answer: { type: 'create', credential_options: { publicKey: options } } };
}

export async function challenge(d: AuthDeps, req: FastifyRequest) {
  const { user } = await mfaCaller(d, req);
  const factor = await ownedFactor(d, req, user.id);
  d.mfaChallengeByIp.hit(req.ip);
  if (factor.factor_type === 'phone') throw AUTH_ERRORS.mfaVerifyDisabled('phone', 'Phone');
  if (factor.factor_type === 'webauthn' && !d.config.auth.webauthn.enabled) throw AUTH_ERRORS.mfaVerifyDisabled('webauthn', 'WebAuthn');
  const ceremony = factor.factor_type === 'webauthn' ? await webauthnCeremony(d, user, factor) : undefined;
  return withTransaction(d.pool, async (c) => {
    const created = await createChallenge(c, factor.id, req.ip, d.config.auth.mfa.challengeExpiry, { webauthnSession: ceremony?.session });
    await audit(c, 'challenge_created', { actor_id: user.id, factor_id: factor.id, factor_status: factor.status }, req.ip);
    return { id: created.id, type: factor.factor_type, expires_at: created.expiresAt, ...(ceremony ? { webauthn: ceremony.answer } : {}) };
  });
}
