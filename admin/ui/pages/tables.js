// The table editor: schemas and relations, rows (paging, sort, filters, insert/edit/delete,
// foreign keys as links), structure (columns, add a column), RLS and policies (templates), new tables.
import { useEffect, useState } from 'preact/hooks';
import { Alert, api, cellText, html, seg, useLoad } from '../api.js';

const TYPES = ['bigint', 'integer', 'text', 'boolean', 'uuid', 'timestamptz', 'date', 'numeric', 'jsonb', 'double precision', 'bytea'];
const DEFAULTS = [['', 'none'], ['identity', 'identity'], ['now', 'now()'], ['gen_random_uuid', 'gen_random_uuid()'], ['auth.uid', 'auth.uid()'], ['auth.tenant_id', 'auth.tenant_id()'], ['true', 'true'], ['false', 'false']];
const OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'like', 'ilike', 'is_null', 'not_null'];
const PAGE = 50;

function ColumnFields({ prefix, value, onChange, onRemove }) {
  const set = (k) => (e) => onChange({ ...value, [k]: e.target.type === 'checkbox' ? e.target.checked : e.target.value });
  return html`<fieldset class="column-spec">
    <legend>Column</legend>
    <label>Name <input name=${`${prefix}-name`} value=${value.name} onInput=${set('name')} required /></label>
    <label>Type <input name=${`${prefix}-type`} list="pg-types" value=${value.type} onInput=${set('type')} required /></label>
    <label>Default <select name=${`${prefix}-default`} value=${value.default} onChange=${set('default')}>${DEFAULTS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></label>
    <label><input type="checkbox" checked=${value.primaryKey} onChange=${set('primaryKey')} /> primary key</label>
    <label><input type="checkbox" checked=${value.nullable === false} onChange=${(e) => onChange({ ...value, nullable: !e.target.checked })} /> not null</label>
    ${onRemove && html`<button type="button" onClick=${onRemove}>Remove column</button>`}
  </fieldset>`;
}

const specOf = (c) => ({ name: c.name, type: c.type, primaryKey: c.primaryKey || undefined, nullable: c.nullable, default: c.default || undefined });

