// Storage through storage-api (on the server, with the service_role key): buckets, folders,
// upload by picking or dropping files, download, delete, image previews.
import { useEffect, useState } from 'preact/hooks';
import { Alert, api, html, seg, useLoad } from '../api.js';

const isImage = (name) => /\.(png|jpe?g|gif|webp|svg|avif)$/i.test(name);

function Preview({ bucket, path }) {
  const [url, setUrl] = useState(null);
  useEffect(() => {
    let revoke;
    api('GET', `/storage/object/${seg(bucket, ...path.split('/'))}`, undefined, { raw: true })
      .then((r) => r.blob())
      .then((b) => setUrl((revoke = URL.createObjectURL(b))))
      .catch(() => setUrl(null));
    return () => revoke && URL.revokeObjectURL(revoke);
  }, [bucket, path]);
  return url ? html`<img class="preview" src=${url} alt=${`Preview of ${path}`} />` : null;
}

function Browser({ bucket, canWrite }) {
  const [prefix, setPrefix] = useState('');
  const [error, setError] = useState(null);
  const [dragging, setDragging] = useState(false);
  const [items, loadError, reload] = useLoad(() => api('POST', `/storage/object/list/${seg(bucket)}`, { prefix, limit: 1000, sortBy: { column: 'name', order: 'asc' } }), [bucket, prefix]);
  async function upload(files) {
    setError(null);
    try {
      for (const f of files) await api('POST', `/storage/object/${seg(bucket, ...(prefix + f.name).split('/'))}`, f, { headers: { 'x-content-type': f.type || 'application/octet-stream', 'x-upsert': 'true' } });
      reload();
    } catch (err) {
      setError(err);
    }
  }
  async function download(name) {
    const res = await api('GET', `/storage/object/${seg(bucket, ...(prefix + name).split('/'))}`, undefined, { raw: true });
    const a = document.createElement('a');
    a.href = URL.createObjectURL(await res.blob());
    a.download = name;
    a.click();
    URL.revokeObjectURL(a.href);
  }
  async function remove(name) {
    if (!confirm(`Delete ${prefix}${name}?`)) return;
    await api('DELETE', `/storage/object/${seg(bucket)}`, { prefixes: [prefix + name] }).catch(setError);
    reload();
  }
  const folder = (e) => {
    e.preventDefault();
    const name = new FormData(e.target).get('folder');
    if (name) setPrefix(`${prefix}${String(name).replace(/^\/+|\/+$/g, '')}/`);
  };
  const crumbs = prefix.split('/').filter(Boolean);
  return html`<div>
    <nav aria-label="Folder" class="crumbs"><button type="button" onClick=${() => setPrefix('')}>${bucket}</button>
      ${crumbs.map((c, i) => html` / <button type="button" onClick=${() => setPrefix(crumbs.slice(0, i + 1).join('/') + '/')}>${c}</button>`)}</nav>
    ${canWrite && html`<div class=${`dropzone${dragging ? ' over' : ''}`} id="dropzone"
        onDragOver=${(e) => (e.preventDefault(), setDragging(true))} onDragLeave=${() => setDragging(false)}
        onDrop=${(e) => (e.preventDefault(), setDragging(false), upload([...e.dataTransfer.files]))}>
      <label for="upload">Drop files here, or choose: </label><input id="upload" type="file" multiple onChange=${(e) => upload([...e.target.files])} />
      <form onSubmit=${folder} class="inline"><label for="folder">New folder</label> <input id="folder" name="folder" /> <button type="submit">Open</button></form>
    </div>`}
    <${Alert} error=${error || loadError} />
    <table class="grid" aria-label="Objects"><thead><tr><th>name</th><th>size</th><th>type</th><th>updated</th><th></th></tr></thead>
      <tbody>${(items ?? []).map((o) =>
        o.id === null
          ? html`<tr><td><button type="button" onClick=${() => setPrefix(`${prefix}${o.name}/`)}>📁 ${o.name}/</button></td><td colspan="4"></td></tr>`
          : html`<tr data-object=${o.name}><td>${o.name}${isImage(o.name) && html`<${Preview} bucket=${bucket} path=${prefix + o.name} />`}</td><td>${o.metadata?.size ?? ''}</td><td>${o.metadata?.mimetype ?? ''}</td>
              <td>${o.updated_at ? new Date(o.updated_at).toLocaleString() : ''}</td>
              <td class="row-actions"><button type="button" onClick=${() => download(o.name)}>Download</button>${canWrite && html` <button type="button" onClick=${() => remove(o.name)}>Delete</button>`}</td></tr>`,
      )}</tbody></table>
  </div>`;
}

export function StoragePage({ me }) {
  const canWrite = me.admin.role !== 'read_only';
  const [buckets, error, reload] = useLoad(() => api('GET', '/storage/bucket'), []);
  const [open, setOpen] = useState(null);
  const [createError, setCreateError] = useState(null);
  async function create(e) {
    e.preventDefault();
    const f = new FormData(e.target);
    try {
      await api('POST', '/storage/bucket', { name: f.get('name'), public: f.get('public') === 'on' });
      setOpen(String(f.get('name')));
      reload();
    } catch (err) {
      setCreateError(err);
    }
  }
  return html`<div class="split">
    <aside aria-label="Buckets">
      <h2>Buckets</h2>
      <ul class="relations">${(buckets ?? []).map((b) => html`<li><button type="button" class=${open === b.id ? 'current' : ''} onClick=${() => setOpen(b.id)}>${b.name} <small>${b.public ? 'public' : 'private'}</small></button></li>`)}</ul>
      ${canWrite && html`<form onSubmit=${create} aria-label="Create a bucket"><label for="bucket-name">New bucket</label><input id="bucket-name" name="name" required pattern="[A-Za-z0-9_.\\-]+" />
        <label class="inline"><input type="checkbox" name="public" /> public</label><button type="submit">Create bucket</button></form>`}
      <${Alert} error=${error || createError} />
    </aside>
    <section class="detail">${open ? html`<${Browser} bucket=${open} canWrite=${canWrite} />` : html`<p>Pick a bucket.</p>`}</section>
  </div>`;
}
