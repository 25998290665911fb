/**
 * `POST /factors` (mfa.enroll): a new unverified TOTP factor with its secret, otpauth:// URI and
 * QR code (SVG), after GoTrue's checks (validateFactors): friendly names unique per user, at most
 * AUTH_MFA_MAX_ENROLLED_FACTORS factors and 10 verified ones, aal2 needed once one is verified.
 * WebAuthn factors (AUTH_MFA_WEBAUTHN_ENABLED) get their credential at the first challenge and
 * verify. Phone factors answer as a GoTrue with them off (its default).
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { AUTH_ERRORS } from '../../errors.ts';
import { bodyOf, str } from '../../http.ts';
import { audit, createFactor, deleteExpiredFactors, factorsOf, withTransaction } from '../../store/index.ts';
import { newTotp } from '../../totp.ts';
import { mfaCaller, type MfaCaller } from './caller.ts';

async function checkCanEnroll(d: AuthDeps, { user, session }: MfaCaller, friendlyName: string): Promise<void> {
  const { mfa } = d.config.auth;
  await deleteExpiredFactors(d.pool, mfa.factorExpiry);
  const factors = await factorsOf(d.pool, user.id);
  if (factors.some((f) => (f.friendly_name ?? '') === friendlyName)) throw AUTH_ERRORS.factorNameConflict(friendlyName);
  const verified = factors.filter((f) => f.status === 'verified').length;
  if (factors.length >= mfa.maxEnrolledFactors || verified >= mfa.maxVerifiedFactors) throw AUTH_ERRORS.tooManyFactors();
  if (verified > 0 && session.aal !== 'aal2') throw AUTH_ERRORS.aal2ToEnroll();
}

/** The issuer of a TOTP factor: the one asked for, else SITE_URL's host (as GoTrue). */
function issuerOf(d: AuthDeps, asked: string | undefined): string {
  return asked || new URL(d.config.auth.siteUrl).host;
}

export async function enroll(d: AuthDeps, req: FastifyRequest) {
  const caller = await mfaCaller(d, req);
  const body = bodyOf(req);
  const type = str(body.factor_type);
  if (type === 'phone') throw AUTH_ERRORS.mfaEnrollDisabled('phone', 'Phone');
  if (type === 'webauthn' && !d.config.auth.webauthn.enabled) throw AUTH_ERRORS.mfaEnrollDisabled('webauthn', 'WebAuthn');
  if (type !== 'totp' && type !== 'webauthn') throw AUTH_ERRORS.factorTypeInvalid();
  const friendlyName = str(body.friendly_name) ?? '';
  if (type === 'webauthn') {
    // Its credential comes with the first challenge and verify (a "create" ceremony).
    await checkCanEnroll(d, caller, friendlyName);
    const factor = await withTransaction(d.pool, async (c) => {
      const f = await createFactor(c, { userId: caller.user.id, friendlyName, type: 'webauthn' });
      await audit(c, 'factor_in_progress', { actor_id: caller.user.id, factor_id: f.id, factor_type: 'webauthn' }, req.ip);
      return f;
    });
    return { id: factor.id, type: 'webauthn', friendly_name: friendlyName };
  }
  const issuer = issuerOf(d, str(body.issuer));
  await checkCanEnroll(d, caller, friendlyName);
  const totp = await newTotp(issuer, caller.user.email ?? '');
  const factor = await withTransaction(d.pool, async (c) => {
    const f = await createFactor(c, { userId: caller.user.id, friendlyName, type: 'totp', secret: totp.secret });
    await audit(c, 'factor_in_progress', { actor_id: caller.user.id, factor_id: f.id }, req.ip);
    return f;
  });
  const json: Record<string, unknown> = { id: factor.id, type: 'totp', friendly_name: friendlyName, totp: { qr_code: totp.qrCode, secret: totp.secret, uri: totp.uri } };
  return json;
}
