// Auth users through GoTrue's admin API (on the server, with the service_role key): search,
// create, invite, ban/unban, delete, reset MFA; tenants and their members.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

const BAN = '876000h';

function Tenants() {
  const [tenants, error] = useLoad(() => api('GET', '/auth/tenants'), []);
  const [open, setOpen] = useState(null);
  const [members, membersError] = useLoad(() => (open ? api('GET', `/auth/tenants/${open}/members`) : Promise.resolve(null)), [open]);
  const list = Array.isArray(tenants) ? tenants : tenants?.tenants ?? [];
  return html`<section><h2>Tenants</h2><${Alert} error=${error || membersError} />
    <table class="grid"><thead><tr><th>name</th><th>slug</th><th>id</th><th></th></tr></thead>
      <tbody>${list.map((t) => html`<tr><td>${t.name}</td><td>${t.slug ?? ''}</td><td><code>${t.id}</code></td><td><button type="button" onClick=${() => setOpen(open === t.id ? null : t.id)}>${open === t.id ? 'Hide members' : 'Members'}</button></td></tr>`)}</tbody></table>
    ${members && html`<h3>Members</h3><ul>${(Array.isArray(members) ? members : members.members ?? []).map((m) => html`<li>${m.email ?? m.user_id} · ${m.role}</li>`)}</ul>`}
  </section>`;
}

export function UsersPage({ me }) {
  const canWrite = me.admin.role !== 'read_only';
  const [search, setSearch] = useState('');
  const [error, setError] = useState(null);
  const [notice, setNotice] = useState('');
  const [data, loadError, reload] = useLoad(() => api('GET', '/auth/admin/users?per_page=1000'), []);
  const users = (data?.users ?? []).filter((u) => !search || (u.email ?? '').toLowerCase().includes(search.toLowerCase()) || u.id.includes(search));
  const act = async (fn, message) => {
    setError(null);
    try {
      await fn();
      setNotice(message);
      reload();
    } catch (err) {
      setError(err);
    }
  };
  function create(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    const invite = e.submitter?.value === 'invite';
    act(() => (invite ? api('POST', '/auth/invite', { email: f.get('email') }) : api('POST', '/auth/admin/users', { email: f.get('email'), password: f.get('password') || undefined, email_confirm: true })), invite ? 'Invitation sent' : 'User created');
    e.target.reset();
  }
  async function resetMfa(u) {
    const factors = await api('GET', `/auth/admin/users/${u.id}/factors`);
    for (const f of factors) await api('DELETE', `/auth/admin/users/${u.id}/factors/${f.id}`);
    return factors.length;
  }
  return html`<div>
    <div class="toolbar"><label for="user-search">Search</label><input id="user-search" type="search" value=${search} onInput=${(e) => setSearch(e.target.value)} placeholder="email or id" /></div>
    ${canWrite && html`<form class="toolbar" onSubmit=${create} aria-label="New user">
      <label for="new-user-email">Email</label><input id="new-user-email" name="email" type="email" required />
      <label for="new-user-password">Password</label><input id="new-user-password" name="password" type="password" autocomplete="new-password" />
      <button type="submit" value="create">Create user</button><button type="submit" value="invite">Invite</button>
    </form>`}
    <p role="status">${notice}</p>
    <${Alert} error=${error || loadError} />
    <table class="grid" aria-label="Users"><thead><tr><th>email</th><th>id</th><th>created</th><th>last sign-in</th><th>status</th><th>MFA</th>${canWrite && html`<th>actions</th>`}</tr></thead>
      <tbody>${users.map((u) => {
        const banned = u.banned_until && new Date(u.banned_until) > new Date();
        return html`<tr>
          <td>${u.email ?? u.phone ?? '(anonymous)'}</td><td><code>${u.id}</code></td><td>${new Date(u.created_at).toLocaleString()}</td>
          <td>${u.last_sign_in_at ? new Date(u.last_sign_in_at).toLocaleString() : '—'}</td><td>${banned ? 'banned' : u.email_confirmed_at ? 'confirmed' : 'unconfirmed'}</td>
          <td>${(u.factors ?? []).length}</td>
          ${canWrite && html`<td class="row-actions">
            <button type="button" onClick=${() => act(() => api('PUT', `/auth/admin/users/${u.id}`, { ban_duration: banned ? 'none' : BAN }), banned ? 'Unbanned' : 'Banned')}>${banned ? 'Unban' : 'Ban'}</button>
            <button type="button" onClick=${() => act(() => resetMfa(u), 'MFA factors removed')}>Reset MFA</button>
            <button type="button" onClick=${() => confirm(`Delete ${u.email ?? u.id}?`) && act(() => api('DELETE', `/auth/admin/users/${u.id}`), 'User deleted')}>Delete</button>
          </td>`}
        </tr>`;
      })}</tbody></table>
    <${Tenants} />
  </div>`;
}
