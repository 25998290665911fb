/**
 * The UI's files: the page (admin/ui/index.html, with an import map naming the ES modules), its
 * modules and stylesheet, and the toolkit's modules from node_modules (Preact, its hooks, htm;
 * uPlot for the health charts) — no CDN, no build step, all read once when the admin server loads.
 * Only listed files are served. The page's CSP allows this origin's scripts and the import map's hash.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const UI = new URL('./ui/', import.meta.url);

const TYPES: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml' };

function load(): Map<string, { type: string; body: Buffer }> {
  const files = new Map<string, { type: string; body: Buffer }>();
  for (const dir of ['', 'pages/']) {
    for (const name of readdirSync(new URL(dir, UI))) {
      const ext = name.split('.').pop() ?? '';
      if (TYPES[ext]) files.set(dir + name, { type: TYPES[ext], body: readFileSync(new URL(dir + name, UI)) });
    }
  }
  const vendor: Record<string, [string, string]> = {
    'vendor/preact.js': ['preact', 'dist/preact.module.js'],
    'vendor/hooks.js': ['preact', 'hooks/dist/hooks.module.js'],
    'vendor/htm.js': ['htm', 'dist/htm.module.js'],
    'vendor/uplot.js': ['uplot', 'dist/uPlot.esm.js'],
    'vendor/uplot.css': ['uplot', 'dist/uPlot.min.css'],
  };
  for (const [name, [pkg, file]] of Object.entries(vendor)) {
    // Source-map comments point at files this server does not serve.
    const text = readFileSync(path.join(packageDir(pkg), file), 'utf8').replace(/\n\/\/# sourceMappingURL=.*$/m, '');
    files.set(name, { type: TYPES[name.split('.').pop()!], body: Buffer.from(text) });
  }
  return files;
}

/** The folder of an installed package (their `exports` do not list the browser builds). */
function packageDir(name: string): string {
  const entry = require.resolve(name);
  const marker = `${path.sep}node_modules${path.sep}${name}${path.sep}`;
  return entry.slice(0, entry.lastIndexOf(marker) + marker.length);
}

export function staticRoutes(app: FastifyInstance): void {
  const files = load();
  const page = readFileSync(new URL('index.html', UI), 'utf8');
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page)?.[1] ?? '';
  const mapHash = createHash('sha256').update(importMap).digest('base64');
  const csp = `default-src 'self'; script-src 'self' 'sha256-${mapHash}'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'`;
  const sendPage = async (_req: unknown, reply: import('fastify').FastifyReply) =>
    reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').header('content-security-policy', csp).send(page);
  app.get('/admin', sendPage);
  app.get('/admin/', sendPage);
  app.get<{ Params: { '*': string } }>('/admin/assets/*', async (req, reply) => {
    const file = files.get(req.params['*']);
    if (!file) return reply.code(404).send({ code: 'not_found', message: 'No such admin asset' });
    return reply.header('content-type', file.type).header('cache-control', 'no-cache').send(file.body);
  });
}
