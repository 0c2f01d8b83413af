// /heads/{id}: one kiosk head: its screen (a JPEG read through the exec
// channel), its state and stream configuration, and its agent's log tail.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const id = hc.pathId(2);
  const base = '/api/v1/heads/' + encodeURIComponent(id);

  function fact(label, value) {
    return [hc.el('dt', {}, label), hc.el('dd', {}, value === undefined || value === null || value === '' ? hc.el('span', { class: 'muted' }, '—') : value)];
  }

  async function loadState() {
    try {
      const list = hc.arrayOf(await hc.api('GET', '/api/v1/heads'), 'heads');
      const h = list.find((x) => x.id === id);
      if (!h) {
        hc.showError(`There is no head ${id} (it may have been deleted).`);
        return;
      }
      document.title = `${h.name || h.id} · hydracluster`;
      $('h-title').textContent = h.name || h.id;
      hc.clear($('h-dot')).append(hc.dot(h.node_status));
      hc.clear($('h-status')).append(hc.statusBadge(h.status));
      $('h-sub').textContent = h.id;
      hc.clear($('facts')).append(
        ...fact('Status', hc.statusBadge(h.status)),
        ...fact('Node', hc.el('span', {}, hc.dot(h.node_status), ' ', h.node_status || 'unknown', ' · ',
          hc.el('a', { href: '/nodes/' + encodeURIComponent(h.id) }, 'node page'))),
        ...fact('Last seen', hc.timeEl(h.last_seen)),
        ...fact('District / venue', [h.district, h.venue].filter(Boolean).join(' / ')),
        ...fact('Assigned body', h.assigned_body_id
          ? hc.el('a', { href: '/nodes/' + encodeURIComponent(h.assigned_body_id) }, h.assigned_body_name || h.assigned_body_id)
          : null));
      const diag = hc.clear($('diagnostics'));
      const entries = h.diagnostics && typeof h.diagnostics === 'object' ? Object.entries(h.diagnostics) : [];
      if (entries.length === 0) diag.append(hc.el('dd', { class: 'muted' }, '—'));
      for (const [k, v] of entries) diag.append(...fact(k, hc.el('span', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v))));
    } catch (e) {
      hc.showError(e);
    }
  }

  async function loadConfig() {
    const box = hc.clear($('config-errors'));
    try {
      const c = await hc.api('GET', base);
      const allowed = Array.isArray(c.allowed_experiences) && c.allowed_experiences.length ? c.allowed_experiences.join(', ') : 'all';
      hc.clear($('config')).append(
        ...fact('Body', c.body_id ? hc.el('a', { href: '/nodes/' + encodeURIComponent(c.body_id) }, c.body_id) : null),
        ...fact('App', c.app_id),
        ...fact('Stream URL', c.stream_url && hc.el('span', { class: 'mono' }, c.stream_url)),
        ...fact('Stream URL (LAN)', c.stream_url_lan && hc.el('span', { class: 'mono' }, c.stream_url_lan)),
        ...fact('Experience library', c.experience_library_url && hc.el('span', { class: 'mono' }, c.experience_library_url)),
        ...fact('Allowed experiences', allowed));
    } catch (e) {
      hc.clear($('config'));
      hc.showError(e, box);
    }
  }

  // fetched (not <img src>) so that a 502/504 shows the server's reason; the
  // picture is then shown as a data: URL (the CSP allows data: images)
  async function loadScreenshot() {
    const box = hc.clear($('screenshot-errors'));
    const state = $('screenshot-state');
    state.textContent = 'Asking the kiosk for its screen…';
    await hc.busy($('screenshot-refresh'), async () => {
      try {
        const res = await fetch(base + '/screenshot', { credentials: 'same-origin' });
        if (res.status === 401) { location.assign(hc.loginUrl()); return; }
        if (!res.ok) {
          let msg = `HTTP ${res.status}`;
          try { const j = await res.json(); if (j && j.error) msg = `${j.error} (HTTP ${res.status}${j.code ? ', ' + j.code : ''})`; } catch (e) { /* not JSON */ }
          throw new Error(msg);
        }
        const blob = await res.blob();
        const url = await new Promise((resolve, reject) => {
          const r = new FileReader();
          r.onload = () => resolve(r.result);
          r.onerror = () => reject(new Error('cannot read the screenshot'));
          r.readAsDataURL(blob);
        });
        const img = $('screenshot');
        img.src = url;
        img.hidden = false;
        state.textContent = `Screenshot taken ${new Date().toLocaleTimeString()}.`;
      } catch (e) {
        state.textContent = 'No screenshot.';
        hc.showError(e, box);
      }
    });
  }

  async function loadLog() {
    const box = hc.clear($('log-errors'));
    await hc.busy($('log-refresh'), async () => {
      try {
        const r = await hc.api('GET', base + '/logs');
        $('log-path').textContent = r.log_path || '';
        const lines = Array.isArray(r.lines) ? r.lines : [];
        $('log').textContent = lines.length ? lines.join('\n') : '(empty)';
        $('log').scrollTop = $('log').scrollHeight;
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  // iPads run an app, not an agent with a shell: the server answers 409
  // no_shell for their screen and log, so the page says so without asking
  const NO_SHELL_OS = ['ipados', 'ios'];

  async function loadReadouts() {
    let os = '';
    try {
      os = String((await hc.api('GET', '/api/v1/nodes/' + encodeURIComponent(id))).os || '').toLowerCase();
    } catch (e) {
      hc.showError(e, hc.clear($('screenshot-errors')));
      return;
    }
    if (NO_SHELL_OS.includes(os)) {
      const why = `This head is an ${os === 'ios' ? 'iOS' : 'iPadOS'} device: its app has no shell, so its screen and log cannot be read from here.`;
      $('screenshot-state').textContent = why;
      $('log').textContent = why;
      $('screenshot-refresh').disabled = true;
      $('log-refresh').disabled = true;
      return;
    }
    loadScreenshot();
    loadLog();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('screenshot-refresh').addEventListener('click', loadScreenshot);
    $('log-refresh').addEventListener('click', loadLog);
    loadState();
    loadConfig();
    loadReadouts();
    setInterval(() => { if (!document.hidden) loadState(); }, 15000);
  });
})();
