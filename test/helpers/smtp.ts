/**
 * A real SMTP server in-process (smtp-server) that keeps what it receives, for tests that follow
 * the links of auth mails: `const smtp = await startSmtp(); … const mail = await smtp.next('ann@x.y')`.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  to: string[];
  subject: string;
  /** The decoded message (quoted-printable undone): search it for links and codes. */
  text: string;
  /** The first /auth/v1/verify link of the mail. */
  link: string;
  /** The 6-digit code of the mail. */
  code: string;
}

export interface TestSmtp {
  port: number;
  received: ReceivedMail[];
  /** The next mail to `to` not yet taken (waits up to 5 s). */
  next(to: string): Promise<ReceivedMail>;
  /** Mails to `to` not yet taken, after waiting `ms` (to assert that none came). */
  pending(to: string, ms?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

function decodeQuotedPrintable(s: string): string {
  const bytes = s.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

function parse(raw: string, to: string[]): ReceivedMail {
  const [head] = raw.split(/\r?\n\r?\n/);
  const subject = /^Subject: (.*)$/m.exec(head)?.[1] ?? '';
  const text = decodeQuotedPrintable(raw);
  const link = (/https?:\/\/[^\s"<>]+\/auth\/v1\/verify\?[^\s"<>]+/.exec(text)?.[0] ?? '').replace(/&amp;/g, '&');
  const code = /code: (\d{6})/.exec(text)?.[1] ?? '';
  return { to, subject, text, link, code };
}

/** `port`: a fixed port (e.g. to bring the server up where a stack already expects it); default any free port. */
export async function startSmtp(port = 0): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const taken = new Set<ReceivedMail>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push(parse(Buffer.concat(chunks).toString('latin1'), session.envelope.rcptTo.map((r) => r.address.toLowerCase())));
        callback();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const bound = (server.server.address() as AddressInfo).port;
  const untaken = (to: string) => received.filter((m) => !taken.has(m) && m.to.includes(to.toLowerCase()));
  return {
    port: bound,
    received,
    async next(to) {
      for (let i = 0; i < 250; i++) {
        const mail = untaken(to)[0];
        if (mail) {
          taken.add(mail);
          return mail;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error(`no mail to ${to} within 5 s`);
    },
    async pending(to, ms = 300) {
      await new Promise((r) => setTimeout(r, ms));
      return untaken(to);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
