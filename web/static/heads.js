// /heads: every kiosk head with its reported status, heartbeat state,
// assigned body and diagnostics. Refreshes every 10 s.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_S = 10;
  let heads = [];
  let timer = null;

  function diagList(d) {
    const entries = d && typeof d === 'object' ? Object.entries(d) : [];
    if (entries.length === 0) return hc.el('span', { class: 'muted' }, '—');
    return hc.el('span', { class: 'chips' }, entries.map(([k, v]) =>
      hc.el('span', { class: 'chip', title: k }, `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)));
  }

  function row(h) {
    const place = [h.district, h.venue].filter(Boolean).join(' / ');
    const body = h.assigned_body_id
      ? hc.el('a', { href: '/nodes/' + encodeURIComponent(h.assigned_body_id) }, h.assigned_body_name || h.assigned_body_id)
      : hc.el('span', { class: 'muted' }, 'none');
    return hc.el('tr', { dataset: { id: h.id } },
      hc.el('td', { 'data-label': 'Online' }, hc.dot(h.node_status), hc.el('span', { class: 'visually-hidden' }, h.node_status || 'unknown')),
      hc.el('td', { class: 'name', 'data-label': 'Head' },
        hc.el('a', { href: '/heads/' + encodeURIComponent(h.id) }, h.name || h.id),
        hc.el('span', { class: 'sub mono' }, h.id)),
      hc.el('td', { 'data-label': 'Status' }, hc.statusBadge(h.status)),
      hc.el('td', { 'data-label': 'District / venue' }, place || hc.el('span', { class: 'muted' }, '—')),
      hc.el('td', { 'data-label': 'Assigned body' }, body),
      hc.el('td', { 'data-label': 'Last seen' }, hc.timeEl(h.last_seen)),
      hc.el('td', { 'data-label': 'Diagnostics' }, diagList(h.diagnostics)));
  }

  function render() {
    const q = $('q').value.trim().toLowerCase();
    const status = $('f-status').value;
    const online = $('f-online').value;
    const shown = heads.filter((h) => {
      if (status && h.status !== status) return false;
      if (online && h.node_status !== online) return false;
      if (q) {
        const hay = [h.id, h.name, h.district, h.venue, h.assigned_body_id, h.assigned_body_name].filter(Boolean).join(' ').toLowerCase();
        if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
      }
      return true;
    }).sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
    const tbody = hc.clear($('heads').tBodies[0]);
    for (const h of shown) tbody.append(row(h));
    $('empty').hidden = shown.length > 0;
    const streaming = heads.filter((h) => h.status === 'streaming').length;
    $('summary').textContent = `${shown.length} of ${heads.length} heads shown · ${streaming} streaming`;
  }

  async function load() {
    clearTimeout(timer);
    try {
      heads = hc.arrayOf(await hc.api('GET', '/api/v1/heads'), 'heads');
      hc.clearErrors();
      render();
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
    }
    timer = setTimeout(load, REFRESH_S * 1000);
    $('refresh-rate').textContent = `Auto-refresh every ${REFRESH_S} s · updated ${new Date().toLocaleTimeString()}`;
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('filters').addEventListener('input', render);
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('refresh').addEventListener('click', load);
    load();
  });
})();