function NewTable({ schema, onCreated, onCancel }) {
  const [name, setName] = useState('');
  const [columns, setColumns] = useState([{ name: 'id', type: 'bigint', primaryKey: true, default: 'identity' }]);
  const [tenancy, setTenancy] = useState(false);
  const [rls, setRls] = useState(true);
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    try {
      const created = await api('POST', '/tables', { schema, name, columns: columns.map(specOf), tenancy, rls });
      onCreated(created);
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="panel" onSubmit=${submit} aria-label="New table">
    <h2>New table in ${schema}</h2>
    <label for="new-table-name">Table name</label>
    <input id="new-table-name" value=${name} onInput=${(e) => setName(e.target.value)} required />
    ${columns.map((c, i) => html`<${ColumnFields} prefix=${`col-${i}`} value=${c} onChange=${(v) => setColumns(columns.map((x, j) => (j === i ? v : x)))} onRemove=${columns.length > 1 ? () => setColumns(columns.filter((_, j) => j !== i)) : null} />`)}
    <button type="button" onClick=${() => setColumns([...columns, { name: '', type: 'text', default: '' }])}>Add column</button>
    <label><input type="checkbox" id="new-table-tenancy" checked=${tenancy} onChange=${(e) => setTenancy(e.target.checked)} /> Tenant table: a <code>tenant_id</code> column (default <code>auth.tenant_id()</code>) and the tenant isolation policy</label>
    <label><input type="checkbox" id="new-table-rls" checked=${rls} onChange=${(e) => setRls(e.target.checked)} /> Enable Row Level Security</label>
    <div class="actions"><button type="submit">Create table</button> <button type="button" onClick=${onCancel}>Cancel</button></div>
    <${Alert} error=${error} />
  </form>`;
}

function RowForm({ table, row, onDone, onCancel }) {
  const editing = !!row;
  const [error, setError] = useState(null);
  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const values = {};
    for (const c of table.columns) {
      if (c.generatedAlways) continue;
      const raw = f.get(`field-${c.name}`);
      const isNull = f.get(`null-${c.name}`) === 'on';
      if (isNull) values[c.name] = null;
      else if (raw !== '' && raw !== null) values[c.name] = parseValue(c, raw);
      else if (editing && row[c.name] !== null && row[c.name] !== undefined && raw === '') values[c.name] = null;
    }
    try {
      if (editing) {
        const changed = Object.fromEntries(Object.entries(values).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(row[k])));
        if (Object.keys(changed).length) await api('PATCH', `/tables/${seg(table.schema, table.name)}/rows`, { key: keyOf(table, row), values: changed });
      } else await api('POST', `/tables/${seg(table.schema, table.name)}/rows`, { values });
      onDone();
    } catch (err) {
      setError(err);
    }
  }
  return html`<form class="panel" onSubmit=${submit} aria-label=${editing ? 'Edit row' : 'Insert row'}>
    <h2>${editing ? 'Edit row' : 'Insert row'}</h2>
    ${table.columns.map(
      (c) => html`<div class="field">
        <label for=${`field-${c.name}`}>${c.name} <small>${c.type.display || c.type.name}${c.default ? ` · default ${c.default}` : ''}</small></label>
        <input id=${`field-${c.name}`} name=${`field-${c.name}`} disabled=${c.generatedAlways} defaultValue=${editing ? (row[c.name] === null ? '' : typeof row[c.name] === 'object' ? JSON.stringify(row[c.name]) : String(row[c.name])) : ''} placeholder=${c.default ? 'default' : ''} />
        ${c.nullable && html`<label class="inline"><input type="checkbox" name=${`null-${c.name}`} /> NULL</label>`}
      </div>`,
    )}
    <div class="actions"><button type="submit">Save</button> <button type="button" onClick=${onCancel}>Cancel</button></div>
    <${Alert} error=${error} />
  </form>`;
}

function parseValue(c, raw) {
  const t = c.type.name;
  if (t === 'json' || t === 'jsonb' || c.type.kind === 'b' && c.type.element) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw;
    }
  }
  return raw;
}

const keyOf = (table, row) => Object.fromEntries(table.primaryKey.map((k) => [k, row[k]]));

function Rows({ table, filters, setFilters, openTable, canWrite }) {
  const [order, setOrder] = useState(null);
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState(undefined);
  const [error, setError] = useState(null);
  const query = () => {
    const q = new URLSearchParams({ limit: String(PAGE), offset: String(offset) });
    if (order) q.set('order', `${order.column}.${order.ascending ? 'asc' : 'desc'}`);
    if (filters.length) q.set('filters', JSON.stringify(filters));
    return api('GET', `/tables/${seg(table.schema, table.name)}/rows?${q}`);
  };
  const [page, loadError, reload] = useLoad(query, [table.schema, table.name, JSON.stringify(order), offset, JSON.stringify(filters)]);
  const fkOf = (col) => table.foreignKeys.find((fk) => fk.columns.length === 1 && fk.columns[0] === col);
  const sortBy = (column) => setOrder(order?.column === column ? { column, ascending: !order.ascending } : { column, ascending: true });
  async function remove(row) {
    if (!confirm('Delete this row?')) return;
    try {
      await api('DELETE', `/tables/${seg(table.schema, table.name)}/rows`, { key: keyOf(table, row) });
      reload();
    } catch (err) {
      setError(err);
    }
  }
  function addFilter(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    setOffset(0);
    setFilters([...filters, { column: f.get('column'), op: f.get('op'), value: f.get('value') }]);
  }
  if (editing !== undefined) return html`<${RowForm} table=${table} row=${editing} onDone=${() => (setEditing(undefined), reload())} onCancel=${() => setEditing(undefined)} />`;
  return html`<div>
    <form class="toolbar" onSubmit=${addFilter} aria-label="Filter rows">
      <label>Column <select name="column">${table.columns.map((c) => html`<option>${c.name}</option>`)}</select></label>
      <label>Operator <select name="op">${OPS.map((o) => html`<option>${o}</option>`)}</select></label>
      <label>Value <input name="value" /></label>
      <button type="submit">Add filter</button>
      ${canWrite && table.kind === 'table' && html`<button type="button" class="primary" onClick=${() => setEditing(null)}>Insert row</button>`}
    </form>
    ${filters.length > 0 &&
    html`<ul class="chips" aria-label="Filters">${filters.map(
      (f, i) => html`<li>${f.column} ${f.op} ${f.value} <button type="button" aria-label=${`Remove filter ${f.column} ${f.op}`} onClick=${() => setFilters(filters.filter((_, j) => j !== i))}>×</button></li>`,
    )}</ul>`}
    <${Alert} error=${loadError || error} />
    ${page &&
    html`<div class="grid-wrap"><table class="grid" aria-label=${`Rows of ${table.schema}.${table.name}`}>
        <thead><tr>
          ${table.columns.map(
            (c) => html`<th aria-sort=${order?.column === c.name ? (order.ascending ? 'ascending' : 'descending') : 'none'}>
              <button type="button" class="sort" onClick=${() => sortBy(c.name)}>${c.name}${table.primaryKey.includes(c.name) ? html` <abbr title="primary key">PK</abbr>` : ''}</button></th>`,
          )}
          ${canWrite && table.primaryKey.length > 0 && html`<th>actions</th>`}
        </tr></thead>
        <tbody>${page.rows.map(
          (row) => html`<tr>
            ${table.columns.map((c) => {
              const fk = fkOf(c.name);
              const v = row[c.name];
              return html`<td class=${v === null ? 'null' : ''}>${fk && v !== null
                ? html`<a href="#" onClick=${(e) => (e.preventDefault(), openTable(fk.references.schema, fk.references.table, [{ column: fk.references.columns[0], op: 'eq', value: String(v) }]))} title=${`${fk.references.schema}.${fk.references.table}`}>${cellText(v)} →</a>`
                : cellText(v)}</td>`;
            })}
            ${canWrite && table.primaryKey.length > 0 && html`<td class="row-actions"><button type="button" onClick=${() => setEditing(row)}>Edit</button> <button type="button" onClick=${() => remove(row)}>Delete</button></td>`}
          </tr>`,
        )}</tbody>
      </table></div>
      <div class="pager">
        <button type="button" disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>Previous</button>
        <span aria-live="polite">${page.total ? `${offset + 1}–${offset + page.rows.length} of ${page.total}` : 'no rows'}</span>
        <button type="button" disabled=${offset + PAGE >= page.total} onClick=${() => setOffset(offset + PAGE)}>Next</button>
      </div>`}
  </div>`;
}

function Structure({ table, onChanged, canWrite }) {
  const [col, setCol] = useState({ name: '', type: 'text', default: '' });
  const [error, setError] = useState(null);
  async function add(e) {
    e.preventDefault();
    try {
      onChanged(await api('POST', `/tables/${seg(table.schema, table.name)}/columns`, specOf(col)));
      setCol({ name: '', type: 'text', default: '' });
    } catch (err) {
      setError(err);
    }
  }
  return html`<div>
    <table class="grid"><thead><tr><th>column</th><th>type</th><th>nullable</th><th>default</th><th>references</th></tr></thead>
      <tbody>${table.columns.map((c) => {
        const fk = table.foreignKeys.find((f) => f.columns.includes(c.name));
        return html`<tr><td>${c.name}${table.primaryKey.includes(c.name) ? ' (primary key)' : ''}</td><td>${c.type.display || c.type.name}</td><td>${c.nullable ? 'yes' : 'no'}</td><td>${c.default ?? ''}</td><td>${fk ? `${fk.references.schema}.${fk.references.table}(${fk.references.columns.join(', ')})` : ''}</td></tr>`;
      })}</tbody></table>
    ${canWrite && table.kind === 'table' && html`<form onSubmit=${add} aria-label="Add column"><h2>Add column</h2><${ColumnFields} prefix="add" value=${col} onChange=${setCol} /><button type="submit">Add column</button><${Alert} error=${error} /></form>`}
  </div>`;
}

function Policies({ table, onChanged, canWrite }) {
  const [templates] = useLoad(() => api('GET', '/policy-templates'), []);
  const blank = { name: '', command: 'all', roles: 'authenticated', using: '', withCheck: '' };
  const [p, setP] = useState(blank);
  const [error, setError] = useState(null);
  const path = `/tables/${seg(table.schema, table.name)}`;
  const run = async (fn) => {
    setError(null);
    try {
      onChanged(await fn());
    } catch (err) {
      setError(err);
    }
  };
  const useTemplate = (id) => {
    const t = templates?.find((x) => x.id === id);
    if (t) setP({ ...blank, ...t.policy, roles: t.policy.roles.join(', '), using: t.policy.using ?? '', withCheck: t.policy.withCheck ?? '' });
  };
  const submit = (e) => {
    e.preventDefault();
    run(() => api('POST', `${path}/policies`, { name: p.name, command: p.command, roles: p.roles.split(',').map((r) => r.trim()).filter(Boolean), using: p.using || undefined, withCheck: p.withCheck || undefined }));
  };
  const set = (k) => (e) => setP({ ...p, [k]: e.target.value });
  return html`<div>
    <p>Row Level Security is <strong id="rls-state">${table.rls ? 'enabled' : 'disabled'}</strong>.
      ${canWrite && html`<button type="button" onClick=${() => run(() => api('PUT', `${path}/rls`, { enabled: !table.rls }))}>${table.rls ? 'Disable RLS' : 'Enable RLS'}</button>`}</p>
    <table class="grid" aria-label="Policies"><thead><tr><th>policy</th><th>command</th><th>roles</th><th>using</th><th>with check</th>${canWrite && html`<th></th>`}</tr></thead>
      <tbody>${table.policies.length ? table.policies.map(
        (x) => html`<tr><td>${x.name}</td><td>${x.command}</td><td>${x.roles.join(', ')}</td><td><code>${x.using ?? ''}</code></td><td><code>${x.withCheck ?? ''}</code></td>
          ${canWrite && html`<td><button type="button" onClick=${() => confirm(`Drop policy ${x.name}?`) && run(() => api('DELETE', `${path}/policies/${encodeURIComponent(x.name)}`))}>Drop</button></td>`}</tr>`,
      ) : html`<tr><td colspan="6">no policies${table.rls ? ': nobody but the owner and service_role reads this table' : ''}</td></tr>`}</tbody></table>
    ${canWrite && html`<form onSubmit=${submit} aria-label="New policy" class="panel">
      <h2>New policy</h2>
      <label for="policy-template">Template</label>
      <select id="policy-template" onChange=${(e) => useTemplate(e.target.value)}><option value="">— none —</option>${(templates ?? []).map((t) => html`<option value=${t.id}>${t.label}</option>`)}</select>
      <label for="policy-name">Name</label><input id="policy-name" value=${p.name} onInput=${set('name')} required />
      <label for="policy-command">Command</label><select id="policy-command" value=${p.command} onChange=${set('command')}>${['all', 'select', 'insert', 'update', 'delete'].map((c) => html`<option>${c}</option>`)}</select>
      <label for="policy-roles">Roles (comma-separated)</label><input id="policy-roles" value=${p.roles} onInput=${set('roles')} />
      <label for="policy-using">USING</label><textarea id="policy-using" value=${p.using} onInput=${set('using')} rows="2"></textarea>
      <label for="policy-check">WITH CHECK</label><textarea id="policy-check" value=${p.withCheck} onInput=${set('withCheck')} rows="2"></textarea>
      <button type="submit">Create policy</button>
    </form>`}
    <${Alert} error=${error} />
  </div>`;
}

export function TablesPage({ me }) {
  const canWrite = me.admin.role !== 'read_only';
  const [schema, setSchema] = useState('public');
  const [selected, setSelected] = useState(null);
  const [filters, setFilters] = useState([]);
  const [tab, setTab] = useState('rows');
  const [creating, setCreating] = useState(false);
  const [schemas] = useLoad(() => api('GET', '/schemas'), []);
  const [relations, relError, reloadRelations] = useLoad(() => api('GET', `/schemas/${seg(schema)}/relations`), [schema]);
  const [table, tableError, reloadTable] = useLoad(() => (selected ? api('GET', `/tables/${seg(selected.schema, selected.name)}`) : Promise.resolve(null)), [selected?.schema, selected?.name]);
  const [detail, setDetail] = useState(null);
  useEffect(() => setDetail(table), [table]);
  const openTable = (s, name, f = []) => {
    if (s !== schema) setSchema(s);
    setSelected({ schema: s, name });
    setFilters(f);
    setTab('rows');
    setCreating(false);
  };
  return html`<div class="split">
    <aside aria-label="Relations">
      <label for="schema">Schema</label>
      <select id="schema" value=${schema} onChange=${(e) => (setSchema(e.target.value), setSelected(null))}>${(schemas ?? [schema]).map((s) => html`<option>${s}</option>`)}</select>
      ${canWrite && html`<button type="button" class="primary" onClick=${() => setCreating(true)}>New table</button>`}
      <${Alert} error=${relError} />
      <ul class="relations">${(relations ?? []).map(
        (r) => html`<li><button type="button" class=${selected?.name === r.name && selected?.schema === schema ? 'current' : ''} aria-current=${selected?.name === r.name ? 'true' : undefined} onClick=${() => openTable(schema, r.name)}>
          ${r.name} <small>${r.kind === 'table' ? '' : r.kind}${r.rls ? ' · RLS' : ''}</small></button></li>`,
      )}</ul>
    </aside>
    <section class="detail">
      ${creating
        ? html`<${NewTable} schema=${schema} onCancel=${() => setCreating(false)} onCreated=${(t) => (reloadRelations(), openTable(t.schema, t.name))} />`
        : !selected
          ? html`<p>Pick a table or view on the left${canWrite ? ', or create one' : ''}.</p>`
          : html`<div>
              <h2 id="table-title">${selected.schema}.${selected.name}</h2>
              <${Alert} error=${tableError} />
              <div role="tablist" aria-label="Table views" class="tabs">
                ${[['rows', 'Rows'], ['structure', 'Structure'], ['policies', 'Policies']].map(([id, label]) => html`<button type="button" role="tab" id=${`tab-${id}`} aria-selected=${tab === id} onClick=${() => setTab(id)}>${label}</button>`)}
              </div>
              ${detail && tab === 'rows' && html`<${Rows} table=${detail} filters=${filters} setFilters=${setFilters} openTable=${openTable} canWrite=${canWrite} />`}
              ${detail && tab === 'structure' && html`<${Structure} table=${detail} canWrite=${canWrite} onChanged=${setDetail} />`}
              ${detail && tab === 'policies' && html`<${Policies} table=${detail} canWrite=${canWrite} onChanged=${(d) => (setDetail(d), reloadRelations())} />`}
            </div>`}
      <datalist id="pg-types">${TYPES.map((t) => html`<option value=${t} />`)}</datalist>
    </section>
  </div>`;
}
