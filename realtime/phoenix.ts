/**
 * Phoenix channel wire format as @supabase/realtime-js speaks it (docs/protocols.md §1.2): vsn 1.0.0
 * JSON objects, vsn 2.0.0 JSON arrays, and the binary user-broadcast frames of vsn 2.0.0
 * (kind 3 client → server, kind 4 server → client).
 */

export interface PhxMessage {
  join_ref: string | null;
  ref: string | null;
  topic: string;
  event: string;
  payload: unknown;
}

export type Vsn = '1.0.0' | '2.0.0';

const KIND_USER_BROADCAST_PUSH = 3;
const KIND_USER_BROADCAST = 4;

/** Decodes a client frame; undefined when it is not a valid message. */
export function decode(data: Buffer | string, isBinary: boolean, vsn: Vsn): PhxMessage | undefined {
  if (isBinary) return vsn === '2.0.0' ? decodeBinary(Buffer.isBuffer(data) ? data : Buffer.from(data)) : undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString());
  } catch {
    return undefined;
  }
  if (Array.isArray(parsed)) {
    const [join_ref, ref, topic, event, payload] = parsed;
    if (typeof topic !== 'string' || typeof event !== 'string') return undefined;
    return { join_ref: join_ref ?? null, ref: ref ?? null, topic, event, payload };
  }
  if (parsed && typeof parsed === 'object') {
    const m = parsed as Record<string, unknown>;
    if (typeof m.topic !== 'string' || typeof m.event !== 'string') return undefined;
    return { join_ref: (m.join_ref as string) ?? null, ref: (m.ref as string) ?? null, topic: m.topic, event: m.event, payload: m.payload };
  }
  return undefined;
}

function decodeBinary(buf: Buffer): PhxMessage | undefined {
  if (buf.length < 7 || buf[0] !== KIND_USER_BROADCAST_PUSH) return undefined;
  const [joinRefLen, refLen, topicLen, eventLen, metaLen, encoding] = [buf[1], buf[2], buf[3], buf[4], buf[5], buf[6]];
  let at = 7;
  const take = (n: number) => {
    const s = buf.subarray(at, at + n).toString('utf8');
    at += n;
    return s;
  };
  const join_ref = take(joinRefLen);
  const ref = take(refLen);
  const topic = take(topicLen);
  const userEvent = take(eventLen);
  take(metaLen);
  if (at > buf.length) return undefined;
  const rest = buf.subarray(at);
  let userPayload: unknown;
  if (encoding === 1) {
    try {
      userPayload = JSON.parse(rest.toString('utf8') || '{}');
    } catch {
      return undefined;
    }
  } else userPayload = rest;
  return { join_ref: join_ref || null, ref: ref || null, topic, event: 'broadcast', payload: { type: 'broadcast', event: userEvent, payload: userPayload } };
}

/** Encodes a server message for a socket of the given version. */
export function encode(msg: PhxMessage, vsn: Vsn): string {
  if (vsn === '2.0.0') return JSON.stringify([msg.join_ref, msg.ref, msg.topic, msg.event, msg.payload]);
  return JSON.stringify({ topic: msg.topic, event: msg.event, payload: msg.payload, ref: msg.ref });
}

/** A user broadcast as the kind-4 binary frame vsn 2.0.0 clients decode. */
export function encodeUserBroadcast(topic: string, userEvent: string, payload: unknown): Buffer {
  const isBinary = Buffer.isBuffer(payload) || payload instanceof ArrayBuffer;
  const body = isBinary ? Buffer.from(payload as Buffer) : Buffer.from(JSON.stringify(payload ?? {}));
  const t = Buffer.from(topic);
  const e = Buffer.from(userEvent);
  const header = Buffer.from([KIND_USER_BROADCAST, t.length, e.length, 0, isBinary ? 0 : 1]);
  return Buffer.concat([header, t, e, body]);
}
