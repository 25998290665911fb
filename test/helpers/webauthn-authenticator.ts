/**
 * A software WebAuthn authenticator for tests: an ES256 (P-256) key pair and credential id, making
 * "none" attestations for creation options and signed assertions for request options, in the
 * JSON encoding browsers' `toJSON()` gives (base64url fields) — the bytes built as the WebAuthn
 * spec lays them out (authenticator data, COSE key, CBOR attestation object).
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest();
const uint32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

export function softwareAuthenticator(origin: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const credentialId = randomBytes(16);
  let counter = 0;
  const coseKey = isoCBOR.encode(
    new Map<number, number | Uint8Array>([
      [1, 2], // kty: EC2
      [3, -7], // alg: ES256
      [-1, 1], // crv: P-256
      [-2, Buffer.from(jwk.x!, 'base64url')],
      [-3, Buffer.from(jwk.y!, 'base64url')],
    ]),
  );
  const clientData = (type: string, challenge: string) => Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  return {
    credentialId: b64u(credentialId),
    /** A registration response to `options` (PublicKeyCredentialCreationOptionsJSON). */
    create(options: { challenge: string; rp: { id?: string } }, rpId = options.rp.id!) {
      const flags = 0x01 | 0x04 | 0x40; // user present, user verified, attested credential data
      const authData = Buffer.concat([sha256(rpId), Buffer.from([flags]), uint32(counter), Buffer.alloc(16), Buffer.from([0, credentialId.length]), credentialId, coseKey]);
      const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(authData)]]) as never);
      return {
        id: b64u(credentialId),
        rawId: b64u(credentialId),
        type: 'public-key',
        response: { clientDataJSON: b64u(clientData('webauthn.create', options.challenge)), attestationObject: b64u(attestationObject), transports: ['usb'] },
        clientExtensionResults: {},
        authenticatorAttachment: 'cross-platform',
      };
    },
    /** An assertion for `options` (PublicKeyCredentialRequestOptionsJSON), signed with the credential's key; a passkey names its user. */
    get(options: { challenge: string; rpId?: string }, rpId = options.rpId!, userHandle?: string) {
      counter++;
      const authData = Buffer.concat([sha256(rpId), Buffer.from([0x01 | 0x04]), uint32(counter)]);
      const data = clientData('webauthn.get', options.challenge);
      const signature = sign('sha256', Buffer.concat([authData, sha256(data)]), privateKey);
      return {
        id: b64u(credentialId),
        rawId: b64u(credentialId),
        type: 'public-key',
        response: { clientDataJSON: b64u(data), authenticatorData: b64u(authData), signature: b64u(signature), ...(userHandle ? { userHandle: b64u(userHandle) } : {}) },
        clientExtensionResults: {},
        authenticatorAttachment: 'cross-platform',
      };
    },
  };
}
