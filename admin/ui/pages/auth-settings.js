// Auth settings: the SMTP server, the mails' sender, Google and GitHub sign-in. Stored in the
// database and applied by auth without a restart; a value the environment sets wins and is
// shown read-only ("from environment"). Secrets are never sent to the page: only whether one is set.
import { useState } from 'preact/hooks';
import { Alert, api, html, useLoad } from '../api.js';

const GROUPS = [
  ['smtp', 'SMTP server', 'Unset: mails go to the dev inbox.', { host: 'Host', port: 'Port', user: 'User name', pass: 'Password' }],
  ['mail_from', 'Sender', 'The From of auth mails.', { admin_email: 'Sender address', sender_name: 'Sender name' }],
  ['google', 'Google sign-in', 'Callback URL: <PUBLIC_URL>/auth/v1/callback.', { enabled: 'Enabled', client_id: 'Client id', secret: 'Client secret' }],
  ['github', 'GitHub sign-in', 'Callback URL: <PUBLIC_URL>/auth/v1/callback.', { enabled: 'Enabled', client_id: 'Client id', secret: 'Client secret' }],
];
const SECRETS = new Set(['pass', 'secret']);

function Field({ group, name, label, field, editable }) {
  const id = `set-${group}-${name}`;
  const env = field.source === 'environment';
  if (env) {
    const shown = SECRETS.has(name) ? (field.set ? 'set' : 'not set') : String(field.value ?? '');
    return html`<div class="field"><label for=${id}>${label}</label><input id=${id} value=${shown} readonly aria-describedby=${`${id}-src`} /><small id=${`${id}-src`}>from environment</small></div>`;
  }
  if (name === 'enabled') {
    return html`<div class="field"><input id=${id} name=${name} type="checkbox" checked=${field.value === true} disabled=${!editable} /><label for=${id}>${label}</label></div>`;
  }
  if (SECRETS.has(name)) {
    return html`<div class="field"><label for=${id}>${label}</label>
      <input id=${id} name=${name} type="password" autocomplete="new-password" disabled=${!editable} placeholder=${field.set ? 'set — leave empty to keep' : 'not set'} />
      ${field.set && editable && html`<label><input type="checkbox" name=${`${name}__clear`} /> clear</label>`}</div>`;
  }
  return html`<div class="field"><label for=${id}>${label}</label>
    <input id=${id} name=${name} type=${name === 'port' ? 'number' : name === 'admin_email' ? 'email' : 'text'}
      min=${name === 'port' ? 1 : undefined} max=${name === 'port' ? 65535 : undefined} value=${field.value ?? ''} disabled=${!editable} placeholder=${field.source === 'default' ? 'default' : ''} />
    <small>${field.source === 'database' ? 'saved here' : 'default'}</small></div>`;
}

function Group({ id, title, hint, labels, fields, editable, onSaved }) {
  const [error, setError] = useState(null);
  const [saved, setSaved] = useState(false);
  const open = Object.entries(fields).filter(([, f]) => f.source !== 'environment');
  const save = (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const body = {};
    for (const [name] of open) {
      if (name === 'enabled') body.enabled = form.get('enabled') === 'on';
      else if (SECRETS.has(name)) {
        if (form.get(`${name}__clear`) === 'on') body[name] = null;
        else if (form.get(name)) body[name] = form.get(name);
      } else if (name === 'port') body.port = form.get('port') ? Number(form.get('port')) : null;
      else body[name] = form.get(name) || null;
    }
    setError(null);
    api('PUT', `/settings/auth/${id}`, body).then((view) => (setSaved(true), onSaved(view)), setError);
  };
  return html`<section><h2>${title}</h2><p>${hint}</p>
    <form aria-label=${title} onSubmit=${save} onInput=${() => setSaved(false)}>
      ${Object.entries(labels).map(([name, label]) => html`<${Field} group=${id} name=${name} label=${label} field=${fields[name]} editable=${editable} />`)}
      ${editable && open.length > 0 && html`<button type="submit">Save ${title}</button>`}
      ${saved && html`<span role="status"> Saved: applies to the next sign-in or mail.</span>`}
      <${Alert} error=${error} />
    </form></section>`;
}

export function AuthSettingsPage({ me }) {
  const [view, error] = useLoad(() => api('GET', '/settings/auth'), []);
  const [fresh, setFresh] = useState(null);
  const data = fresh ?? view;
  const editable = me.admin.role !== 'read_only';
  if (!data) return html`<${Alert} error=${error} />`;
  return html`<div>
    <p>Values set in the environment win and are shown read-only. ${editable ? '' : 'Your role (read only) cannot change them.'}</p>
    ${GROUPS.map(([id, title, hint, labels]) => html`<${Group} key=${id} id=${id} title=${title} hint=${hint} labels=${labels} fields=${data[id]} editable=${editable} onSaved=${setFresh} />`)}
  </div>`;
}
