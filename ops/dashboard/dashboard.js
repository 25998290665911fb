// The health dashboard's script (served by ops/dashboard/routes.ts): polls /dashboard/api/summary
// with the service_role key kept in sessionStorage and draws it; charts with uPlot.
/* global uPlot */
(() => {
  const KEY = 'nextmavens.dashboard.key';
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let charts;
  let timer;

  const fmtBytes = (n) => {
    if (n == null) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
    return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
  };
  const fmtMs = (n) => (n == null ? '–' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);
  const text = (id, value) => ($(id).textContent = String(value));

  function showLogin(message) {
    clearTimeout(timer);
    $('board').hidden = true;
    $('logout').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  function makeCharts() {
    const width = Math.max(320, $('board').clientWidth - 60);
    const time = { label: 'time' };
    return {
      rate: new uPlot({ width, height: 180, series: [time, { label: 'req/s', stroke: '#2563eb' }, { label: '5xx %', stroke: '#d64545', scale: '%' }], axes: [{}, {}, { scale: '%', side: 1 }] }, [[], [], []], $('chart-rate')),
      latency: new uPlot({ width, height: 180, series: [time, { label: 'p50 ms', stroke: '#1f9d55' }, { label: 'p99 ms', stroke: '#b7791f' }] }, [[], [], []], $('chart-latency')),
    };
  }

  function render(s) {
    const overall = $('overall');
    overall.textContent = s.status === 'ok' ? 'all up' : 'degraded';
    overall.className = `badge ${s.status}`;
    text('sampled', `sampled ${new Date(s.sampledAt).toLocaleTimeString()}`);
    const tbody = $('services').tBodies[0];
    tbody.replaceChildren(
      ...Object.entries(s.services).map(([name, c]) => {
        const tr = document.createElement('tr');
        tr.dataset.service = name;
        tr.dataset.status = c.status;
        tr.className = c.status;
        const cells = [name, c.status, fmtMs(c.response_time_ms), c.error || ''];
        cells.forEach((v, i) => {
          const td = document.createElement('td');
          if (i === 1) {
            const span = document.createElement('span');
            span.className = `status ${c.status}`;
            span.textContent = v;
            td.append(span);
          } else td.textContent = v;
          tr.append(td);
        });
        return tr;
      }),
    );
    text('total-requests', s.totals.requests);
    text('total-errors', s.totals.errors);
    const last = s.series.at(-1);
    text('rps', last ? last.rps.toFixed(1) : '0');
    text('error-rate', s.window.requests ? `${((100 * s.window.errors) / s.window.requests).toFixed(1)} %` : '–');
    text('p50', fmtMs(s.window.p50));
    text('p99', fmtMs(s.window.p99));
    text('sockets', s.realtime.sockets);
    text('channels', s.realtime.channels);
    const slots = s.database?.slots ?? [];
    text('replication', slots.length ? slots.map((x) => `${x.name}: ${fmtBytes(x.lagBytes)}`).join(', ') : s.database ? 'no slot' : '–');
    text('pools', Object.entries(s.pools).map(([n, p]) => `${n} ${p.inUse}/${p.max}${p.waiting ? ` (+${p.waiting} waiting)` : ''}`).join(' · '));
    text('storage', s.database ? `${s.database.storage.objects} objects, ${fmtBytes(s.database.storage.bytes)}` : '–');
    text('disk', s.diskFreePercent == null ? '–' : `${s.diskFreePercent.toFixed(1)} %`);
    const alerts = s.alerts.map((a) => {
      const li = document.createElement('li');
      li.className = a.resolved_at || a.kind === 'event' ? 'resolved' : 'firing';
      li.textContent = `${a.started_at} [${a.severity}] ${a.summary}${a.kind === 'condition' ? (a.resolved_at ? ` (resolved ${a.resolved_at})` : ' (firing)') : ''}`;
      return li;
    });
    if (s.databaseDownSince) {
      const li = document.createElement('li');
      li.className = 'firing';
      li.textContent = `${s.databaseDownSince} the database is unreachable (ongoing)`;
      alerts.unshift(li);
    }
    $('alerts').replaceChildren(...(alerts.length ? alerts : [Object.assign(document.createElement('li'), { textContent: 'none' })]));
    const jobs = s.failedJobs.map((j) => Object.assign(document.createElement('li'), { textContent: `#${j.id} ${j.task} after ${j.attempts} attempts: ${(j.lastError || '').split('\n')[0]}` }));
    $('jobs').replaceChildren(...(jobs.length ? jobs : [Object.assign(document.createElement('li'), { textContent: 'none' })]));
    charts ??= makeCharts();
    const t = s.series.map((p) => p.t / 1000);
    charts.rate.setData([t, s.series.map((p) => p.rps), s.series.map((p) => p.errorPercent)]);
    charts.latency.setData([t, s.series.map((p) => p.p50), s.series.map((p) => p.p99)]);
  }

  async function poll() {
    const key = sessionStorage.getItem(KEY);
    if (!key) return showLogin();
    try {
      const res = await fetch('/dashboard/api/summary', { headers: { authorization: `Bearer ${key}` }, cache: 'no-store' });
      if (res.status === 401) {
        sessionStorage.removeItem(KEY);
        return showLogin('That is not the service_role key, or this user is not an admin (or the session expired).');
      }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      $('login').hidden = true;
      $('board').hidden = false;
      $('logout').hidden = false;
      render(await res.json());
    } catch (err) {
      const overall = $('overall');
      overall.textContent = `unreachable (${err.message})`;
      overall.className = 'badge error';
    }
    timer = setTimeout(poll, POLL_MS);
  }

  $('login-key').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, $('key').value.trim());
    $('key').value = '';
    poll();
  });
  // An admin user: GoTrue's password grant with the anon key the page carries; its access token
  // opens the dashboard when the user's app_metadata has ops_admin (checked by the server).
  $('login-user').addEventListener('submit', async (e) => {
    e.preventDefault();
    const res = await fetch('/auth/v1/token?grant_type=password', {
      method: 'POST',
      headers: { apikey: document.body.dataset.anonKey, 'content-type': 'application/json' },
      body: JSON.stringify({ email: $('email').value.trim(), password: $('password').value }),
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok || !answer.access_token) return showLogin(answer.msg || answer.message || answer.error_description || `sign-in failed (HTTP ${res.status})`);
    $('password').value = '';
    sessionStorage.setItem(KEY, answer.access_token);
    poll();
  });
  $('logout').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    showLogin();
  });
  poll();
})();
