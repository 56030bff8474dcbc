// Warden dashboard: plain ES module, no build step. Everything it shows comes from the token-guarded API;
// live updates arrive as Server-Sent Events read with fetch (so the token travels in a header, never a URL).
const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem('warden.token') || '', sandboxes: [], samples: new Map(), selected: null, outputAbort: null, eventsAbort: null, tab: 'output' };

async function api(path, opts = {}) {
  const res = await fetch(`/api/v1${path}`, { ...opts, headers: { authorization: `Bearer ${state.token}`, ...(opts.body ? { 'content-type': 'application/json' } : {}), ...(opts.headers || {}) } });
  if (res.status === 401) { showLogin('The server refused this token.'); throw new Error('unauthorized'); }
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new Error(body?.error?.message || `${res.status}`);
  return body;
}

/** Follow an SSE endpoint with fetch; calls onEvent(name, data) per frame until aborted. Reconnects on drop. */
async function follow(path, onEvent, signal, onState = () => {}) {
  while (!signal.aborted) {
    try {
      const res = await fetch(`/api/v1${path}`, { headers: { authorization: `Bearer ${state.token}` }, signal });
      if (res.status === 401) return showLogin('The server refused this token.');
      if (!res.ok || !res.body) throw new Error(`${res.status}`);
      onState(true);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i); buf = buf.slice(i + 2);
          let ev = 'message', data = '';
          for (const line of frame.split('\n')) {
            if (line.startsWith('event: ')) ev = line.slice(7);
            else if (line.startsWith('data: ')) data += line.slice(6);
          }
          if (data) onEvent(ev, JSON.parse(data));
        }
      }
    } catch (err) { if (signal.aborted) return; }
    onState(false);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function showLogin(msg = '') {
  $('#login').hidden = false; $('#app').hidden = true; $('#panic').hidden = true; $('#logout').hidden = true;
  $('#login-error').textContent = msg;
  state.eventsAbort?.abort(); state.outputAbort?.abort();
}

async function start() {
  $('#login').hidden = true; $('#app').hidden = false; $('#logout').hidden = false;
  // the emergency stop is shown to admin tokens only (the server refuses others anyway); it stops this instance's sandboxes
  const me = await api('/whoami').catch(() => ({ role: 'admin' }));
  $('#panic').hidden = me.role !== 'admin';
  if (me.instance) $('#panic').title = `Emergency stop: kill and remove every sandbox of instance '${me.instance}'${Object.keys(me.labels || {}).length ? ` with ${Object.entries(me.labels).map(([k, v]) => `${k}=${v}`).join(', ')}` : ''}`;
  await refreshList();
  state.eventsAbort?.abort();
  state.eventsAbort = new AbortController();
  let pending = null;
  const soon = () => { pending ??= setTimeout(() => { pending = null; refreshList().catch(() => {}); }, 150); };
  follow('/events', (ev, e) => {
    if (ev === 'sample') { pushSample(e); renderRows(); }
    else if (ev === 'sandbox' || ev === 'panic' || ev === 'exec-exit') soon();
    else if (ev === 'egress' && state.selected === e.sandboxId && state.tab === 'egress') loadTab();
  }, state.eventsAbort.signal, (on) => { $('#live').className = `live ${on ? 'on' : 'off'}`; });
}

function pushSample(s) {
  const arr = state.samples.get(s.sandboxId) || [];
  arr.push(s); if (arr.length > 40) arr.shift();
  state.samples.set(s.sandboxId, arr);
}

async function refreshList() {
  const [{ sandboxes }, { pools }] = await Promise.all([api('/sandboxes'), api('/pools')]);
  state.sandboxes = sandboxes;
  state.pools = pools;
  for (const sb of sandboxes) if (sb.lastSample && !state.samples.has(sb.id)) state.samples.set(sb.id, [sb.lastSample]);
  renderRows();
  if (state.selected) renderDetailTitle();
}

