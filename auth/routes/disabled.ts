/**
 * Features this build does not offer: SAML and manual identity linking answer as a GoTrue with
 * them switched off — signInWithSSO (and the SAML endpoints) before reading anything,
 * linkIdentity/unlinkIdentity after the caller's session is checked.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../deps.ts';
import { AUTH_ERRORS } from '../errors.ts';

export async function samlDisabled(): Promise<never> {
  throw AUTH_ERRORS.samlDisabled();
}

export async function manualLinkingDisabled(d: AuthDeps, req: FastifyRequest): Promise<never> {
  await d.currentUser(req);
  throw AUTH_ERRORS.manualLinkingDisabled();
}
