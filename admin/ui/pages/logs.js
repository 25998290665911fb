// Logs and jobs: the gateway's recent requests (nextmavens.request_log) and the audit log (admin
// actions, DDL, auth events), each with filters, failed graphile-worker jobs and webhook
// deliveries, each with retry.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

const REQUEST_FILTERS = ['service', 'status', 'method', 'path', 'role', 'tenant', 'from', 'to'];
const SERVICES = ['rest', 'graphql', 'auth', 'realtime', 'storage'];

/** A datetime-local value (the browser's time zone) as ISO 8601, '' when empty. */
const isoOf = (local) => (local ? new Date(local).toISOString() : '');

function RequestLogs() {
  const [filter, setFilter] = useState({});
  // The `before` cursors of the pages shown so far (the first page has none).
  const [pages, setPages] = useState(['']);
  const before = pages[pages.length - 1];
  const query = new URLSearchParams(Object.entries({ ...filter, before }).filter(([, v]) => v));
  const [page, error, reload] = useLoad(() => api('GET', `/logs/requests?${query}`), [query.toString()]);
  const submit = (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const next = {};
    for (const name of REQUEST_FILTERS) next[name] = String(form.get(name) ?? '').trim();
    next.from = isoOf(next.from);
    next.to = isoOf(next.to);
    setFilter(next);
    setPages(['']);
  };
  return html`<section><h2>Request logs</h2>
    <${Alert} error=${error} />
    ${page && !page.kept && html`<p>Requests are not kept (REQUEST_LOG_RETENTION_HOURS=0).</p>`}
    <form class="toolbar" onSubmit=${submit} aria-label="Filter the request logs">
      <label for="req-service">Service</label><select id="req-service" name="service"><option value="">any</option>${SERVICES.map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <label for="req-status">Status</label><select id="req-status" name="status"><option value="">any</option>${['2xx', '3xx', '4xx', '5xx'].map((s) => html`<option value=${s}>${s}</option>`)}</select>
      <label for="req-method">Method</label><select id="req-method" name="method"><option value="">any</option>${['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'].map((m) => html`<option value=${m}>${m}</option>`)}</select>
      <label for="req-path">Path contains</label><input id="req-path" name="path" />
      <label for="req-role">Role</label><input id="req-role" name="role" size="10" />
      <label for="req-tenant">Tenant</label><input id="req-tenant" name="tenant" size="12" />
      <label for="req-from">From</label><input id="req-from" name="from" type="datetime-local" />
      <label for="req-to">To</label><input id="req-to" name="to" type="datetime-local" />
      <button type="submit">Filter</button>
      <button type="button" onClick=${reload}>Refresh</button>
    </form>
    <table class="grid" aria-label="Requests"><thead><tr><th>at</th><th>method</th><th>path</th><th>status</th><th>ms</th><th>service</th><th>role</th><th>tenant</th><th>address</th><th>request id</th></tr></thead>
      <tbody>${(page?.entries ?? []).length ? page.entries.map((r) => html`<tr><td>${new Date(r.at).toLocaleString()}</td><td>${r.method}</td><td class="path">${r.path}</td><td>${r.status}</td><td>${r.duration_ms}</td><td>${r.service ?? r.route}</td><td>${r.role ?? ''}</td><td>${r.tenant_id ?? ''}</td><td>${r.ip ?? ''}</td><td>${r.request_id}</td></tr>`) : html`<tr><td colspan="10">none</td></tr>`}</tbody></table>
    <div class="toolbar">
      <button type="button" disabled=${pages.length === 1} onClick=${() => setPages(pages.slice(0, -1))}>Newer</button>
      <button type="button" disabled=${!page?.next} onClick=${() => setPages([...pages, page.next])}>Older</button>
    </div>
  </section>`;
}

export function LogsPage({ me }) {
  const canWrite = me.admin.role !== 'read_only';
  const [filter, setFilter] = useState({ action: '', actor: '' });
  const [error, setError] = useState(null);
  const [audit, auditError] = useLoad(() => api('GET', `/audit?${new URLSearchParams(Object.entries(filter).filter(([, v]) => v))}`), [filter.action, filter.actor]);
  const [jobs, jobsError, reloadJobs] = useLoad(() => api('GET', '/jobs/failed'), []);
  const [deliveries, deliveriesError, reloadDeliveries] = useLoad(() => api('GET', '/webhooks/deliveries?status=dead'), []);
  const retry = (path, reload) => api('POST', path).then(reload, setError);
  return html`<div>
    <${Alert} error=${error || auditError || jobsError || deliveriesError} />
    <${RequestLogs} />
    <section><h2>Failed jobs</h2>
      <table class="grid"><thead><tr><th>id</th><th>task</th><th>attempts</th><th>last error</th><th>updated</th>${canWrite && html`<th></th>`}</tr></thead>
        <tbody>${(jobs ?? []).length ? jobs.map((j) => html`<tr><td>${j.id}</td><td>${j.task}</td><td>${j.attempts}</td><td>${(j.lastError ?? '').split('\n')[0]}</td><td>${new Date(j.updatedAt).toLocaleString()}</td>${canWrite && html`<td><button type="button" onClick=${() => retry(`/jobs/${j.id}/retry`, reloadJobs)}>Retry</button></td>`}</tr>`) : html`<tr><td colspan="6">none</td></tr>`}</tbody></table>
    </section>
    <section><h2>Dead webhook deliveries</h2>
      <table class="grid"><thead><tr><th>id</th><th>hook</th><th>table</th><th>attempts</th><th>last answer</th>${canWrite && html`<th></th>`}</tr></thead>
        <tbody>${(deliveries ?? []).length ? deliveries.map((d) => html`<tr><td>${d.id}</td><td>${d.hook}</td><td>${d.table_name}</td><td>${d.attempts}</td><td>${d.status_code ?? d.error ?? ''}</td>${canWrite && html`<td><button type="button" onClick=${() => retry(`/webhooks/deliveries/${d.id}/retry`, reloadDeliveries)}>Retry</button></td>`}</tr>`) : html`<tr><td colspan="6">none</td></tr>`}</tbody></table>
    </section>
    <section><h2>Audit log</h2>
      <form class="toolbar" onSubmit=${(e) => (e.preventDefault(), setFilter({ action: new FormData(e.target).get('action'), actor: new FormData(e.target).get('actor') }))} aria-label="Filter the audit log">
        <label for="audit-action">Action starts with</label><input id="audit-action" name="action" placeholder="admin." />
        <label for="audit-actor">Actor</label><input id="audit-actor" name="actor" />
        <button type="submit">Filter</button>
      </form>
      <table class="grid" aria-label="Audit entries"><thead><tr><th>#</th><th>at</th><th>action</th><th>target</th><th>actor</th><th>role</th><th>ip</th></tr></thead>
        <tbody>${(audit ?? []).map((e) => html`<tr><td>${e.id}</td><td>${new Date(e.at).toLocaleString()}</td><td>${e.action}</td><td>${e.target ?? ''}</td><td>${e.actor_id ?? ''}</td><td>${e.actor_role ?? ''}</td><td>${e.ip ?? ''}</td></tr>`)}</tbody></table>
    </section>
  </div>`;
}
