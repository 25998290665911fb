/**
 * Deployment hooks, turned into alert events (ops/alerts/engine.ts): a failed deployment is a
 * critical event, a successful one an info event, each sent once to every alert channel.
 *
 * - POST /ops/hooks/dokploy: Dokploy's "Custom"/webhook notifications (docs/operations.md):
 *   `{title, message, projectName, applicationName, errorMessage, buildLink, status: "error"|"success", type: "build"}`,
 *   or the per-application webhook shape `{event: "deployment.failed"|"deployment.success"|…, deployment: {deploymentId}, entity: {name}, project: {name}}`.
 * - POST /ops/hooks/deploy: any CI: `{status: "succeeded"|"failed", service?, environment?, message?, url?, id?}`.
 *
 * Authenticated by DEPLOY_HOOK_TOKEN or the service_role key (`?token=` or `Authorization: Bearer`).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { presentedToken, tokenMatches } from './access.ts';
import type { AlertEngine } from './alerts/engine.ts';
import type { NewAlert } from './store.ts';

export interface Deployment {
  outcome: 'failed' | 'succeeded' | 'other';
  name: string;
  id?: string;
  message?: string;
  url?: string;
}

const str = (v: unknown, max = 500): string | undefined => (typeof v === 'string' && v.trim() ? v.trim().slice(0, max) : undefined);
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Dokploy's payloads (both shapes) as a deployment. */
export function fromDokploy(body: Record<string, unknown>): Deployment {
  const event = str(body.event);
  const status = str(body.status)?.toLowerCase();
  const outcome = event
    ? event === 'deployment.failed' ? 'failed' : event === 'deployment.success' ? 'succeeded' : 'other'
    : status === 'error' ? 'failed' : status === 'success' ? 'succeeded' : 'other';
  const project = str(body.projectName) ?? str(obj(body.project).name);
  const app = str(body.applicationName) ?? str(obj(body.entity).name) ?? 'application';
  return {
    outcome,
    name: project ? `${project}/${app}` : app,
    id: str(obj(body.deployment).deploymentId),
    message: str(body.errorMessage) ?? str(body.message) ?? str(body.title) ?? event,
    url: str(body.buildLink) ?? str(obj(body.entity).url),
  };
}

/** The generic hook's payload as a deployment. */
export function fromGeneric(body: Record<string, unknown>): Deployment | undefined {
  const status = str(body.status)?.toLowerCase();
  const outcome = status && ['failed', 'failure', 'error'].includes(status) ? 'failed' : status && ['succeeded', 'success', 'ok'].includes(status) ? 'succeeded' : undefined;
  if (!outcome) return undefined;
  const service = str(body.service, 200) ?? 'deployment';
  const env = str(body.environment, 100);
  return { outcome, name: env ? `${service} (${env})` : service, id: str(body.id, 200), message: str(body.message), url: str(body.url) };
}

export function deploymentAlert(d: Deployment, source: string): NewAlert {
  const what = d.outcome === 'failed' ? 'failed' : d.outcome === 'succeeded' ? 'succeeded' : 'reported';
  return {
    rule: d.outcome === 'failed' ? 'deploy_failed' : 'deploy_event',
    key: `${source}:${d.id ?? randomUUID()}`,
    severity: d.outcome === 'failed' ? 'critical' : 'info',
    summary: `deployment of ${d.name} ${what}${d.message ? `: ${d.message.split('\n')[0].slice(0, 300)}` : ''}`,
    details: { source, name: d.name, outcome: d.outcome, ...(d.url && { url: d.url }), ...(d.message && { message: d.message }) },
  };
}

export function deployHooks(app: FastifyInstance, opts: { engine: AlertEngine; serviceRoleKey: string; token?: string }): void {
  const allowed = (req: FastifyRequest) => {
    const q = (req.query as Record<string, unknown>).token;
    return tokenMatches(typeof q === 'string' ? q : presentedToken(req.headers), [opts.token, opts.serviceRoleKey]);
  };
  const handle = (source: string, parse: (body: Record<string, unknown>) => Deployment | undefined) => async (req: FastifyRequest, reply: FastifyReply) => {
    if (!allowed(req)) return reply.code(401).send({ code: 'unauthorized', message: 'A deployment hook needs DEPLOY_HOOK_TOKEN or the service_role key (?token= or Authorization: Bearer …)' });
    if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) return reply.code(400).send({ code: 'bad_request', message: 'The body must be a JSON object' });
    const d = parse(req.body as Record<string, unknown>);
    if (!d) return reply.code(400).send({ code: 'bad_request', message: 'status must be "succeeded" or "failed"' });
    try {
      const recorded = await opts.engine.event(deploymentAlert(d, source));
      return reply.code(202).send({ accepted: true, outcome: d.outcome, alert: recorded ? recorded.id : null });
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'ops: deployment hook not recorded');
      return reply.code(503).send({ code: 'database_unavailable', message: 'The deployment could not be recorded; retry later' });
    }
  };
  app.post('/ops/hooks/dokploy', handle('dokploy', fromDokploy));
  app.post('/ops/hooks/deploy', handle('deploy', fromGeneric));
}
