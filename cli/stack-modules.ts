/**
 * What cli/stack.ts builds the stack from past Postgres and the migrations: the pools, the
 * services (cli/registry.ts), the gateway, the jobs, ops, the admin dashboard's stub and projects —
 * about 1,500 modules, most of the start time of Node. cli/stack.ts imports this module
 * dynamically, while the embedded Postgres starts and migrates (a separate process: the second
 * core), instead of before; what starting Postgres needs stays static there (the migrations
 * module is imported when they run, cli/stack.ts startMigratedDatabase).
 */
export { createPools } from '../db/pool.ts';
export { buildGatewayApp } from '../gateway/app.ts';
export { buildEmbeddedEdge } from '../gateway/embedded-edge.ts';
export { createRequestLogSink } from '../gateway/request-log-sink.ts';
export { createEdgeGuard } from '../gateway/edge.ts';
export { superAdminAudit } from '../core/super-admin-audit.ts';
export { checkHealth, httpHealthCheck } from '../gateway/health.ts';
export { createJwtVerifier } from '../core/jwt.ts';
export { setMetricsEnabled } from '../core/metrics.ts';
export { lastVerification } from '../backup/verify.ts';
export { startJobs } from '../jobs/index.ts';
export { SERVICE_FACTORIES } from './registry.ts';
export { metricsOnly, startOps } from '../ops/index.ts';
export { mountAdmin } from '../admin/mount.ts';
export { startProjects } from '../projects/index.ts';
