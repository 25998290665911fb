// The SQL editor: run (Ctrl+Enter), results as a grid, EXPLAIN as a plan tree, destructive SQL
// confirmed first, history and saved snippets.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

function PlanNode({ node }) {
  const label = `${node['Node Type']}${node['Relation Name'] ? ` on ${node['Relation Name']}` : ''}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`;
  return html`<li><span>${label}</span> <small>cost ${node['Startup Cost']}..${node['Total Cost']} rows ${node['Plan Rows']}</small>
    ${node.Filter && html`<div><code>filter: ${node.Filter}</code></div>`}
    ${node.Plans && html`<ul>${node.Plans.map((p) => html`<${PlanNode} node=${p} />`)}</ul>`}</li>`;
}

function Result({ r }) {
  if (!r.columns.length) return html`<p class="result-status">${r.command}${r.rowCount !== null ? ` · ${r.rowCount} rows` : ''}</p>`;
  return html`<div class="grid-wrap"><table class="grid" aria-label="Query result">
    <thead><tr>${r.columns.map((c) => html`<th scope="col">${c.name}</th>`)}</tr></thead>
    <tbody>${r.rows.map((row) => html`<tr>${row.map((v) => html`<td class=${v === null ? 'null' : ''}>${v === null ? 'NULL' : v}</td>`)}</tr>`)}</tbody>
  </table></div>
  <p class="result-status">${r.command} · ${r.rowCount ?? r.rows.length} rows${r.truncated ? ' (first 1000 shown)' : ''}</p>`;
}

export function SqlPage({ me }) {
  const [sql, setSql] = useState('select * from public.tenants limit 10;');
  const [out, setOut] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [history, , reloadHistory] = useLoad(() => api('GET', '/sql/history'), []);
  const [snippets, , reloadSnippets] = useLoad(() => api('GET', '/sql/snippets'), []);
  const canWrite = me.admin.role !== 'read_only';

  async function run(explain = false, confirmed = false) {
    setBusy(true);
    setError(null);
    try {
      const answer = await api('POST', '/sql', { sql, explain, confirm: confirmed });
      setOut({ ...answer, explain });
    } catch (err) {
      if (err.body?.code === 'confirmation_required') {
        if (confirm(`This SQL destroys data or objects:\n\n${err.body.statements.join('\n')}\n\nRun it?`)) return run(explain, true);
        setError(new Error('Not run: not confirmed'));
      } else setError(err.body?.position ? new Error(`${err.message} (at character ${err.body.position})`) : err);
      setOut(null);
    } finally {
      setBusy(false);
      reloadHistory();
    }
  }
  async function save() {
    const name = prompt('Snippet name');
    if (!name) return;
    await api('POST', '/sql/snippets', { name, sql }).catch(setError);
    reloadSnippets();
  }
  const plan = out?.explain ? JSON.parse(out.results[0].rows[0][0])[0].Plan : null;
  return html`<div class="split">
    <section class="detail">
      <label for="sql-input">SQL <small>(Ctrl+Enter runs)</small></label>
      <textarea id="sql-input" class="code" rows="10" spellcheck="false" value=${sql} onInput=${(e) => setSql(e.target.value)}
        onKeyDown=${(e) => e.key === 'Enter' && (e.ctrlKey || e.metaKey) && (e.preventDefault(), run())}></textarea>
      <div class="actions">
        <button type="button" class="primary" disabled=${busy} onClick=${() => run()}>Run</button>
        <button type="button" disabled=${busy} onClick=${() => run(true)}>Explain</button>
        ${canWrite && html`<button type="button" onClick=${save}>Save snippet</button>`}
        ${!canWrite && html`<small>read-only: your SQL runs in a READ ONLY transaction</small>`}
      </div>
      <${Alert} error=${error} />
      <div aria-live="polite" id="sql-output">
        ${out && !out.explain && html`<p class="result-status">${out.durationMs.toFixed(1)} ms</p>${out.results.map((r) => html`<${Result} r=${r} />`)}`}
        ${plan && html`<ul class="plan" aria-label="Query plan"><${PlanNode} node=${plan} /></ul>`}
      </div>
    </section>
    <aside aria-label="Snippets and history">
      <h2>Snippets</h2>
      <ul class="list">${(snippets ?? []).map(
        (s) => html`<li><button type="button" onClick=${() => setSql(s.sql)}>${s.name}</button>${canWrite && html` <button type="button" aria-label=${`Delete snippet ${s.name}`} onClick=${() => api('DELETE', `/sql/snippets/${s.id}`).then(reloadSnippets)}>×</button>`}</li>`,
      )}</ul>
      <h2>History</h2>
      <ul class="list">${(history ?? []).slice(0, 30).map(
        (h) => html`<li class=${h.ok ? '' : 'failed'}><button type="button" title=${h.error || ''} onClick=${() => setSql(h.sql)}>${h.sql.slice(0, 80)}</button></li>`,
      )}</ul>
    </aside>
  </div>`;
}
