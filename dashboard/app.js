// Warden dashboard: plain ES modules, no build step. Everything it shows comes from the token-guarded API;
// live updates arrive as Server-Sent Events read with fetch (so the token travels in a header, never a URL).
// Views are deep-linkable: #/sandboxes/ID[/TAB], #/agent-runs/RUNID.
import { openTerminal } from './terminal.js';
import { FileBrowser } from './files.js';

const $ = (sel) => document.querySelector(sel);
const state = {
  token: sessionStorage.getItem('warden.token') || '',
  sandboxes: [],
  samples: new Map(),
  selected: null,
  outputAbort: null,
  eventsAbort: null,
  tab: 'overview',
  view: 'sandboxes',
  terminal: null,
  files: null,
  online: true,
};

/** The banner when the server does not answer (a fetch that fails to connect, or the live stream drops). */
function setOnline(on) {
  if (state.online === on) return;
  state.online = on;
  $('#offline').hidden = on;
  if (on) refreshList().catch(() => {});
}

/**
 * fetch, and for a read (GET, HEAD) once more after a short pause when the browser failed it without an
 * answer. Chrome fails the requests it is connecting whenever an address comes or goes on any of the
 * host's interfaces (net::ERR_NETWORK_CHANGED), and on a Docker host each new sandbox's networks do
 * that: a read is safe to ask again. An action is not (the server may have done it); it fails as it is.
 */
const READ_RETRY_MS = 250;
async function fetchSteady(url, opts = {}) {
  const method = (opts.method || 'GET').toUpperCase();
  try {
    return await fetch(url, opts);
  } catch (err) {
    if ((method !== 'GET' && method !== 'HEAD') || opts.signal?.aborted) throw err;
    await new Promise((r) => setTimeout(r, READ_RETRY_MS));
    return fetch(url, opts);
  }
}

async function api(path, opts = {}) {
  let res;
  try {
    res = await fetchSteady(`/api/v1${path}`, { ...opts, headers: { authorization: `Bearer ${state.token}`, ...(opts.body && typeof opts.body === 'string' ? { 'content-type': 'application/json' } : {}), ...(opts.headers || {}) } });
  } catch (err) {
    setOnline(false);
    throw new Error('the Warden server does not answer');
  }
  setOnline(true);
  if (res.status === 401) { showLogin('The server refused this token.'); throw new Error('unauthorized'); }
  if (opts.raw) { if (!res.ok) throw new Error(`${res.status}`); return res; }
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
  }, state.eventsAbort.signal, (on) => { $('#live').className = `live ${on ? 'on' : 'off'}`; setOnline(on); });
  route();
}

function pushSample(s) {
  const sb = state.sandboxes.find((x) => x.id === s.sandboxId);
  if (sb && sb.state !== 'running') return; // a late sample of a stopped sandbox is stale
  const arr = state.samples.get(s.sandboxId) || [];
  arr.push(s); if (arr.length > 40) arr.shift();
  state.samples.set(s.sandboxId, arr);
}

async function refreshList() {
  const [{ sandboxes }, { pools }] = await Promise.all([api('/sandboxes'), api('/pools')]);
  state.sandboxes = sandboxes;
  state.pools = pools;
  for (const sb of sandboxes) {
    // figures of a sandbox that is not running are stale: cleared, not shown as if current
    if (sb.state !== 'running') state.samples.delete(sb.id);
    else if (sb.lastSample && !state.samples.has(sb.id)) state.samples.set(sb.id, [sb.lastSample]);
  }
  renderFilters();
  renderRows();
  if (state.selected) { renderDetailTitle(); if (state.tab === 'overview') loadTab(); }
}

