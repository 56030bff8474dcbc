// The dashboard's terminal tab: xterm.js (served by the Warden server from its own npm dependency) over
// the WebSocket terminal route. The session outlives the tab: its id is kept per sandbox for this browser
// tab, so switching away and back (or reloading) attaches again and replays recent output.
import { Terminal } from '/dashboard/vendor/xterm.mjs';
import { FitAddon } from '/dashboard/vendor/addon-fit.mjs';

/** A browser cannot set headers on a WebSocket: the token goes as a subprotocol, base64url-encoded. */
function b64url(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Open (or attach to) a terminal session of `sandboxId` in `el`. Returns { focus, close, closed }.
 * `fresh`: start a new session even if one is remembered.
 */
export async function openTerminal(sandboxId, el, statusEl, { fresh = false } = {}) {
  el.innerHTML = '';
  const term = new Terminal({
    cursorBlink: true,
    fontSize: 13,
    fontFamily: 'ui-monospace, SFMono-Regular, Menlo, monospace',
    scrollback: 5000,
    theme: { background: '#0a0c0f', foreground: '#d8dee9', cursor: '#58a6ff', selectionBackground: '#264f78' },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(el);
  fit.fit();
  const key = `warden.pty.${sandboxId}`;
  const remembered = fresh ? null : sessionStorage.getItem(key);
  const token = sessionStorage.getItem('warden.token') || '';
  const handle = { closed: false, ptyId: null, focus: () => term.focus(), close: () => {} };
  const status = (t) => { statusEl.textContent = t; };

  const connect = (attachTo) => {
    const ws = new WebSocket(`${location.origin.replace(/^http/, 'ws')}/api/v1/sandboxes/${encodeURIComponent(sandboxId)}/pty/ws`, ['warden', `bearer.${b64url(token)}`]);
    ws.binaryType = 'arraybuffer';
    status(attachTo ? 'attaching…' : 'starting a shell…');
    ws.onopen = () => ws.send(JSON.stringify(attachTo ? { type: 'attach', ptyId: attachTo, cols: term.cols, rows: term.rows } : { type: 'start', cols: term.cols, rows: term.rows }));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return void term.write(new Uint8Array(ev.data));
      const m = JSON.parse(ev.data);
      if (m.type === 'ready') {
        handle.ptyId = m.ptyId;
        sessionStorage.setItem(key, m.ptyId);
        status(`session ${m.ptyId} · ${term.cols}×${term.rows}`);
        el.dataset.ptyId = m.ptyId;
      } else if (m.type === 'exit') {
        sessionStorage.removeItem(key);
        handle.closed = true;
        status(`the program exited with code ${m.exitCode}${m.killedBy ? ` (killed by ${m.killedBy})` : ''}; “New session” opens another`);
        term.write(`\r\n\x1b[90m[exited ${m.exitCode}]\x1b[0m\r\n`);
      } else if (m.type === 'error') {
        if (attachTo && m.code === 'PTY_NOT_FOUND') {
          // the remembered session has ended: start a new one
          sessionStorage.removeItem(key);
          ws.onclose = null;
          ws.close();
          current = connect(null);
          return;
        }
        status(`terminal error: ${m.message}`);
      } else if (m.type === 'resized') {
        status(`session ${handle.ptyId} · ${m.cols}×${m.rows}`);
      }
    };
    ws.onclose = () => {
      if (!handle.closed) status('disconnected; the session keeps running (open the tab again to attach)');
      handle.closed = true;
    };
    return ws;
  };
  let current = connect(remembered);
  const enc = new TextEncoder();
  term.onData((d) => { if (current.readyState === WebSocket.OPEN) current.send(enc.encode(d)); });
  term.onBinary((d) => { if (current.readyState === WebSocket.OPEN) current.send(Uint8Array.from(d, (c) => c.charCodeAt(0))); });
  term.onResize(({ cols, rows }) => { if (current.readyState === WebSocket.OPEN) current.send(JSON.stringify({ type: 'resize', cols, rows })); });
  let pending = null;
  const ro = new ResizeObserver(() => { clearTimeout(pending); pending = setTimeout(() => { if (el.offsetParent) fit.fit(); }, 60); });
  ro.observe(el);
  handle.close = () => {
    handle.closed = true;
    ro.disconnect();
    // leaving the tab detaches; the session goes on inside the sandbox
    if (current.readyState === WebSocket.OPEN) current.send(JSON.stringify({ type: 'detach' }));
    current.onclose = null;
    current.close();
    term.dispose();
  };
  return handle;
}
