// Logs and jobs: the audit log (admin actions, DDL, auth events) with filters, failed
// graphile-worker jobs and webhook deliveries, each with retry.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

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
