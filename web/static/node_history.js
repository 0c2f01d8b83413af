// /nodes/{id}, continued: the node's online/offline timeline (the last 7
// days as a bar, and the periods listed) from GET …/events, and its command
// history from GET …/exec with a cancel button for pending commands.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const id = hc.pathId(2);
  const base = '/api/v1/nodes/' + encodeURIComponent(id);
  const WINDOW_MS = 7 * 86400 * 1000;
  const REFRESH_S = 30;

  function duration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    if (s < 2 * 86400) return `${(s / 3600).toFixed(1)} h`;
    return `${(s / 86400).toFixed(1)} d`;
  }

  const rfc = (t) => new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');

  // Periods [{state, from, to}] (ms) covering [start, now] from the events
  // (oldest first), the presence before the window, and the node itself.
  function periods(events, before, node, start, now) {
    const out = [];
    let state = before ? (before.kind === 'online' ? 'online' : 'offline') : 'unknown';
    let from = start;
    const move = (t, next) => {
      t = Math.min(Math.max(t, from), now);
      if (next === state) return;
      if (t > from) out.push({ state, from, to: t });
      state = next;
      from = t;
    };
    for (const e of events) {
      const at = Date.parse(e.at);
      if (e.kind === 'online') move(at, 'online');
      // the drop happened after the last heartbeat; it was noticed later
      else if (e.kind === 'offline') move(Date.parse((e.detail && e.detail.last_seen) || e.at), 'offline');
      else if (e.kind === 'enroll') move(at, 'offline');
    }
    // offline now, though not recorded yet (within the sweep's delay)
    if (state === 'online' && node && node.node_status === 'offline' && node.last_seen) move(Date.parse(node.last_seen), 'offline');
    if (now > from) out.push({ state, from, to: now });
    return out;
  }

  async function loadTimeline() {
    const errors = hc.clear($('timeline-errors'));
    const now = Date.now();
    const start = now - WINDOW_MS;
    try {
      const [events, node] = await Promise.all([
        hc.api('GET', `${base}/events?kind=online,offline,enroll&since=${rfc(start)}&limit=1000`),
        hc.api('GET', base),
      ]);
      const list = hc.arrayOf(events, 'events').slice().reverse();
      // the presence before the window: the newest online/offline event older than it
      let before = null;
      const oldest = list.length ? list[0].id : null;
      const prior = await hc.api('GET', `${base}/events?kind=online,offline&limit=1${oldest ? '&before=' + oldest : ''}`);
      const p = hc.arrayOf(prior, 'events')[0];
      if (p && Date.parse(p.at) < start) before = p;
      else if (!oldest && p) before = p;
      const ps = periods(list, before, node, start, now);
      const bar = hc.clear($('timeline'));
      for (const x of ps) {
        const w = ((x.to - x.from) / WINDOW_MS) * 100;
        const seg = hc.el('span', {
          class: x.state,
          title: `${x.state} ${hc.isoLocal(new Date(x.from))} → ${hc.isoLocal(new Date(x.to))} (${duration(x.to - x.from)})`,
          dataset: { state: x.state },
        });
        seg.style.width = w.toFixed(3) + '%'; // CSSOM, not a style attribute: the CSP allows only 'self' styles
        bar.append(seg);
      }
      $('timeline-from').textContent = hc.isoLocal(new Date(start));
      const tbody = hc.clear($('periods').tBodies[0]);
      for (const x of ps.slice().reverse()) {
        tbody.append(hc.el('tr', { dataset: { state: x.state } },
          hc.el('td', { 'data-label': 'State' }, x.state === 'unknown' ? hc.el('span', { class: 'muted' }, 'not enrolled or no record') : hc.statusBadge(x.state)),
          hc.el('td', { 'data-label': 'From' }, x.from === start ? hc.el('span', { class: 'muted' }, 'before ' + hc.isoLocal(new Date(start))) : hc.timeEl(rfc(x.from))),
          hc.el('td', { 'data-label': 'To' }, x.to === now ? 'now' : hc.timeEl(rfc(x.to))),
          hc.el('td', { 'data-label': 'For' }, duration(x.to - x.from))));
      }
    } catch (e) {
      hc.showError(e, errors);
    }
  }

  async function cancel(button, execId) {
    const errors = hc.clear($('exec-history-errors'));
    try {
      await hc.busy(button, () => hc.api('DELETE', `${base}/exec/${encodeURIComponent(execId)}`));
    } catch (e) {
      hc.showError(e, errors);
    }
    loadExec();
  }

  async function loadExec() {
    const errors = hc.clear($('exec-history-errors'));
    try {
      const data = await hc.api('GET', `${base}/exec?limit=50`);
      const cmds = hc.arrayOf(data, 'commands');
      const tbody = hc.clear($('exec-history').tBodies[0]);
      for (const c of cmds) {
        const cmd = String(c.command || '');
        tbody.append(hc.el('tr', { dataset: { id: c.id, status: c.status } },
          hc.el('td', { 'data-label': 'Command', class: 'mono small', title: cmd }, cmd.length > 120 ? cmd.slice(0, 119) + '…' : cmd),
          hc.el('td', { 'data-label': 'Status' }, hc.statusBadge(c.status)),
          hc.el('td', { 'data-label': 'Exit code', class: 'mono' }, c.exit_code === null || c.exit_code === undefined ? '—' : String(c.exit_code)),
          hc.el('td', { 'data-label': 'Duration' }, typeof c.duration_ms === 'number' ? duration(c.duration_ms).replace(/^0 s$/, `${c.duration_ms} ms`) : '—'),
          hc.el('td', { 'data-label': 'Who', class: 'mono small' }, c.submitted_by || '—'),
          hc.el('td', { 'data-label': 'Submitted' }, hc.timeEl(c.submitted_at)),
          hc.el('td', { 'data-label': 'Actions' }, c.status === 'pending'
            ? hc.el('button', { type: 'button', class: 'danger', onclick: (ev) => cancel(ev.currentTarget, c.id) }, 'Cancel')
            : '')));
      }
      $('exec-history-empty').hidden = cmds.length > 0;
    } catch (e) {
      hc.showError(e, errors);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('exec-history-refresh').addEventListener('click', loadExec);
    document.addEventListener('hc:exec', loadExec);
    loadTimeline();
    loadExec();
    setInterval(() => { if (!document.hidden) { loadTimeline(); loadExec(); } }, REFRESH_S * 1000);
  });
})();
