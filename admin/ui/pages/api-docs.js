// API docs per table from the REST API's own OpenAPI document (PostgREST's root), with the
// supabase-js calls for each, and a link to the GraphQL playground.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

export function ApiDocsPage() {
  const [doc, error] = useLoad(() => api('GET', '/rest/'), []);
  const [open, setOpen] = useState(null);
  const tables = Object.keys(doc?.definitions ?? {}).sort();
  const def = open ? doc.definitions[open] : null;
  const methods = open ? Object.keys(doc.paths[`/${open}`] ?? {}) : [];
  return html`<div class="split">
    <aside aria-label="Tables and views">
      <p><a href="/graphql" target="_blank" rel="noopener">GraphQL playground ↗</a></p>
      <${Alert} error=${error} />
      <ul class="relations">${tables.map((t) => html`<li><button type="button" class=${open === t ? 'current' : ''} onClick=${() => setOpen(t)}>${t}</button></li>`)}</ul>
    </aside>
    <section class="detail">${def
      ? html`<div>
          <h2>${open}</h2>
          ${def.description && html`<p>${def.description}</p>`}
          <p>REST: <code>${location.origin}/rest/v1/${open}</code> · methods ${methods.map((m) => m.toUpperCase()).join(', ')}</p>
          <table class="grid" aria-label=${`Columns of ${open}`}><thead><tr><th>column</th><th>type</th><th>format</th><th>required</th><th>notes</th></tr></thead>
            <tbody>${Object.entries(def.properties ?? {}).map(([name, p]) => html`<tr><td>${name}</td><td>${p.type ?? ''}</td><td>${p.format ?? ''}</td><td>${(def.required ?? []).includes(name) ? 'yes' : ''}</td><td>${p.description ?? ''}</td></tr>`)}</tbody></table>
          <h3>supabase-js</h3>
          <pre class="code">${[
            `const { data, error } = await supabase.from('${open}').select('*')`,
            methods.includes('post') && `await supabase.from('${open}').insert({ ... })`,
            methods.includes('patch') && `await supabase.from('${open}').update({ ... }).eq('id', 1)`,
            methods.includes('delete') && `await supabase.from('${open}').delete().eq('id', 1)`,
          ].filter(Boolean).join('\n')}</pre>
          <h3>curl</h3>
          <pre class="code">${`curl '${location.origin}/rest/v1/${open}?select=*' \\\n  -H "apikey: $ANON_KEY" -H "Authorization: Bearer $USER_JWT"`}</pre>
        </div>`
      : html`<p>Pick a table: its columns and calls, from the OpenAPI document of <code>/rest/v1/</code>.</p>`}</section>
  </div>`;
}
