/**
 * Refresh-token rotation with reuse detection, as GoTrue does it, for first-party sessions
 * (auth/routes/token/refresh.ts) and OAuth clients' (auth/routes/oauth-server/token-refresh.ts):
 * a live token is replaced by a new one; a revoked one is accepted again only within
 * AUTH_REFRESH_REUSE_INTERVAL and answers with its live child; otherwise it was replayed — a stolen
 * token — and the whole session ends (every token of the family), audited.
 */
import type pg from 'pg';
import type { Config } from '../config/load.ts';
import { audit, deleteSession, liveChildToken, newRefreshToken, rotateRefreshToken, type RefreshTokenRow } from './store/index.ts';

export async function nextRefreshToken(
  c: pg.PoolClient,
  config: Config,
  rt: RefreshTokenRow,
  ip: string,
  auditDetail: Record<string, unknown> = {},
): Promise<string | 'reused'> {
  if (!rt.revoked) {
    const next = newRefreshToken();
    await rotateRefreshToken(c, rt, next);
    return next;
  }
  const child = await liveChildToken(c, rt.token);
  if (child && Date.now() - rt.updated_at.getTime() <= config.auth.refreshReuseInterval * 1000) return child;
  await deleteSession(c, rt.session_id);
  await audit(c, 'token_revoked', { actor_id: rt.user_id, reason: 'refresh_token_reused', ...auditDetail }, ip);
  return 'reused';
}
