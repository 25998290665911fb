// The admin dashboard's shell: first run / sign-in (password, then the TOTP code when enrolled),
// then the pages, one per hash route (#/tables, #/sql, …), keyboard-reachable navigation.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Alert, api, html, setCsrf } from './api.js';
import { TablesPage } from './pages/tables.js';
import { SqlPage } from './pages/sql.js';
import { UsersPage } from './pages/users.js';
import { AuthSettingsPage } from './pages/auth-settings.js';
import { StoragePage } from './pages/storage.js';
import { RealtimePage } from './pages/realtime.js';
import { LogsPage } from './pages/logs.js';
import { ApiDocsPage } from './pages/api-docs.js';
import { HealthPage } from './pages/health.js';
import { AccountPage } from './pages/account.js';

const PAGES = [
  ['tables', 'Table editor', TablesPage],
  ['sql', 'SQL editor', SqlPage],
  ['users', 'Auth users', UsersPage],
  ['auth-settings', 'Auth settings', AuthSettingsPage],
  ['storage', 'Storage', StoragePage],
  ['realtime', 'Realtime', RealtimePage],
  ['logs', 'Logs & jobs', LogsPage],
  ['api', 'API docs', ApiDocsPage],
  ['health', 'Health', HealthPage],
  ['account', 'Account & admins', AccountPage],
];

function SignIn({ onSignedIn }) {
  const [setup, setSetup] = useState(null);
  const [needCode, setNeedCode] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    api('GET', '/setup').then(setSetup, setError);
  }, []);
  if (!setup) return html`<main class="signin"><${Alert} error=${error} /></main>`;
  const first = setup.needed;
  async function submit(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    setBusy(true);
    setError(null);
    try {
      const body = { email: f.get('email'), password: f.get('password'), code: f.get('code') || undefined };
      const answer = await api('POST', first ? '/setup' : '/login', body);
      onSignedIn(answer);
    } catch (err) {
      if (err.body?.code === 'mfa_required') setNeedCode(true);
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return html`<main class="signin">
    <h1>NextMavens Stack admin</h1>
    ${first && !setup.allowed
      ? html`<p role="alert">No admin exists yet. Create one with <code>nextmavens admin create you@example.com</code>, or open this page on the server itself (localhost).</p>`
      : html`<form onSubmit=${submit} aria-label=${first ? 'Create the first admin' : 'Sign in'}>
          <h2>${first ? 'Create the first admin (owner)' : 'Sign in'}</h2>
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="username" required autofocus />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autocomplete=${first ? 'new-password' : 'current-password'} minlength="10" required />
          ${needCode && html`<label for="code">Authenticator code</label><input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus />`}
          <button type="submit" disabled=${busy}>${first ? 'Create admin' : 'Sign in'}</button>
          <${Alert} error=${error} />
        </form>`}
  </main>`;
}

function useRoute() {
  const read = () => (location.hash.replace(/^#\/?/, '') || 'tables').split('?')[0];
  const [route, setRoute] = useState(read());
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Shell({ me, onSignOut }) {
  const route = useRoute();
  const [name] = route.split('/');
  const page = PAGES.find(([id]) => id === name) ?? PAGES[0];
  const Page = page[2];
  useEffect(() => {
    document.title = `${page[1]} · NextMavens admin`;
    document.getElementById('page-title')?.focus();
  }, [page[0]]);
  return html`<div class="shell">
    <a class="skip" href="#main">Skip to content</a>
    <header>
      <strong>NextMavens Stack</strong>
      <span class="who">${me.admin.email} · <span class="role" data-role=${me.admin.role}>${me.admin.role}</span></span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <nav aria-label="Pages">
      <ul>${PAGES.map(([id, label]) => html`<li><a href=${`#/${id}`} aria-current=${id === page[0] ? 'page' : undefined}>${label}</a></li>`)}</ul>
    </nav>
    <main id="main">
      <h1 id="page-title" tabindex="-1">${page[1]}</h1>
      <${Page} me=${me} route=${route} />
    </main>
  </div>`;
}

function App() {
  const [me, setMe] = useState(undefined);
  const load = () =>
    api('GET', '/me').then(
      (m) => (setCsrf(m.csrfToken), setMe(m)),
      () => setMe(null),
    );
  useEffect(() => {
    load();
    const out = () => setMe(null);
    addEventListener('admin:signed-out', out);
    return () => removeEventListener('admin:signed-out', out);
  }, []);
  if (me === undefined) return html`<p class="loading">Loading…</p>`;
  if (!me) return html`<${SignIn} onSignedIn=${(a) => (setCsrf(a.csrfToken), load())} />`;
  const signOut = async () => {
    await api('POST', '/logout').catch(() => undefined);
    setCsrf('');
    setMe(null);
  };
  return html`<${Shell} me=${me} onSignOut=${signOut} />`;
}

render(html`<${App} />`, document.getElementById('root'));
