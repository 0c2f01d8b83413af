// /nodes/{id}: the Terminal panel. An interactive shell on the node in a
// fresh PTY: xterm.js (vendored, web/static/vendor/xterm) on the client
// WebSocket GET /api/v1/nodes/{id}/shell, authenticated by the session
// cookie (the server checks the Origin). Binary frames carry terminal bytes
// both ways; {"type":"resize"} goes out when the panel's size changes;
// {"type":"exit","code":N} comes back when the shell ends (docs/api.md "Shell").
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const id = hc.pathId(2);
  const FONT = 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace'; // as in terminal.css
  const FONT_SIZE = 14;
  const ROWS = 24;
  let term = null;
  let ws = null;

  function status(text) {
    $('term-status').textContent = text;
  }

  // columns that fit the panel, from the width of one character in the terminal's font
  function fitCols() {
    const probe = hc.el('span', { class: 'term-probe' }, 'W'.repeat(50));
    probe.style.fontFamily = FONT;
    probe.style.fontSize = FONT_SIZE + 'px';
    document.body.append(probe);
    const w = probe.getBoundingClientRect().width / 50;
    probe.remove();
    const avail = $('term-box').clientWidth - 24; // padding and the scroll bar
    return Math.max(20, Math.min(300, Math.floor(avail / (w || 8))));
  }

  function closeReason(ev) {
    try {
      const r = JSON.parse(ev.reason);
      if (r.code === 'exit') return `the shell exited with ${r.exit_code}`;
      return r.error || r.code || `closed (${ev.code})`;
    } catch (e) {
      return ev.reason || (ev.code === 1006 ? 'the connection was lost' : `closed (${ev.code})`);
    }
  }

  function stop() {
    if (ws) ws.close(1000);
  }

  function start() {
    if (ws) return;
    if (!term) {
      term = new Terminal({ fontFamily: FONT, fontSize: FONT_SIZE, rows: ROWS, cols: fitCols(), cursorBlink: true,
        scrollback: 2000 });
      term.open($('term-box'));
      term.onData((d) => { if (ws && ws.readyState === WebSocket.OPEN) ws.send(new TextEncoder().encode(d)); });
      term.onResize(({ cols, rows }) => {
        if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols, rows }));
      });
      window.addEventListener('resize', () => { const c = fitCols(); if (term && c !== term.cols) term.resize(c, term.rows); });
    } else {
      term.reset();
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = `${proto}//${location.host}/api/v1/nodes/${encodeURIComponent(id)}/shell?cols=${term.cols}&rows=${term.rows}`;
    status('Connecting… (the node\'s agent has to pick the session up)');
    ws = new WebSocket(url);
    ws.binaryType = 'arraybuffer';
    $('term-open').disabled = true;
    $('term-close').disabled = false;
    let attached = false;
    ws.onopen = () => { term.focus(); };
    ws.onmessage = (ev) => {
      if (!attached) { attached = true; status('Connected: a shell on the node in a fresh terminal.'); }
      if (typeof ev.data === 'string') {
        try {
          const m = JSON.parse(ev.data);
          if (m.type === 'exit') term.write(`\r\n[the shell exited with ${m.code}]\r\n`);
        } catch (e) { /* not ours to show */ }
        return;
      }
      term.write(new Uint8Array(ev.data));
    };
    ws.onclose = (ev) => {
      status('Closed: ' + closeReason(ev) + '.');
      ws = null;
      $('term-open').disabled = false;
      $('term-close').disabled = true;
    };
  }

  $('term-open').addEventListener('click', start);
  $('term-close').addEventListener('click', stop);
  window.addEventListener('beforeunload', stop);
})();
