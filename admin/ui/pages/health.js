// The health dashboard as a page of the admin UI: the summary /dashboard shows (ops/dashboard),
// polled every 2 s, with uPlot charts of the last hour.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { Alert, api, html } from '../api.js';

const ms = (n) => (n == null ? '–' : `${n < 10 ? n.toFixed(1) : Math.round(n)} ms`);

function Chart({ series, label, keys, colors }) {
  const el = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    const data = [series.map((p) => p.t / 1000), ...keys.map((k) => series.map((p) => p[k]))];
    if (!plot.current) {
      plot.current = new uPlot({ width: Math.max(320, (el.current.clientWidth || 640) - 20), height: 180, series: [{ label: 'time' }, ...keys.map((k, i) => ({ label: k, stroke: colors[i] }))] }, data, el.current);
    } else plot.current.setData(data);
  }, [series]);
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<figure><figcaption>${label}</figcaption><div ref=${el}></div></figure>`;
}

export function HealthPage() {
  const [s, setS] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let timer;
    const poll = () =>
      api('GET', '/health').then(
        (x) => (setS(x), setError(null)),
        setError,
      ).finally(() => (timer = setTimeout(poll, 2000)));
    poll();
    return () => clearTimeout(timer);
  }, []);
  if (!s) return html`<${Alert} error=${error} />`;
  const last = s.series.at(-1);
  return html`<div>
    <p><span class=${`badge ${s.status}`} id="overall">${s.status === 'ok' ? 'all up' : 'degraded'}</span> sampled ${new Date(s.sampledAt).toLocaleTimeString()}</p>
    <${Alert} error=${error} />
    <table class="grid" aria-label="Services"><thead><tr><th>component</th><th>status</th><th>latency</th><th>detail</th></tr></thead>
      <tbody>${Object.entries(s.services).map(([name, c]) => html`<tr data-service=${name} data-status=${c.status} class=${c.status}><td>${name}</td><td><span class=${`status ${c.status}`}>${c.status}</span></td><td>${ms(c.response_time_ms)}</td><td>${c.error ?? ''}</td></tr>`)}</tbody></table>
    <dl class="numbers">
      <div><dt>requests</dt><dd>${s.totals.requests}</dd></div>
      <div><dt>5xx</dt><dd>${s.totals.errors}</dd></div>
      <div><dt>req/s</dt><dd>${last ? last.rps.toFixed(1) : '0'}</dd></div>
      <div><dt>p50 / p99 (window)</dt><dd>${ms(s.window.p50)} / ${ms(s.window.p99)}</dd></div>
      <div><dt>realtime sockets / channels</dt><dd>${s.realtime.sockets} / ${s.realtime.channels}</dd></div>
      <div><dt>DB pools in use</dt><dd>${Object.entries(s.pools).map(([n, p]) => `${n} ${p.inUse}/${p.max}`).join(' · ')}</dd></div>
      <div><dt>disk free</dt><dd>${s.diskFreePercent == null ? '–' : `${s.diskFreePercent.toFixed(1)} %`}</dd></div>
    </dl>
    <${Chart} series=${s.series} label="Requests per second and 5xx %" keys=${['rps', 'errorPercent']} colors=${['#2563eb', '#d64545']} />
    <${Chart} series=${s.series} label="Latency p50 / p99 (ms)" keys=${['p50', 'p99']} colors=${['#1f9d55', '#b7791f']} />
    <h2>Recent alerts</h2>
    <ul>${s.alerts.length ? s.alerts.map((a) => html`<li class=${a.resolved_at || a.kind === 'event' ? '' : 'failed'}>${a.started_at} [${a.severity}] ${a.summary}</li>`) : html`<li>none</li>`}</ul>
    <p>The same numbers for scripts: <a href="/dashboard">/dashboard</a> (service_role key or an ops admin's token).</p>
  </div>`;
}
