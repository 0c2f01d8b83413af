// /sessions: streaming sessions (one head streaming from one body), active
// ones first. Refreshes every 5 s while any session is active, every 30 s
// otherwise, and says which. ?node=ID shows the sessions of one node.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const FAST_S = 5;
  const SLOW_S = 30;
  const ENDED_SHOWN = 200;
  const node = new URLSearchParams(location.search).get('node') || '';
  let sessions = [];
  let timer = null;

  function nodeLink(id, name, page) {
    if (!id) return hc.el('span', { class: 'muted' }, 'not joined');
    return hc.el('span', {}, hc.el('a', { href: `/${page}/` + encodeURIComponent(id) }, name || id),
      hc.el('span', { class: 'sub mono' }, id));
  }

  function row(s) {
    const place = [s.district, s.venue].filter(Boolean).join(' / ');
    const active = s.state === 'active';
    const logs = '/sessions/' + encodeURIComponent(s.id) + '/logs';
    return hc.el('tr', { class: active ? 'active-session' : '', dataset: { id: s.id } },
      hc.el('td', { class: 'name', 'data-label': 'Session' }, hc.el('a', { href: logs, class: 'mono' }, s.id)),
      hc.el('td', { 'data-label': 'State' }, active ? hc.badge('active', 'warn')
        : hc.el('span', {}, hc.badge('ended'), ' ', hc.el('span', { class: 'muted small' }, s.end_reason || ''))),
      hc.el('td', { 'data-label': 'Body' }, nodeLink(s.body_id, s.body_name, 'nodes')),
      hc.el('td', { 'data-label': 'Head' }, nodeLink(s.head_id, s.head_name, 'heads')),
      hc.el('td', { 'data-label': 'District / venue' }, place || hc.el('span', { class: 'muted' }, '—')),
      hc.el('td', { 'data-label': 'Started' }, hc.timeEl(s.started_at)),
      hc.el('td', { 'data-label': 'Ended' }, s.ended_at ? hc.timeEl(s.ended_at) : hc.el('span', { class: 'muted' }, '—')),
      hc.el('td', { 'data-label': 'Logs' }, hc.el('a', { href: logs }, 'Logs')));
  }

  function render() {
    const q = $('q').value.trim().toLowerCase();
    const state = $('f-state').value;
    const shown = sessions.filter((s) => {
      if (state && s.state !== state) return false;
      if (q) {
        const hay = [s.id, s.body_id, s.body_name, s.head_id, s.head_name, s.district, s.venue, s.end_reason]
          .filter(Boolean).join(' ').toLowerCase();
        if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
      }
      return true;
    });
    const tbody = hc.clear($('sessions').tBodies[0]);
    for (const s of shown) tbody.append(row(s));
    $('empty').hidden = shown.length > 0;
    const active = sessions.filter((s) => s.state === 'active').length;
    $('summary').textContent = `${shown.length} of ${sessions.length} sessions shown · ${active} active`;
  }

  async function load() {
    clearTimeout(timer);
    const n = node ? '&node=' + encodeURIComponent(node) : '';
    let rate = SLOW_S;
    try {
      const [active, ended] = await Promise.all([
        hc.api('GET', '/api/v1/sessions?state=active&limit=1000' + n),
        hc.api('GET', `/api/v1/sessions?state=ended&limit=${ENDED_SHOWN}` + n),
      ]);
      // active first, each group newest first (as the API sends them)
      sessions = hc.arrayOf(active, 'sessions').concat(hc.arrayOf(ended, 'sessions'));
      hc.clearErrors();
      render();
      if (sessions.some((s) => s.state === 'active')) rate = FAST_S;
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
    }
    timer = setTimeout(load, rate * 1000);
    $('refresh-rate').textContent = `Auto-refresh every ${rate} s${rate === FAST_S ? ' (a session is active)' : ''}`
      + ` · updated ${new Date().toLocaleTimeString()}`;
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (node) {
      const p = $('node-filter');
      p.hidden = false;
      p.append('Sessions of node ', hc.el('a', { href: '/nodes/' + encodeURIComponent(node), class: 'mono' }, node),
        ' · ', hc.el('a', { href: '/sessions' }, 'all sessions'));
    }
    $('filters').addEventListener('input', render);
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('refresh').addEventListener('click', load);
    load();
  });
})();
