// The signed-in admin's TOTP enrolment, and (owners) the admins: create, change role, remove.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

const ROLES = ['owner', 'developer', 'read_only'];

function Totp({ me }) {
  const [enrol, setEnrol] = useState(null);
  const [done, setDone] = useState(me.admin.totp_enabled);
  const [error, setError] = useState(null);
  const start = () => api('POST', '/me/totp').then(setEnrol, setError);
  const verify = (e) => {
    e.preventDefault();
    api('POST', '/me/totp/verify', { code: new FormData(e.target).get('code') }).then(() => (setDone(true), setEnrol(null)), setError);
  };
  return html`<section><h2>Two-factor sign-in (TOTP)</h2>
    <p>${done ? 'Enabled: sign-in asks for your authenticator code.' : 'Not enabled.'}</p>
    ${!enrol && html`<button type="button" onClick=${start}>${done ? 'Replace authenticator' : 'Set up an authenticator app'}</button>`}
    ${enrol && html`<div><img class="qr" alt="QR code of the TOTP secret" src=${`data:image/svg+xml;utf8,${encodeURIComponent(enrol.qrCode)}`} />
      <p>Or enter the secret: <code>${enrol.secret}</code></p>
      <form onSubmit=${verify} class="toolbar"><label for="totp-code">Code from the app</label><input id="totp-code" name="code" inputmode="numeric" pattern="[0-9]{6}" required /><button type="submit">Enable</button></form></div>`}
    <${Alert} error=${error} />
  </section>`;
}

function Admins({ me }) {
  const [admins, loadError, reload] = useLoad(() => api('GET', '/admins'), []);
  const [error, setError] = useState(null);
  const act = (p) => p.then(reload, setError);
  const create = (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    act(api('POST', '/admins', { email: f.get('email'), password: f.get('password'), role: f.get('role') }));
    e.target.reset();
  };
  return html`<section><h2>Admins</h2>
    <${Alert} error=${error || loadError} />
    <table class="grid"><thead><tr><th>email</th><th>role</th><th>TOTP</th><th>last sign-in</th><th></th></tr></thead>
      <tbody>${(admins ?? []).map((a) => html`<tr><td>${a.email}</td>
        <td><label class="sr-only" for=${`role-${a.id}`}>Role of ${a.email}</label><select id=${`role-${a.id}`} value=${a.role} onChange=${(e) => act(api('PATCH', `/admins/${a.id}`, { role: e.target.value }))}>${ROLES.map((r) => html`<option>${r}</option>`)}</select></td>
        <td>${a.totp_enabled ? 'yes' : 'no'}</td><td>${a.last_sign_in_at ? new Date(a.last_sign_in_at).toLocaleString() : '—'}</td>
        <td>${a.id !== me.admin.id && html`<button type="button" onClick=${() => confirm(`Remove ${a.email}?`) && act(api('DELETE', `/admins/${a.id}`))}>Remove</button>`}</td></tr>`)}</tbody></table>
    <form class="toolbar" onSubmit=${create} aria-label="New admin">
      <label for="admin-email">Email</label><input id="admin-email" name="email" type="email" required />
      <label for="admin-password">Password</label><input id="admin-password" name="password" type="password" minlength="10" autocomplete="new-password" required />
      <label for="admin-role">Role</label><select id="admin-role" name="role">${ROLES.map((r) => html`<option selected=${r === 'developer'}>${r}</option>`)}</select>
      <button type="submit">Add admin</button>
    </form>
  </section>`;
}

export function AccountPage({ me }) {
  return html`<div><${Totp} me=${me} />${me.admin.role === 'owner' ? html`<${Admins} me=${me} />` : html`<p>Only owners manage admins.</p>`}</div>`;
}
