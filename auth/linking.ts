/**
 * Manual identity linking (GoTrue's linkIdentityToUser and DeleteIdentity,
 * internal/api/identity.go): a provider identity joins the signed-in user who started the OAuth
 * round trip, and an identity is unlinked, the user's address then following the identities left.
 */
import type pg from 'pg';
import type { AuthDeps } from './deps.ts';
import { AuthError, AUTH_ERRORS } from './errors.ts';
import {
  audit,
  clearPhone,
  createIdentity,
  deleteIdentity,
  findIdentity,
  findUserByEmail,
  findUserById,
  identitiesOf,
  setPrimaryEmail,
  syncProviders,
  updateUser,
  type IdentityRow,
  type UserRow,
} from './store/index.ts';

export interface LinkedProfile {
  id: string;
  email?: string;
  emailVerified: boolean;
  data: Record<string, unknown>;
}

/**
 * Links `profile` of `provider` to user `targetId`. The user, or — a user without an address
 * taking the identity's unverified one — the refusal to answer once this transaction commits
 * (GoTrue commits the link and the confirmation mail, then answers 422).
 */
export async function linkProfile(
  d: AuthDeps,
  c: pg.PoolClient,
  targetId: string,
  provider: string,
  profile: LinkedProfile,
  redirectTo: string,
): Promise<{ user: UserRow } | { afterCommit: AuthError }> {
  const known = await findIdentity(c, provider, profile.id);
  if (known) {
    throw new AuthError(422, 'identity_already_exists', known.user_id === targetId ? 'Identity is already linked' : 'Identity is already linked to another user');
  }
  const target = await findUserById(c, targetId);
  if (!target) throw AUTH_ERRORS.userNotFound();
  await createIdentity(c, profile.id, targetId, provider, profile.data);
  await audit(c, 'identity_linked', { actor_id: targetId, provider, provider_id: profile.id });
  await syncProviders(c, targetId);
  if (!target.email && profile.email) {
    if (await findUserByEmail(c, profile.email)) throw new AuthError(400, 'email_exists', 'A user with this email address has already been registered');
    if (!profile.emailVerified) {
      await setPrimaryEmail(c, targetId, profile.email, false);
      await d.mail.send(c, [{ action: 'signup', user_id: targetId, email: profile.email, redirect_to: redirectTo }]);
      return { afterCommit: new AuthError(422, 'email_not_confirmed', `Unverified email with ${provider}. A confirmation email has been sent to your ${provider} email`) };
    }
    await updateUser(c, targetId, { email: profile.email, confirmEmail: true, notAnonymous: true });
  }
  return { user: (await findUserById(c, targetId))! };
}

/** Identities with a verified address first, then unverified ones, then none; oldest first within each. */
function rank(i: IdentityRow): number {
  if (!i.email) return 2;
  return i.identity_data.email_verified === true ? 0 : 1;
}

/**
 * Unlinks identity `identityId` of `user` (never the last one). When the user's address was that
 * identity's, the best remaining identity's address not taken by another user becomes it.
 */
export async function unlinkIdentity(d: AuthDeps, c: pg.PoolClient, user: UserRow, identityId: string): Promise<void> {
  const identities = await identitiesOf(c, user.id);
  if (identities.length <= 1) throw new AuthError(422, 'single_identity_not_deletable', 'User must have at least 1 identity after unlinking');
  const gone = identities.find((i) => i.id === identityId);
  if (!gone) throw new AuthError(422, 'identity_not_found', "Identity doesn't exist");
  await audit(c, 'identity_unlinked', { actor_id: user.id, identity_id: gone.id, provider: gone.provider, provider_id: gone.provider_id });
  await deleteIdentity(c, gone.id);
  const left = identities.filter((i) => i.id !== gone.id);
  if (gone.provider === 'phone') {
    await clearPhone(c, user.id);
  } else if (!left.some((i) => (i.email ?? '') === (user.email ?? ''))) {
    const ordered = [...left].sort((a, b) => rank(a) - rank(b) || a.created_at.getTime() - b.created_at.getTime() || a.id.localeCompare(b.id));
    let primary: IdentityRow | undefined;
    for (const i of ordered) {
      const holder = i.email ? await findUserByEmail(c, i.email) : undefined;
      if (!holder || holder.id === user.id) {
        primary = i;
        break;
      }
    }
    if (!primary) throw new AuthError(422, 'email_conflict_identity_not_deletable', 'Unable to unlink identity due to email conflict');
    const confirmed = !!primary.email && (rank(primary) === 0 || d.config.auth.autoconfirm);
    await setPrimaryEmail(c, user.id, primary.email || null, confirmed);
  }
  await syncProviders(c, user.id);
}
