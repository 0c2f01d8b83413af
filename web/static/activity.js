// /activity: the fleet-wide audit log, newest first, 200 entries a page
// ("Load older" pages back with ?before=). The target filter asks the server
// (?target=, exact); search, action and actor filter what is loaded. The
// filters stay in the address.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 200;
  let entries = [];
  let more = false;

  function filters() {
    return { q: $('q').value.trim().toLowerCase(), target: $('f-target').value.trim(), action: $('f-action').value, actor: $('f-actor').value };
  }

  function saveFilters() {
    const f = filters();
    const p = new URLSearchParams();
    if ($('q').value.trim()) p.set('q', $('q').value.trim());
    for (const k of ['target', 'action', 'actor']) if (f[k]) p.set(k, f[k]);
    const qs = p.toString();
    history.replaceState(null, '', qs ? '?' + qs : location.pathname);
  }

  function fillSelect(sel, values) {
    const keep = sel.value;
    const want = [...new Set(values.filter(Boolean))].sort();
    if (keep && !want.includes(keep)) want.push(keep);
    while (sel.options.length > 1) sel.remove(1);
    for (const v of want) sel.append(hc.el('option', { value: v }, v));
    sel.value = keep;
  }

  function targetCell(t) {
    if (!t) return hc.el('span', { class: 'muted' }, '—');
    if (/^node-/.test(t)) return hc.el('a', { href: '/nodes/' + encodeURIComponent(t), class: 'mono' }, t);
    return hc.el('span', { class: 'mono' }, t);
  }

  function render() {
    const f = filters();
    fillSelect($('f-action'), entries.map((e) => e.action));
    fillSelect($('f-actor'), entries.map((e) => e.actor));
    const shown = entries.filter((e) => {
      if (f.action && e.action !== f.action) return false;
      if (f.actor && e.actor !== f.actor) return false;
      if (f.q) {
        const hay = [e.actor, e.action, e.target, JSON.stringify(e.detail || {})].join(' ').toLowerCase();
        if (!f.q.split(/\s+/).every((w) => hay.includes(w))) return false;
      }
      return true;
    });
    const tbody = hc.clear($('activity').tBodies[0]);
    for (const e of shown) {
      const d = e.detail && Object.keys(e.detail).length ? JSON.stringify(e.detail) : '';
      tbody.append(hc.el('tr', { dataset: { id: String(e.id) } },
        hc.el('td', { 'data-label': 'When' }, hc.timeEl(e.at)),
        hc.el('td', { 'data-label': 'Who', class: 'mono small' }, e.actor || '—'),
        hc.el('td', { 'data-label': 'What', class: 'mono' }, e.action || '—'),
        hc.el('td', { 'data-label': 'Target' }, targetCell(e.target)),
        hc.el('td', { 'data-label': 'Details', class: 'mono small' }, d)));
    }
    $('empty').hidden = shown.length > 0;
    $('summary').textContent = `${shown.length} of ${entries.length} loaded entries shown` + (more ? ' · older ones can be loaded' : '');
    $('older').hidden = !more;
  }

  async function load(older) {
    const f = filters();
    const p = new URLSearchParams({ limit: String(PAGE) });
    if (f.target) p.set('target', f.target);
    if (older && entries.length) p.set('before', String(entries[entries.length - 1].id));
    try {
      const page = hc.arrayOf(await hc.api('GET', '/api/v1/audit?' + p.toString()), 'entries');
      entries = older ? entries.concat(page) : page;
      more = page.length === PAGE;
      hc.clearErrors();
      render();
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    const p = new URLSearchParams(location.search);
    if (p.get('q')) $('q').value = p.get('q');
    if (p.get('target')) $('f-target').value = p.get('target');
    for (const k of ['action', 'actor']) {
      const v = p.get(k);
      if (v) { $('f-' + k).append(hc.el('option', { value: v }, v)); $('f-' + k).value = v; }
    }
    let t = null;
    $('filters').addEventListener('input', (ev) => {
      saveFilters();
      if (ev.target.id === 'f-target') {
        clearTimeout(t);
        t = setTimeout(() => load(false), 300); // the server filters by target
      } else {
        render();
      }
    });
    $('filters').addEventListener('submit', (e) => { e.preventDefault(); load(false); });
    $('refresh').addEventListener('click', () => load(false));
    $('older').addEventListener('click', () => load(true));
    load(false);
  });
})();
