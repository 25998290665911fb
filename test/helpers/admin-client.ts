/** A browser-like client of the admin dashboard's API: one cookie jar, the CSRF token it was given. */
export class AdminClient {
  readonly base: string;
  cookie: string | undefined;
  csrf: string | undefined;

  constructor(base: string) {
    this.base = base;
  }

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; headers: Headers }> {
    const h: Record<string, string> = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (this.csrf && method !== 'GET' && !('x-csrf-token' in headers)) h['x-csrf-token'] = this.csrf;
    let payload: string | Buffer | undefined;
    if (Buffer.isBuffer(body)) payload = body;
    else if (body !== undefined) {
      payload = JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${this.base}${path}`, { method, headers: h, body: payload });
    const set = res.headers.get('set-cookie');
    if (set) {
      const value = set.split(';')[0];
      this.cookie = value.endsWith('=') ? undefined : value;
    }
    const text = await res.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {
      // not JSON (a downloaded file)
    }
    return { status: res.status, json, headers: res.headers };
  }

  async login(email: string, password: string, code?: string) {
    const r = await this.call('POST', '/admin/api/login', { email, password, code });
    if (r.status === 200) this.csrf = r.json.csrfToken;
    return r;
  }
}