const fmtBytes = (n) => n == null ? '–' : n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)}G` : n >= 1 << 20 ? `${Math.round(n / (1 << 20))}M` : `${Math.round(n / 1024)}K`;
const age = (iso) => { const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000); return s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`; };
const esc = (t) => String(t ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

function spark(values, max) {
  if (values.length < 2) return '<svg class="spark"></svg>';
  const m = max || Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * 70},${18 - (Math.min(v, m) / m) * 16 - 1}`).join(' ');
  return `<svg class="spark" viewBox="0 0 70 18"><polyline points="${pts}"/></svg>`;
}

function renderRows() {
  const rows = state.sandboxes.map((sb) => {
    const samples = state.samples.get(sb.id) || [];
    const last = samples.at(-1) || sb.lastSample || {};
    const cpu = last.cpuPercent, memPct = last.memoryBytes && last.memoryLimit ? (last.memoryBytes / last.memoryLimit) * 100 : undefined;
    const running = sb.state === 'running';
    return `<tr data-id="${esc(sb.id)}" data-testid="row-${esc(sb.id)}" class="${state.selected === sb.id ? 'sel' : ''}">
      <td><div class="name">${esc(sb.name)}</div><div class="sub">${esc(sb.key ? `key ${sb.key}` : sb.id)}${sb.project ? ` · ${esc(sb.project)}` : ''} · ${esc(sb.image)}</div></td>
      <td><span class="badge s-${esc(sb.state)}" data-testid="state">${esc(sb.state)}</span></td>
      <td>${sb.health ? `<span class="badge h-${esc(sb.health)}">${esc(sb.health)}</span>` : ''}</td>
      <td><div class="meter">${spark(samples.map((s) => s.cpuPercent || 0), 100)}<span>${cpu == null ? '–' : `${cpu.toFixed(0)}%`}</span></div></td>
      <td><div class="meter"><div class="bar"><i style="width:${Math.min(100, memPct || 0)}%"></i></div><span>${fmtBytes(last.memoryBytes)}</span></div></td>
      <td><div class="meter"><div class="bar"><i style="width:${Math.min(100, last.diskPercent || 0)}%"></i></div><span>${last.diskPercent == null ? '–' : `${Math.round(last.diskPercent)}%`}</span></div></td>
      <td>${age(sb.createdAt)}</td>
      <td class="actions">
        <button data-act="stop" ${running ? '' : 'disabled'} data-testid="stop">Stop</button>
        <button data-act="kill" ${running ? '' : 'disabled'}>Kill</button>
        <button data-act="refresh" ${sb.state === 'vanished' || sb.state === 'removed' ? 'disabled' : ''}>Refresh</button>
        <button data-act="remove" ${sb.state === 'vanished' || sb.state === 'removed' ? 'disabled' : ''}>Remove</button>
      </td></tr>`;
  });
  $('#rows').innerHTML = rows.join('');
  $('#empty').hidden = state.sandboxes.length > 0;
  const running = state.sandboxes.filter((s) => s.state === 'running').length;
  const warm = (state.pools || []).map((p) => `${p.template} ${p.ready}/${p.size}${p.preparing ? ` (+${p.preparing} warming)` : ''}`);
  $('#summary').textContent = `${state.sandboxes.length} sandboxes · ${running} running${warm.length ? ` · warm pool: ${warm.join(', ')}` : ''}`;
}

$('#rows').addEventListener('click', async (ev) => {
  const tr = ev.target.closest('tr'); if (!tr) return;
  const id = tr.dataset.id;
  const act = ev.target.closest('button')?.dataset.act;
  if (!act) return select(id);
  ev.target.disabled = true;
  try {
    if (act === 'remove') await api(`/sandboxes/${encodeURIComponent(id)}`, { method: 'DELETE' });
    else await api(`/sandboxes/${encodeURIComponent(id)}/${act}`, { method: 'POST', body: '{}' });
    toast(`${act}: ${id} done`);
  } catch (err) { toast(`${act} failed: ${err.message}`); }
  await refreshList();
});

function renderDetailTitle() {
  const sb = state.sandboxes.find((s) => s.id === state.selected);
  $('#detail-title').textContent = sb ? `${sb.name} (${sb.state})` : state.selected;
}

function select(id) {
  state.selected = id;
  $('#detail').hidden = false;
  renderRows(); renderDetailTitle();
  const out = $('#tab-output'); out.textContent = '';
  state.outputAbort?.abort();
  state.outputAbort = new AbortController();
  follow(`/sandboxes/${encodeURIComponent(id)}/output`, (ev, e) => {
    const span = document.createElement('span');
    if (ev === 'output') { span.className = e.stream; span.textContent = e.data; }
    else if (ev === 'exec-start') { span.className = 'meta'; span.textContent = `$ ${e.command.join(' ')}\n`; }
    else if (ev === 'exec-exit') { span.className = 'meta'; span.textContent = `[exit ${e.exitCode}${e.killedBy ? `, killed by ${e.killedBy}` : ''} after ${e.durationMs} ms]\n`; }
    else return;
    const stick = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
    out.append(span);
    if (stick) out.scrollTop = out.scrollHeight;
  }, state.outputAbort.signal);
  loadTab();
}

document.querySelectorAll('.tabs button').forEach((b) => b.addEventListener('click', () => {
  state.tab = b.dataset.tab;
  document.querySelectorAll('.tabs button').forEach((x) => x.classList.toggle('active', x === b));
  document.querySelectorAll('.tab').forEach((t) => { t.hidden = t.id !== `tab-${state.tab}`; });
  loadTab();
}));

async function loadTab() {
  const id = state.selected; if (!id || state.tab === 'output') return;
  const el = $(`#tab-${state.tab}`);
  try {
    if (state.tab === 'processes') {
      const { processes } = await api(`/sandboxes/${encodeURIComponent(id)}/processes`);
      el.innerHTML = `<table><tr><th>PID</th><th>Role</th><th>User</th><th>CPU</th><th>RSS</th><th>Command</th></tr>${processes.map((p) => `<tr><td>${p.pid}</td><td>${esc(p.role)}</td><td>${esc(p.user)}</td><td>${p.cpuPercent}%</td><td>${fmtBytes(p.rssBytes)}</td><td><code>${esc(p.command)}</code></td></tr>`).join('')}</table>`;
    } else if (state.tab === 'egress') {
      const { egress, allowed, denied } = await api(`/sandboxes/${encodeURIComponent(id)}/egress`);
      el.innerHTML = `<p><span class="allowed">${allowed} allowed</span> · <span class="denied">${denied} denied</span></p><table><tr><th>Time</th><th>Request</th><th>Status</th><th>Rule</th></tr>${egress.slice(-200).reverse().map((r) => `<tr><td>${esc(r.time.slice(11, 19))}</td><td class="${r.allowed ? 'allowed' : 'denied'}">${esc(r.method)} ${esc(r.host)}:${r.port}${esc(r.path || '')}</td><td>${r.status}</td><td>${esc(r.rule)}</td></tr>`).join('')}</table>`;
    } else if (state.tab === 'history') {
      const { execs } = await api(`/sandboxes/${encodeURIComponent(id)}/execs`);
      el.innerHTML = `<table><tr><th>Started</th><th>Command</th><th>Exit</th><th>Duration</th></tr>${execs.map((x) => `<tr><td>${esc(x.startedAt.slice(11, 19))}</td><td><code>${esc(x.command.join(' '))}</code></td><td>${x.exitCode ?? (x.endedAt ? '?' : 'running')}</td><td>${x.durationMs ?? '–'} ms</td></tr>`).join('')}</table>`;
    }
  } catch (err) { el.textContent = `could not load: ${err.message}`; }
}

$('#panic').addEventListener('click', () => $('#confirm').showModal());
$('#confirm').addEventListener('close', async () => {
  if ($('#confirm').returnValue !== 'confirm') return;
  try { const { report } = await api('/panic', { method: 'POST', body: '{}' }); toast(`Emergency stop: ${report.containers} containers removed in ${report.durationMs} ms`); }
  catch (err) { toast(`Emergency stop failed: ${err.message}`); }
  await refreshList();
});

function toast(msg) { const t = $('#toast'); t.textContent = msg; t.classList.add('show'); clearTimeout(toast.t); toast.t = setTimeout(() => t.classList.remove('show'), 3500); }

$('#login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  state.token = $('#token').value.trim();
  try { await api('/sandboxes'); sessionStorage.setItem('warden.token', state.token); await start(); }
  catch (err) { if (err.message !== 'unauthorized') $('#login-error').textContent = err.message; }
});
$('#logout').addEventListener('click', () => { sessionStorage.removeItem('warden.token'); state.token = ''; showLogin(); });

if (state.token) start().catch(() => showLogin()); else showLogin();
setInterval(() => { if (!$('#app').hidden) renderRows(); }, 30_000);
