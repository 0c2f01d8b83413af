// The dashboard (/): pending approvals on top, then the nodes with search and
// filters, a page of PAGE at a time. The server filters and pages
// (GET /api/v1/nodes?…&limit=&after=) and counts (GET /api/v1/nodes/summary),
// so a refresh moves one page, the counts and the pending cards, never the
// whole fleet; an unchanged page comes back as 304 from the browser's cache
// (the server sends ETags). Columns sort the page shown. Refreshes every 5 s
// while any node streams, else every 30 s.
// Columns sort; rows can be selected for bulk actions; when a refresh fails
// the table is marked stale and no dot shows green from old data.
'use strict';

(() => {
  const FAST_S = 5;
  const SLOW_S = 30;
  const FILTERS = ['q', 'status', 'role', 'district', 'venue', 'stream'];
  const PAGE = 100;
  let nodes = []; // the page shown
  let pendingNodes = [];
  let summary = null;
  let cursors = ['']; // after= of each page visited: keyset paging, back by the stack
  let timer = null;
  let searchTimer = null;
  let loading = false;
  let again = false;
  let sort = { key: 'name', dir: 'asc' };
  const selected = new Set();
  let stale = false;
  let lastOk = null; // when the shown data was fetched
  let catalog = null; // role names, for the bulk role setter

  const $ = (id) => document.getElementById(id);

  function filterState() {
    return {
      q: $('q').value.trim().toLowerCase(),
      status: $('f-status').value,
      role: $('f-role').value,
      district: $('f-district').value,
      venue: $('f-venue').value,
      stream: $('f-stream').value,
    };
  }

  // keep the filters in the address so a reload or a shared link keeps them
  function saveFilters() {
    const f = filterState();
    const p = new URLSearchParams();
    for (const k of FILTERS) if (f[k]) p.set(k, k === 'q' ? $('q').value.trim() : f[k]);
    const qs = p.toString();
    history.replaceState(null, '', qs ? '?' + qs : location.pathname);
  }

  function loadFilters() {
    const p = new URLSearchParams(location.search);
    if (p.get('q')) $('q').value = p.get('q');
    for (const k of FILTERS.slice(1)) {
      const v = p.get(k);
      if (v) {
        const sel = $('f-' + k);
        if (![...sel.options].some((o) => o.value === v)) sel.append(hc.el('option', { value: v }, v));
        sel.value = v;
      }
    }
  }

  // the server's query for the filters (q as typed; stream as the API names it)
  function query(f) {
    const p = new URLSearchParams();
    if (f.q) p.set('q', $('q').value.trim());
    if (f.status) p.set('status', f.status);
    if (f.role) p.set('role', f.role);
    if (f.district) p.set('district', f.district);
    if (f.venue) p.set('venue', f.venue);
    if (f.stream) p.set('stream_status', f.stream);
    return p;
  }

  // fills a <select> with the values seen in the data, keeping the choice
  function fillSelect(sel, values) {
    const keep = sel.value;
    const want = [...new Set(values.filter(Boolean))].sort();
    if (keep && !want.includes(keep)) want.push(keep);
    const have = [...sel.options].slice(1).map((o) => o.value);
    if (have.join('\n') === want.join('\n')) return;
    while (sel.options.length > 1) sel.remove(1);
    for (const v of want) sel.append(hc.el('option', { value: v }, v));
    sel.value = keep;
  }

  function nodeRow(n) {
    const roles = Array.isArray(n.roles) ? n.roles : [];
    const place = [n.district, n.venue].filter(Boolean).join(' / ');
    const name = hc.el('td', { class: 'name', 'data-label': 'Name' },
      hc.el('a', { href: '/nodes/' + encodeURIComponent(n.id) }, n.name || n.hostname || n.id),
      hc.el('span', { class: 'sub mono' }, n.id + (n.hostname && n.hostname !== n.name ? ' · ' + n.hostname : '')));
    if (n.approval && n.approval !== 'approved') name.append(' ', hc.badge(n.approval, n.approval === 'pending' ? 'warn' : 'bad'));
    if (n.drain) name.append(' ', hc.badge('draining', 'warn'));
    const status = stale ? 'unknown' : n.node_status;
    const box = hc.el('input', {
      type: 'checkbox', class: 'row-select', 'aria-label': 'Select ' + (n.name || n.id), checked: selected.has(n.id),
      onchange: (e) => { if (e.target.checked) selected.add(n.id); else selected.delete(n.id); updateBulk(); },
    });
    return hc.el('tr', { dataset: { id: n.id } },
      hc.el('td', { class: 'select', 'data-label': 'Select' }, box),
      hc.el('td', { 'data-label': 'Online' }, hc.dot(status), hc.el('span', { class: 'visually-hidden' }, stale ? 'unknown (stale)' : n.node_status || 'unknown')),
      name,
      hc.el('td', { 'data-label': 'Roles' }, roles.length
        ? hc.el('span', { class: 'chips' }, roles.map((r) => hc.el('span', { class: 'chip' }, r)))
        : hc.el('span', { class: 'muted' }, '—')),
      hc.el('td', { 'data-label': 'District / venue' }, place || hc.el('span', { class: 'muted' }, '—')),
      hc.el('td', { 'data-label': 'Stream' }, hc.statusBadge(n.stream_status)),
      hc.el('td', { 'data-label': 'Provider' }, hc.statusBadge(n.provider_status)),
      hc.el('td', { 'data-label': 'Version', class: 'mono' }, n.version || '—'),
      hc.el('td', { 'data-label': 'Last seen' }, hc.timeEl(n.last_seen)));
  }

  async function decide(n, action, card) {
    const box = card.querySelector('[role=alert]');
    hc.clear(box);
    if (action === 'reject' && !confirm(`Reject ${n.name || n.id}? Its token stops working.`)) return;
    const buttons = [...card.querySelectorAll('button')];
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await hc.api('POST', `/api/v1/nodes/${encodeURIComponent(n.id)}/${action}`);
      await load();
    } catch (e) {
      hc.showError(e, box);
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  function pendingCard(n) {
    const card = hc.el('li', { class: 'card', dataset: { id: n.id } });
    card.append(
      hc.el('h3', {}, hc.el('a', { href: '/nodes/' + encodeURIComponent(n.id) }, n.name || n.hostname || n.id)),
      hc.el('p', { class: 'small muted' },
        [n.hostname, [n.os, n.arch].filter(Boolean).join('/'), n.version, n.ip].filter(Boolean).join(' · ') || n.id),
      hc.el('p', { class: 'small' }, 'Enrolled ', hc.timeEl(n.enrolled_at), n.owner ? ` · owner ${n.owner}` : ''),
      hc.el('div', { class: 'actions' },
        hc.el('button', { type: 'button', class: 'primary', onclick: () => decide(n, 'approve', card) }, 'Approve'),
        hc.el('button', { type: 'button', class: 'danger', onclick: () => decide(n, 'reject', card) }, 'Reject')),
      hc.el('div', { role: 'alert' }));
    return card;
  }

  function render() {
    const pending = pendingNodes;
    const list = $('pending');
    // keep a card whose action failed (its error stays visible)
    const keep = new Map([...list.children].filter((c) => c.querySelector('[role=alert] p')).map((c) => [c.dataset.id, c]));
    hc.clear(list);
    for (const n of pending) list.append(keep.get(n.id) || pendingCard(n));
    const npending = summary ? summary.pending : pending.length;
    $('pending-count').textContent = String(npending);
    $('pending-section').hidden = npending === 0;

    fillSelect($('f-role'), summary ? summary.roles : []);
    fillSelect($('f-district'), summary ? summary.districts : []);
    fillSelect($('f-venue'), summary ? summary.venues : []);

    const shown = [...nodes].sort(byColumn);
    const tbody = $('nodes').tBodies[0];
    hc.clear(tbody);
    for (const n of shown) tbody.append(nodeRow(n));
    const total = summary ? summary.total : nodes.length;
    const matched = summary ? summary.matched : nodes.length;
    $('empty').hidden = shown.length > 0;
    $('empty').textContent = total === 0 ? 'No nodes yet: enroll one on the Enroll page.' : 'No nodes match the filters.';
    const first = (cursors.length - 1) * PAGE;
    const range = nodes.length ? `${first + 1}–${first + nodes.length} of ${matched} matching` : `0 of ${matched} matching`;
    $('summary').textContent = summary
      ? `${range} · ${total} nodes · ${summary.online} online · ${summary.streaming} streaming`
      : range;
    $('prev').disabled = cursors.length <= 1;
    $('next').disabled = nodes.length < PAGE || first + nodes.length >= matched;
    $('page-info').textContent = matched > PAGE ? `page ${cursors.length} of ${Math.ceil(matched / PAGE)}` : '';
    $('nodes').classList.toggle('stale', stale);
    // a selected node that is gone (deleted) leaves the selection
    for (const id of [...selected]) if (!nodes.some((n) => n.id === id)) selected.delete(id);
    updateBulk();
  }

  const SORT_VALUE = {
    status: (n) => (n.approval !== 'approved' ? n.approval : n.node_status),
    name: (n) => (n.name || n.hostname || n.id).toLowerCase(),
    roles: (n) => (Array.isArray(n.roles) ? n.roles.join(',') : ''),
    place: (n) => [n.district, n.venue].filter(Boolean).join(' / '),
    stream: (n) => n.stream_status,
    provider: (n) => n.provider_status,
    version: (n) => n.version,
    last_seen: (n) => (n.last_seen ? Date.parse(n.last_seen) : null),
  };

  function byColumn(a, b) {
    const get = SORT_VALUE[sort.key] || SORT_VALUE.name;
    const c = hc.compare(get(a), get(b)) || hc.compare(SORT_VALUE.name(a), SORT_VALUE.name(b));
    // empty values stay last either way
    const ea = get(a) === null || get(a) === undefined || get(a) === '';
    const eb = get(b) === null || get(b) === undefined || get(b) === '';
    if (ea !== eb) return ea ? 1 : -1;
    return sort.dir === 'desc' ? -c : c;
  }

  // ---- bulk actions ----

  function updateBulk() {
    const n = selected.size;
    $('bulk').hidden = n === 0;
    $('bulk-count').textContent = `${n} selected`;
    const boxes = [...document.querySelectorAll('#nodes tbody .row-select')];
    const all = $('select-all');
    all.checked = boxes.length > 0 && boxes.every((b) => b.checked);
    all.indeterminate = !all.checked && boxes.some((b) => b.checked);
    if (n > 0 && catalog === null) loadCatalog();
  }

  async function loadCatalog() {
    catalog = [];
    try {
      catalog = hc.normaliseRoles(await hc.api('GET', '/api/v1/roles')).map((r) => r.name);
    } catch (e) {
      hc.showError(e, $('bulk-result'));
    }
    const fs = $('bulk-roles');
    hc.clear(fs);
    fs.append(hc.el('legend', { class: 'visually-hidden' }, 'Roles'));
    for (const r of catalog) {
      fs.append(hc.el('label', { class: 'check' }, hc.el('input', { type: 'checkbox', value: r, name: 'bulk-role' }), ' ' + r));
    }
  }

  // runs one request per selected node; says how many worked and why the others did not
  async function bulk(button, label, request) {
    const ids = [...selected];
    const box = $('bulk-result');
    hc.clear(box);
    await hc.busy(button, async () => {
      let ok = 0;
      const failed = [];
      for (const id of ids) {
        try {
          await request(id);
          ok++;
        } catch (e) {
          failed.push(`${id}: ${hc.errorText(e)}`);
        }
      }
      box.append(hc.el('p', { class: failed.length ? 'error' : 'ok' }, `${label}: ${ok} of ${ids.length} done`));
      for (const f of failed) box.append(hc.el('p', { class: 'error' }, f));
      await load();
    });
  }

  function setupBulk() {
    const path = (id, what) => `/api/v1/nodes/${encodeURIComponent(id)}/${what}`;
    $('select-all').addEventListener('change', (e) => {
      for (const b of document.querySelectorAll('#nodes tbody .row-select')) {
        b.checked = e.target.checked;
        const id = b.closest('tr').dataset.id;
        if (b.checked) selected.add(id); else selected.delete(id);
      }
      updateBulk();
    });
    $('bulk-approve').addEventListener('click', (e) => bulk(e.currentTarget, 'Approve', (id) => {
      const n = nodes.find((x) => x.id === id);
      // approving an approved node is a no-op on the server too; skip the request
      return n && n.approval === 'approved' ? null : hc.api('POST', path(id, 'approve'));
    }));
    $('bulk-update-node').addEventListener('click', (e) => bulk(e.currentTarget, 'Update node agent',
      (id) => hc.api('POST', path(id, 'update-node'))));
    $('bulk-update-services').addEventListener('click', (e) => bulk(e.currentTarget, 'Update services',
      (id) => hc.api('POST', path(id, 'update-services'))));
    $('bulk-set-roles').addEventListener('click', (e) => {
      const roles = [...document.querySelectorAll('#bulk-roles input:checked')].map((b) => b.value);
      const what = roles.length ? roles.join(', ') : 'no roles';
      if (!confirm(`Replace the roles of ${selected.size} node(s) with: ${what}?`)) return;
      bulk(e.currentTarget, 'Set roles', (id) => hc.api('POST', path(id, 'roles'), { roles }));
    });
    $('bulk-clear').addEventListener('click', () => {
      selected.clear();
      render();
    });
    $('bulk').addEventListener('submit', (e) => e.preventDefault());
  }

  function showStale(err) {
    const b = $('stale');
    hc.clear(b);
    b.hidden = false;
    b.append(`Refresh failed at ${hc.isoLocal(new Date())}: ${hc.errorText(err)}. `,
      lastOk ? `The table shows data from ${hc.isoLocal(lastOk)} (${hc.relTime(lastOk.toISOString())}); online states are unknown.`
        : 'No data yet.');
  }

  function schedule(seconds, why) {
    clearTimeout(timer);
    timer = setTimeout(load, seconds * 1000);
    $('refresh-rate').textContent = `Auto-refresh every ${seconds} s${why ? ' (' + why + ')' : ''} · updated ${new Date().toLocaleTimeString()}`;
  }

  async function load() {
    if (loading) {
      again = true; // a filter changed meanwhile: load once more when this one ends
      return;
    }
    if (document.hidden) {
      // nobody looks: check again later (becoming visible reloads at once)
      schedule(SLOW_S, 'paused while the page is hidden');
      return;
    }
    loading = true;
    again = false;
    try {
      const q = query(filterState());
      const page = new URLSearchParams(q);
      page.set('limit', String(PAGE));
      const after = cursors[cursors.length - 1];
      if (after) page.set('after', after);
      const [s, data] = await Promise.all([
        hc.api('GET', '/api/v1/nodes/summary?' + q),
        hc.api('GET', '/api/v1/nodes?' + page),
      ]);
      summary = s;
      nodes = hc.arrayOf(data, 'nodes');
      if (nodes.length === 0 && cursors.length > 1) {
        // the page emptied (nodes removed or filters changed): back to the first
        cursors = [''];
        loading = false;
        return load();
      }
      pendingNodes = summary.pending > 0
        ? hc.arrayOf(await hc.api('GET', `/api/v1/nodes?status=pending&limit=${PAGE}`), 'nodes')
        : [];
      stale = false;
      lastOk = new Date();
      $('stale').hidden = true;
      hc.clearErrors();
      render();
      const streaming = summary.streaming > 0;
      schedule(streaming ? FAST_S : SLOW_S, streaming ? 'a node is streaming' : 'nothing streams');
    } catch (e) {
      hc.clearErrors();
      stale = true;
      showStale(e);
      render();
      schedule(SLOW_S, 'after an error');
    } finally {
      loading = false;
    }
    if (again) load();
  }

  // a filter changed: first page, in the address, from the server (typing waits for a pause)
  function filtersChanged(e) {
    saveFilters();
    cursors = [''];
    clearTimeout(searchTimer);
    if (e && e.target && e.target.id === 'q') searchTimer = setTimeout(load, 250);
    else load();
  }

  document.addEventListener('DOMContentLoaded', () => {
    loadFilters();
    sort = hc.sortable($('nodes'), () => render(), sort);
    setupBulk();
    $('filters').addEventListener('input', filtersChanged);
    $('next').addEventListener('click', () => {
      if (nodes.length) cursors.push(nodes[nodes.length - 1].id);
      load();
    });
    $('prev').addEventListener('click', () => {
      if (cursors.length > 1) cursors.pop();
      load();
    });
    $('filters').addEventListener('submit', (e) => e.preventDefault());
    $('refresh').addEventListener('click', () => load());
    document.addEventListener('visibilitychange', () => { if (!document.hidden) load(); });
    load();
  });
})();
