/**
 * TOTP factors as GoTrue makes and checks them (internal/api/mfa.go: pquerna/otp's totp.Generate
 * and ValidateCustom): a 20-byte random secret in base32, SHA-1, 6 digits, 30-second steps, one
 * step of skew either way; the otpauth:// URI and its QR code as SVG (auth-js turns the SVG into
 * a data URI). RFC 6238 arithmetic is otpauth's; the QR code is qrcode's.
 */
import { Secret, TOTP } from 'otpauth';

const PARAMS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;

export interface NewTotp {
  secret: string;
  uri: string;
  /** SVG markup (GoTrue's `totp.qr_code`). */
  qrCode: string;
}

/** A new secret for `accountName` (the user's email) under `issuer`, with its URI and QR code. */
export async function newTotp(issuer: string, accountName: string): Promise<NewTotp> {
  const totp = new TOTP({ ...PARAMS, issuer, label: accountName, secret: new Secret({ size: 20 }) });
  const uri = totp.toString();
  // GoTrue encodes with error correction level H. qrcode (~60 modules) loads on the first enrolment.
  const { default: QRCode } = await import('qrcode');
  const qrCode = await QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'H', margin: 1 });
  return { secret: totp.secret.base32, uri, qrCode };
}

/** Is `code` the current code of `secret`, or the one just before or after? */
export function validTotp(secret: string, code: string, now = Date.now()): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  return TOTP.validate({ ...PARAMS, token: code, secret: Secret.fromBase32(secret), timestamp: now, window: 1 }) !== null;
}

/** The code of `secret` at `now` (tests and tools that play the authenticator app). */
export function totpCode(secret: string, now = Date.now()): string {
  return TOTP.generate({ ...PARAMS, secret: Secret.fromBase32(secret), timestamp: now });
}
