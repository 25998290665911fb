/**
 * Users of provider sign-ins (OAuth callbacks, auth/routes/oauth.ts, and ID tokens,
 * auth/routes/token/id-token.ts): the identity's user, or the user with the same verified
 * address, or a new user — GoTrue's createAccountFromExternalIdentity without manual linking.
 */
import type pg from 'pg';
import { AUTH_ERRORS } from './errors.ts';
import { audit, clearPassword, createIdentity, createProviderUser, findUserByEmail, findUserById, findUserOfProviderByEmail, mergeProvider, touchIdentity, type UserRow } from './store/index.ts';

/** What we keep of a provider's profile (also the identity's identity_data). */
export interface Profile {
  id: string;
  email?: string;
  emailVerified: boolean;
  data: Record<string, unknown>;
}

/** The profile without empty fields (what identity_data keeps). */
export const clean = (data: Record<string, unknown>) => Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined && v !== null));

/**
 * The user for a provider identity: known identity, link by verified email, or a new user. An SSO
 * provider (`sso: true`, name `sso:<id>`) is its own linking domain, as in GoTrue's
 * models.DetermineAccountLinking: it links only to users it made, and makes is_sso_user users
 * whose address may also be a password user's.
 */
export async function userForProfile(c: pg.PoolClient, name: string, p: Profile, opts: { sso?: boolean } = {}): Promise<UserRow> {
  const data = clean(p.data);
  let userId = await touchIdentity(c, name, p.id, data);
  if (!userId && opts.sso) {
    userId = p.email ? await findUserOfProviderByEmail(c, name, p.email) : undefined;
    if (!userId) {
      userId = await createProviderUser(c, { email: p.email ?? null, confirmed: p.emailVerified, appMetadata: { provider: name, providers: [name] }, userMetadata: data, ssoUser: true });
      await audit(c, 'user_signedup', { actor_id: userId, provider: name });
    }
    await createIdentity(c, p.id, userId, name, data);
  }
  if (!userId) {
    const existing = p.email ? await findUserByEmail(c, p.email) : undefined;
    if (existing && !p.emailVerified) throw AUTH_ERRORS.emailExists();
    if (existing) {
      // Linking by a verified address. An unconfirmed account may have been pre-registered by
      // someone else: its password goes, the provider proves the address now.
      if (!existing.email_confirmed_at) await clearPassword(c, existing.id);
      userId = existing.id;
    } else {
      // An address the provider has not verified stays in identity_data only: on the user it would
      // claim the address, and the real owner confirming it later (sign-up, magic link) would land
      // in the account this identity signs into.
      userId = await createProviderUser(c, {
        email: p.emailVerified ? (p.email ?? null) : null,
        confirmed: p.emailVerified,
        appMetadata: { provider: name, providers: [name] },
        userMetadata: data,
      });
    }
    await createIdentity(c, p.id, userId, name, data);
    await audit(c, 'user_signedup', { actor_id: userId, provider: name });
  }
  await mergeProvider(c, userId, name, data, p.emailVerified, p.email ?? '');
  const user = await findUserById(c, userId);
  if (!user) throw AUTH_ERRORS.userNotFound();
  if (user.banned_until && user.banned_until > new Date()) throw AUTH_ERRORS.userBanned();
  return user;
}

