// The realtime inspector: joins a channel over realtime-js's protocol (Phoenix channels, vsn
// 1.0.0) with the public anon key, and shows broadcasts, presence and database changes live
// (the changes RLS lets anon see). It can send broadcasts and track presence too.
import { useEffect, useRef, useState } from 'preact/hooks';
import { html } from '../api.js';

export function RealtimePage({ me }) {
  const [channel, setChannel] = useState('room-1');
  const [table, setTable] = useState('');
  const [state, setState] = useState('closed');
  const [events, setEvents] = useState([]);
  const ws = useRef(null);
  const ref = useRef(0);
  const topic = `realtime:${channel}`;
  const push = (event, payload, t = topic) => ws.current?.send(JSON.stringify({ topic: t, event, payload, ref: String(++ref.current) }));
  const log = (kind, data) => setEvents((e) => [{ at: new Date().toLocaleTimeString(), kind, data }, ...e].slice(0, 200));
  useEffect(() => () => ws.current?.close(), []);
  function join(e) {
    e.preventDefault();
    ws.current?.close();
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/realtime/v1/websocket?apikey=${encodeURIComponent(me.anonKey)}&vsn=1.0.0`;
    const socket = new WebSocket(url);
    ws.current = socket;
    setState('connecting');
    let heartbeat;
    socket.onopen = () => {
      const changes = table ? [{ event: '*', schema: 'public', table }] : [];
      push('phx_join', { config: { broadcast: { self: true }, presence: { key: 'admin' }, postgres_changes: changes }, access_token: me.anonKey });
      heartbeat = setInterval(() => push('heartbeat', {}, 'phoenix'), 25_000);
    };
    socket.onmessage = (m) => {
      const msg = JSON.parse(m.data);
      if (msg.event === 'phx_reply' && msg.payload?.status === 'ok' && state !== 'joined') setState('joined');
      if (msg.event === 'phx_reply' && msg.payload?.status === 'error') setState(`refused: ${JSON.stringify(msg.payload.response)}`);
      if (msg.topic === 'phoenix') return;
      if (['broadcast', 'presence_state', 'presence_diff', 'postgres_changes', 'system'].includes(msg.event)) log(msg.event, msg.payload);
    };
    socket.onclose = () => (clearInterval(heartbeat), setState('closed'));
  }
  function send(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    let payload = f.get('payload');
    try {
      payload = JSON.parse(payload);
    } catch {
      // sent as text
    }
    push('broadcast', { type: 'broadcast', event: f.get('event'), payload });
  }
  return html`<div>
    <form class="toolbar" onSubmit=${join} aria-label="Join a channel">
      <label for="rt-channel">Channel</label><input id="rt-channel" value=${channel} onInput=${(e) => setChannel(e.target.value)} required />
      <label for="rt-table">Database changes of table (public)</label><input id="rt-table" value=${table} onInput=${(e) => setTable(e.target.value)} placeholder="optional" />
      <button type="submit" class="primary">Join</button>
      <button type="button" onClick=${() => ws.current?.close()}>Leave</button>
      <span role="status" id="rt-state">${state}</span>
    </form>
    <form class="toolbar" onSubmit=${send} aria-label="Send a broadcast">
      <label for="rt-event">Event</label><input id="rt-event" name="event" defaultValue="message" />
      <label for="rt-payload">Payload (JSON)</label><input id="rt-payload" name="payload" defaultValue='{"hello":"world"}' />
      <button type="submit" disabled=${state !== 'joined'}>Broadcast</button>
      <button type="button" disabled=${state !== 'joined'} onClick=${() => push('presence', { type: 'presence', event: 'track', payload: { who: me.admin.email, at: new Date().toISOString() } })}>Track presence</button>
    </form>
    <ol class="events" aria-live="polite" aria-label="Messages">${events.map((e) => html`<li><time>${e.at}</time> <strong>${e.kind}</strong> <code>${JSON.stringify(e.data)}</code></li>`)}</ol>
  </div>`;
}