const fmtBytes = (n) => n == null ? '–' : n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)}G` : n >= 1 << 20 ? `${Math.round(n / (1 << 20))}M` : `${Math.round(n / 1024)}K`;
const age = (iso) => { const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000); return s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`; };
const esc = (t) => String(t ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
export { api, esc, fmtBytes, toast, state, confirmAction };

function spark(values, max) {
  if (values.length < 2) return '<svg class="spark"></svg>';
  const m = max || Math.max(1, ...values);
  const pts = values.map((v, i) => `${(i / (values.length - 1)) * 70},${18 - (Math.min(v, m) / m) * 16 - 1}`).join(' ');
  return `<svg class="spark" viewBox="0 0 70 18"><polyline points="${pts}"/></svg>`;
}

// ---------------------------------------------------------------- filters
function renderFilters() {
  const sel = $('#f-project');
  const projects = [...new Set(state.sandboxes.map((s) => s.project).filter(Boolean))].sort();
  const cur = sel.value;
  sel.innerHTML = `<option value="">any project</option>${projects.map((p) => `<option ${p === cur ? 'selected' : ''}>${esc(p)}</option>`).join('')}`;
}

function visible() {
  const q = $('#f-search').value.trim().toLowerCase();
  const st = $('#f-state').value;
  const pj = $('#f-project').value;
  const lb = $('#f-label').value.trim();
  const [lk, lv] = lb.includes('=') ? [lb.slice(0, lb.indexOf('=')), lb.slice(lb.indexOf('=') + 1)] : [lb, undefined];
  return state.sandboxes.filter((sb) =>
    (!st || sb.state === st) &&
    (!pj || sb.project === pj) &&
    (!lk || (lk in (sb.labels || {}) && (lv === undefined || sb.labels[lk] === lv))) &&
    (!q || [sb.id, sb.name, sb.key, sb.image, sb.project].some((v) => String(v ?? '').toLowerCase().includes(q))));
}
for (const id of ['#f-search', '#f-state', '#f-project', '#f-label']) $(id).addEventListener('input', () => renderRows());
$('#filters').addEventListener('submit', (e) => e.preventDefault());

function renderRows() {
  const list = visible();
  const rows = list.map((sb) => {
    const running = sb.state === 'running';
    const samples = running ? state.samples.get(sb.id) || [] : [];
    const last = running ? samples.at(-1) || sb.lastSample || {} : {};
    const cpu = last.cpuPercent, memPct = last.memoryBytes && last.memoryLimit ? (last.memoryBytes / last.memoryLimit) * 100 : undefined;
    return `<tr data-id="${esc(sb.id)}" data-testid="row-${esc(sb.id)}" class="${state.selected === sb.id ? 'sel' : ''}">
      <td><a class="name" href="#/sandboxes/${encodeURIComponent(sb.id)}">${esc(sb.name)}</a><div class="sub">${esc(sb.key ? `key ${sb.key}` : sb.id)}${sb.project ? ` · ${esc(sb.project)}` : ''} · ${esc(sb.image)}</div></td>
      <td><span class="badge s-${esc(sb.state)}" data-testid="state">${esc(sb.state)}</span></td>
      <td>${running && sb.health ? `<span class="badge h-${esc(sb.health)}">${esc(sb.health)}</span>` : ''}</td>
      <td data-testid="cpu"><div class="meter">${spark(samples.map((s) => s.cpuPercent || 0), 100)}<span>${cpu == null ? '–' : `${cpu.toFixed(0)}%`}</span></div></td>
      <td data-testid="mem"><div class="meter"><div class="bar"><i style="width:${Math.min(100, memPct || 0)}%"></i></div><span>${fmtBytes(last.memoryBytes)}</span></div></td>
      <td><div class="meter"><div class="bar"><i style="width:${Math.min(100, last.diskPercent || 0)}%"></i></div><span>${last.diskPercent == null ? '–' : `${Math.round(last.diskPercent)}%`}</span></div></td>
      <td>${age(sb.createdAt)}</td>
      <td class="actions">
        <button data-act="stop" ${running ? '' : 'disabled'} data-testid="stop">Stop</button>
        <button data-act="kill" ${running ? '' : 'disabled'} data-testid="kill">Kill</button>
        <button data-act="refresh" ${sb.state === 'vanished' || sb.state === 'removed' ? 'disabled' : ''}>Refresh</button>
        <button data-act="remove" ${sb.state === 'vanished' || sb.state === 'removed' ? 'disabled' : ''} data-testid="remove">Remove</button>
      </td></tr>`;
  });
  $('#rows').innerHTML = rows.join('');
  $('#empty').hidden = state.sandboxes.length > 0;
  $('#f-count').textContent = list.length === state.sandboxes.length ? '' : `${list.length} of ${state.sandboxes.length} shown`;
  const running = state.sandboxes.filter((s) => s.state === 'running').length;
  const warm = (state.pools || []).map((p) => `${p.template} ${p.ready}/${p.size}${p.preparing ? ` (+${p.preparing} warming)` : ''}`);
  $('#summary').textContent = `${state.sandboxes.length} sandboxes · ${running} running${warm.length ? ` · warm pool: ${warm.join(', ')}` : ''}`;
}

const ACTIONS = {
  stop: { title: 'Stop sandbox', text: 'Every process gets SIGTERM, then SIGKILL after the grace period. Files are kept.', ok: 'Stop' },
  kill: { title: 'Kill sandbox', text: 'Every process is killed at once (SIGKILL). Unsaved work inside is lost.', ok: 'Kill' },
  refresh: { title: 'Refresh sandbox', text: 'The sandbox is recreated from scratch with the same spec; the workspace is kept, everything else is reset.', ok: 'Refresh' },
  remove: { title: 'Remove sandbox', text: 'The sandbox is stopped and removed with its network and volumes. A host workspace is kept.', ok: 'Remove' },
};

/** A confirmation for anything that stops or destroys; resolves true when confirmed. */
function confirmAction(kind, target) {
  const a = ACTIONS[kind];
  $('#confirm-title').textContent = `${a.title} ${target}?`;
  $('#confirm-text').textContent = a.text;
  $('#confirm-ok').textContent = a.ok;
  const d = $('#confirm-action');
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'confirm'), { once: true }));
}

