/**
 * Who is calling the token endpoint (GoTrue's ExtractClientCredentials + requireOAuthClientAuth):
 * `Authorization: Basic base64(client_id:client_secret)` (client_secret_basic), or client_id and
 * client_secret in the body (client_secret_post), or client_id alone (none, public clients). The
 * method used must be the one the client registered, and a confidential client's secret must match.
 */
import type { FastifyRequest } from 'fastify';
import type { AuthDeps } from '../../deps.ts';
import { str, type Body } from '../../http.ts';
import { findOAuthClient, isUuid, type OAuthClientRow } from '../../store/oauth-server.ts';
import { clientSecretMatches, OAUTH_SERVER_ERRORS } from './common.ts';

interface Credentials {
  clientId: string;
  secret: string;
  method: OAuthClientRow['token_endpoint_auth_method'];
}

const refused = (why: string) => OAUTH_SERVER_ERRORS.badClient(`Invalid client credentials: ${why}`);

function credentialsOf(req: FastifyRequest, body: Body): Credentials {
  const header = str(req.headers.authorization) ?? '';
  if (header.startsWith('Basic ')) {
    const encoded = header.slice('Basic '.length);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw refused('invalid basic auth encoding');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw refused('invalid basic auth format');
    return { clientId: decoded.slice(0, colon), secret: decoded.slice(colon + 1), method: 'client_secret_basic' };
  }
  const clientId = str(body.client_id) ?? '';
  const secret = str(body.client_secret) ?? '';
  if (!clientId) throw refused('client_id is required');
  return { clientId, secret, method: secret ? 'client_secret_post' : 'none' };
}

/** The authenticated client, or GoTrue's 400 invalid_credentials (with `error: invalid_client`). */
export async function authenticateClient(d: AuthDeps, req: FastifyRequest, body: Body): Promise<OAuthClientRow> {
  const creds = credentialsOf(req, body);
  if (!isUuid(creds.clientId)) throw OAUTH_SERVER_ERRORS.badClient('Invalid client_id format');
  const client = await findOAuthClient(d.pool, creds.clientId);
  if (!client) throw OAUTH_SERVER_ERRORS.badClient('Invalid client credentials');
  if (creds.method !== client.token_endpoint_auth_method) {
    throw OAUTH_SERVER_ERRORS.badClient(`invalid authentication method: client is registered for '${client.token_endpoint_auth_method}' but '${creds.method}' was used`);
  }
  if (client.client_type === 'public') {
    if (creds.secret) throw OAUTH_SERVER_ERRORS.badClient('public clients must not provide client_secret');
  } else if (!creds.secret) {
    throw OAUTH_SERVER_ERRORS.badClient('confidential clients must provide client_secret');
  } else if (!clientSecretMatches(creds.secret, client.client_secret_hash)) {
    throw OAUTH_SERVER_ERRORS.badClient('invalid client credentials');
  }
  return client;
}
