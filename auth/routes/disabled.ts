/**
 * Features this build does not offer: SAML answers as a GoTrue with it switched off —
 * signInWithSSO (and the SAML endpoints) before reading anything.
 */
import { AUTH_ERRORS } from '../errors.ts';

export async function samlDisabled(): Promise<never> {
  throw AUTH_ERRORS.samlDisabled();
}