$('#rows').addEventListener('click', async (ev) => {
  const tr = ev.target.closest('tr'); if (!tr) return;
  const id = tr.dataset.id;
  const btn = ev.target.closest('button');
  const act = btn?.dataset.act;
  if (!act) { ev.preventDefault(); location.hash = `#/sandboxes/${encodeURIComponent(id)}`; return; }
  const sb = state.sandboxes.find((s) => s.id === id);
  if (!(await confirmAction(act, sb?.name || id))) return;
  btn.disabled = true;
  try {
    if (act === 'remove') await api(`/sandboxes/${encodeURIComponent(id)}`, { method: 'DELETE' });
    else await api(`/sandboxes/${encodeURIComponent(id)}/${act}`, { method: 'POST', body: '{}' });
    toast(`${act}: ${id} done`);
    if (act !== 'refresh') state.samples.delete(id);
  } catch (err) { toast(`${act} failed: ${err.message}`); }
  await refreshList();
});

// ---------------------------------------------------------------- routing (deep links)
function route() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const view = parts[0] === 'agent-runs' ? 'agent-runs' : 'sandboxes';
  state.view = view;
  document.querySelectorAll('.views a').forEach((a) => a.classList.toggle('active', a.dataset.view === view));
  $('#view-sandboxes').hidden = view !== 'sandboxes';
  $('#view-agent-runs').hidden = view !== 'agent-runs';
  if (view === 'agent-runs') return showRuns(parts[1]);
  if (parts[1]) select(parts[1], parts[2]);
}
window.addEventListener('hashchange', () => { if (!$('#app').hidden) route(); });

function renderDetailTitle() {
  const sb = state.sandboxes.find((s) => s.id === state.selected);
  $('#detail-title').textContent = sb ? `${sb.name} (${sb.state})` : state.selected;
}

function select(id, tab) {
  const changed = state.selected !== id;
  state.selected = id;
  $('#detail').hidden = false;
  renderRows(); renderDetailTitle();
  if (changed) {
    state.terminal?.close(); state.terminal = null;
    state.files = null;
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
  }
  showTab(tab && ACTIVE_TABS.includes(tab) ? tab : changed ? 'overview' : state.tab);
  // the detail sits under the list: bring it into sight
  $('#detail').scrollIntoView({ block: 'start', behavior: 'instant' });
}

