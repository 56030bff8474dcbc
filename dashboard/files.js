// The dashboard's file browser: list a directory (GET .../files/list), download a file (raw bytes),
// upload files into the current directory (PUT .../files, base64). Paths stay within the sandbox's roots;
// the server refuses anything else.
import { api, esc, fmtBytes, toast } from './app.js';

export class FileBrowser {
  constructor(sandboxId, rowsEl, pathEl) {
    this.id = sandboxId;
    this.rows = rowsEl;
    this.pathEl = pathEl;
    this.path = '/workspace';
    const upload = document.querySelector('#files-upload');
    upload.onchange = () => { void this.upload([...upload.files]).finally(() => { upload.value = ''; }); };
    rowsEl.onclick = (ev) => {
      const a = ev.target.closest('[data-open]');
      if (a) { ev.preventDefault(); this.path = a.dataset.open; void this.load(); return; }
      const d = ev.target.closest('[data-download]');
      if (d) { ev.preventDefault(); void this.download(d.dataset.download); }
    };
    pathEl.onclick = (ev) => {
      const a = ev.target.closest('[data-open]');
      if (a) { ev.preventDefault(); this.path = a.dataset.open; void this.load(); }
    };
  }

  url(p) { return `/sandboxes/${encodeURIComponent(this.id)}${p}`; }

  async load() {
    const { entries } = await api(this.url(`/files/list?path=${encodeURIComponent(this.path)}`));
    const parts = this.path.split('/').filter(Boolean);
    this.pathEl.innerHTML = parts.map((p, i) => `<a href="#" data-open="/${esc(parts.slice(0, i + 1).join('/'))}">${esc(p)}</a>`).join(' / ');
    const up = parts.length > 1 ? `<tr><td><a href="#" data-open="/${esc(parts.slice(0, -1).join('/'))}">..</a></td><td></td><td></td><td></td><td></td></tr>` : '';
    this.rows.innerHTML = up + entries.map((e) => {
      const full = `${this.path.replace(/\/$/, '')}/${e.name}`;
      const name = e.type === 'dir' ? `<a href="#" data-open="${esc(full)}">${esc(e.name)}/</a>` : e.type === 'link' ? `${esc(e.name)} <span class="muted">(link)</span>` : esc(e.name);
      return `<tr data-testid="file-${esc(e.name)}"><td>${name}</td><td>${e.type === 'dir' ? '' : fmtBytes(e.size)}</td><td>${esc(e.mtime.slice(0, 19).replace('T', ' '))}</td><td><code>${esc(e.mode)}</code></td><td>${e.type === 'file' ? `<button data-download="${esc(full)}">Download</button>` : ''}</td></tr>`;
    }).join('') || '<tr><td colspan="5" class="muted">empty</td></tr>';
  }

  async download(path) {
    const res = await api(this.url(`/files?path=${encodeURIComponent(path)}&encoding=raw`), { raw: true });
    const blob = await res.blob();
    const a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = path.split('/').pop();
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  async upload(files) {
    if (!files.length) return;
    const toB64 = async (f) => {
      const bytes = new Uint8Array(await f.arrayBuffer());
      let bin = '';
      for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
      return btoa(bin);
    };
    const body = { files: await Promise.all(files.map(async (f) => ({ path: `${this.path.replace(/\/$/, '')}/${f.name}`, base64: await toB64(f) }))) };
    try {
      await api(this.url('/files'), { method: 'PUT', body: JSON.stringify(body) });
      toast(`uploaded ${files.length} file${files.length === 1 ? '' : 's'} to ${this.path}`);
    } catch (err) { toast(`upload failed: ${err.message}`); }
    await this.load();
  }
}