const ACTIVE_TABS = ['overview', 'terminal', 'files', 'output', 'processes', 'egress', 'history'];
function showTab(tab) {
  state.tab = tab;
  document.querySelectorAll('.tabs button').forEach((x) => x.classList.toggle('active', x.dataset.tab === tab));
  document.querySelectorAll('#detail .tab').forEach((t) => { t.hidden = t.id !== `tab-${tab}`; });
  const want = `#/sandboxes/${encodeURIComponent(state.selected)}${tab === 'overview' ? '' : `/${tab}`}`;
  if (location.hash !== want) history.replaceState(null, '', want);
  loadTab();
}
document.querySelectorAll('.tabs button').forEach((b) => b.addEventListener('click', () => showTab(b.dataset.tab)));

async function loadTab() {
  const id = state.selected; if (!id) return;
  const el = $(`#tab-${state.tab}`);
  try {
    if (state.tab === 'overview') {
      el.innerHTML = overview(state.sandboxes.find((s) => s.id === id) || (await api(`/sandboxes/${encodeURIComponent(id)}`)).sandbox);
    } else if (state.tab === 'terminal') {
      const sb = state.sandboxes.find((s) => s.id === id);
      if (sb && sb.state !== 'running') { $('#term-status').textContent = `the sandbox is ${sb.state}: no terminal`; return; }
      if (!state.terminal || state.terminal.closed) state.terminal = await openTerminal(id, $('#term'), $('#term-status'));
      state.terminal.focus();
    } else if (state.tab === 'files') {
      state.files ??= new FileBrowser(id, $('#files-rows'), $('#files-path'));
      await state.files.load();
    } else if (state.tab === 'processes') {
      const { processes } = await api(`/sandboxes/${encodeURIComponent(id)}/processes`);
      el.innerHTML = `<table><tr><th>PID</th><th>Role</th><th>User</th><th>CPU</th><th>RSS</th><th>Command</th></tr>${processes.map((p) => `<tr><td>${p.pid}</td><td>${esc(p.role)}</td><td>${esc(p.user)}</td><td>${p.cpuPercent}%</td><td>${fmtBytes(p.rssBytes)}</td><td><code>${esc(p.command.length > 160 ? `${p.command.slice(0, 160)}…` : p.command)}</code></td></tr>`).join('')}</table>`;
    } else if (state.tab === 'egress') {
      const { egress, allowed, denied } = await api(`/sandboxes/${encodeURIComponent(id)}/egress`);
      el.innerHTML = `<p><span class="allowed">${allowed} allowed</span> · <span class="denied">${denied} denied</span></p><table><tr><th>Time</th><th>Request</th><th>Status</th><th>Rule</th></tr>${egress.slice(-200).reverse().map((r) => `<tr><td>${esc(r.time.slice(11, 19))}</td><td class="${r.allowed ? 'allowed' : 'denied'}">${esc(r.method)} ${esc(r.host)}:${r.port}${esc(r.path || '')}</td><td>${r.status}</td><td>${esc(r.rule)}</td></tr>`).join('')}</table>`;
    } else if (state.tab === 'history') {
      const { execs } = await api(`/sandboxes/${encodeURIComponent(id)}/execs`);
      el.innerHTML = `<table><tr><th>Started</th><th>Command</th><th>Kind</th><th>Exit</th><th>Duration</th></tr>${execs.map((x) => `<tr><td>${esc(x.startedAt.slice(11, 19))}</td><td><code>${esc(x.command.join(' '))}</code></td><td>${esc(x.mode)}</td><td>${x.exitCode ?? (x.endedAt ? '?' : 'running')}</td><td>${x.durationMs ?? '–'} ms</td></tr>`).join('')}</table>`;
    }
  } catch (err) { if (state.tab !== 'terminal') el.textContent = `could not load: ${err.message}`; else $('#term-status').textContent = `terminal: ${err.message}`; }
}

/** Spec, limits, mounts, network policy and preview links of a sandbox. */
function overview(sb) {
  let spec = {};
  try { spec = JSON.parse(sb.labels?.['warden.spec'] || '{}'); } catch { /* unreadable label */ }
  const r = spec.resources || {};
  const eg = spec.egress || {};
  const mounts = [
    ...(spec.workspace ? [{ source: spec.workspace, target: '/workspace', readOnly: false }] : spec.workspaceVolume ? [{ source: '(volume)', target: '/workspace', readOnly: false }] : [{ source: '(tmpfs)', target: '/workspace', readOnly: false }]),
    ...(spec.configDir ? [{ source: spec.configDir, target: '/app/config', readOnly: true }] : []),
    ...(spec.mounts || []),
  ];
  const row = (k, v) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`;
  const links = (sb.ports || []).filter((p) => p.url).map((p) => `<a href="${esc(p.url)}" target="_blank" rel="noopener" data-testid="preview-link">${esc(p.url)}</a> → ${p.containerPort}`);
  return `<div class="overview">
    <table class="kv" data-testid="spec">
      ${row('State', `<span class="badge s-${esc(sb.state)}">${esc(sb.state)}</span>${sb.exitCode != null && sb.state !== 'running' ? ` exit ${sb.exitCode}` : ''}${sb.oomKilled ? ' · OOM-killed' : ''}`)}
      ${row('Image', esc(sb.image))}
      ${row('Id', `<code>${esc(sb.id)}</code>${sb.key ? ` · key <code>${esc(sb.key)}</code>` : ''}${sb.project ? ` · project ${esc(sb.project)}` : ''}`)}
      ${row('Owner / lifetime', `${esc(sb.owner)} · ${esc(sb.lifetime)}`)}
      ${row('Limits', `<span data-testid="limits">memory ${fmtBytes(r.memory)} · ${esc(r.cpus ?? '–')} CPUs · ${esc(r.pids ?? '–')} pids · /tmp ${fmtBytes(r.tmpSize)} · home ${fmtBytes(r.homeSize)}${r.disk ? ` · disk ${fmtBytes(r.disk)}` : ''}</span>`)}
      ${row('Max runtime', spec.maxRuntime ? `${Math.round(spec.maxRuntime / 1000)} s` : 'none')}
      ${row('Network', `<span data-testid="network">${esc(spec.network || 'none')}${spec.network === 'allowlist' ? `: allow ${esc((eg.allow || []).join(', ') || '–')}${(eg.presets || []).length ? ` · presets ${esc(eg.presets.join(', '))}` : ''}${(eg.credentials || []).length ? ` · keyless ${esc(eg.credentials.join(', '))}` : ''}` : ''}</span>`)}
      ${row('Mounts', `<ul class="mounts" data-testid="mounts">${mounts.map((m) => `<li><code>${esc(m.source)}</code> → <code>${esc(m.target)}</code> ${m.readOnly ? 'ro' : 'rw'}</li>`).join('')}</ul>`)}
      ${row('Preview', links.length ? links.join('<br>') : '<span class="muted">no published ports</span>')}
      ${row('Created', `${esc(sb.createdAt)} (${age(sb.createdAt)} ago)`)}
      ${row('Labels', `<code class="labels">${esc(Object.entries(sb.labels || {}).filter(([k]) => k !== 'warden.spec').map(([k, v]) => `${k}=${v}`).join('  '))}</code>`)}
    </table></div>`;
}

// ---------------------------------------------------------------- agent runs
async function showRuns(runId) {
  try {
    const { runs } = await api('/agent-runs?limit=100');
    $('#runs').innerHTML = runs.map((r) => `<tr data-run="${esc(r.runId)}" data-testid="run-${esc(r.runId)}" class="${r.runId === runId ? 'sel' : ''}">
      <td><a href="#/agent-runs/${encodeURIComponent(r.runId)}"><code>${esc(r.runId)}</code></a></td><td>${esc(r.agent)}</td>
      <td><span class="badge r-${esc(r.status || (r.running ? 'running' : ''))}">${esc(r.status || (r.running ? 'running' : r.endedAt ? 'ended' : 'starting'))}</span></td>
      <td class="prompt">${esc((r.prompt || '').slice(0, 120))}</td><td>${esc((r.startedAt || '').slice(0, 19).replace('T', ' '))}</td><td>${r.durationMs != null ? `${(r.durationMs / 1000).toFixed(1)} s` : '–'}</td></tr>`).join('');
    $('#runs-empty').hidden = runs.length > 0;
    if (!runId) { $('#run-detail').hidden = true; return; }
    const { run, events, result } = await api(`/agent-runs/${encodeURIComponent(runId)}`);
    const d = $('#run-detail');
    d.hidden = false;
    d.innerHTML = `<h2>${esc(run.agent || 'run')} <code>${esc(runId)}</code></h2>
      <table class="kv">
        <tr><th>Prompt</th><td><pre class="prompt-full">${esc(run.prompt || '')}</pre></td></tr>
        <tr><th>Sandbox</th><td>${run.sandboxId ? `<a href="#/sandboxes/${encodeURIComponent(run.sandboxId)}">${esc(run.sandboxId)}</a>` : '–'}</td></tr>
        <tr><th>Status</th><td>${esc(run.status || 'running')}${run.exitCode != null ? ` · exit ${run.exitCode}` : ''}${run.sessionId ? ` · session <code>${esc(run.sessionId)}</code>` : ''}</td></tr>
        ${run.filesChanged ? `<tr><th>Files changed</th><td><pre>${esc(run.filesChanged)}</pre></td></tr>` : ''}
        ${result?.text ? `<tr><th>Answer</th><td><pre>${esc(result.text)}</pre></td></tr>` : ''}
      </table>
      <h3>Events</h3>
      <table data-testid="run-events"><tr><th>Time</th><th>Kind</th><th>Summary</th></tr>${(events || []).map((e) => `<tr><td>${esc((e.at || '').slice(11, 19))}</td><td>${esc(e.kind)}</td><td><code>${esc(e.summary)}</code></td></tr>`).join('') || '<tr><td colspan="3" class="muted">no notable events</td></tr>'}</table>`;
    d.scrollIntoView({ block: 'start', behavior: 'instant' });
  } catch (err) { toast(`agent runs: ${err.message}`); }
}

$('#agent-open').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const agent = $('#agent-name').value;
  const workspace = $('#agent-workspace').value.trim();
  const btn = $('#agent-open button');
  btn.disabled = true;
  toast(`starting ${agent} in a new sandbox…`);
  try {
    const { session } = await api(`/agents/${encodeURIComponent(agent)}/sessions`, { method: 'POST', body: JSON.stringify({ ...(workspace ? { workspace } : {}), cols: 120, rows: 36 }) });
    // the terminal tab attaches to this session
    sessionStorage.setItem(`warden.pty.${session.sandboxId}`, session.ptyId);
    await refreshList();
    location.hash = `#/sandboxes/${encodeURIComponent(session.sandboxId)}/terminal`;
  } catch (err) { toast(`${agent}: ${err.message}`); }
  finally { btn.disabled = false; }
});

$('#term-new').addEventListener('click', async () => {
  if (!state.selected) return;
  state.terminal?.close();
  state.terminal = await openTerminal(state.selected, $('#term'), $('#term-status'), { fresh: true });
  state.terminal.focus();
});

$('#panic').addEventListener('click', () => $('#confirm').showModal());
$('#confirm').addEventListener('close', async () => {
  if ($('#confirm').returnValue !== 'confirm') return;
  try { const { report } = await api('/panic', { method: 'POST', body: '{}' }); toast(`Emergency stop: ${report.containers} containers removed in ${report.durationMs} ms`); }
  catch (err) { toast(`Emergency stop failed: ${err.message}`); }
  state.samples.clear();
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
// liveness: the banner also shows when the server stops answering while nothing else is asked of it
setInterval(() => {
  if ($('#app').hidden) return;
  fetchSteady('/healthz', { cache: 'no-store' }).then((r) => setOnline(r.ok), () => setOnline(false));
}, 3_000);
