// /sessions/{id}/logs: one streaming session and its agents' log lines, the
// body's and the head's side by side on one time line (a row per moment;
// lines with the same time share a row). Refreshes every 5 s while the
// session is active, every 30 s once it ended.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const FAST_S = 5;
  const SLOW_S = 30;
  const id = hc.pathId(2);
  let timer = null;
  let shownKey = '';

  function fact(label, value) {
    return [hc.el('dt', {}, label), hc.el('dd', {}, value === undefined || value === null || value === '' ? hc.el('span', { class: 'muted' }, '—') : value)];
  }

  function nodeLink(nodeId, name, page) {
    if (!nodeId) return hc.el('span', { class: 'muted' }, 'not joined');
    return hc.el('a', { href: `/${page}/` + encodeURIComponent(nodeId) }, name || nodeId);
  }

  // both sides merged by time (RFC 3339 in one format: text order is time order)
  function mergeByTime(body, head) {
    const rows = [];
    let i = 0;
    let j = 0;
    while (i < body.length || j < head.length) {
      const tb = i < body.length ? body[i].ts : null;
      const th = j < head.length ? head[j].ts : null;
      if (tb !== null && tb === th) rows.push([tb, body[i++].line, head[j++].line]);
      else if (th === null || (tb !== null && tb < th)) rows.push([tb, body[i++].line, null]);
      else rows.push([th, null, head[j++].line]);
    }
    return rows;
  }

  function renderFacts(s) {
    document.title = `${s.id} · sessions · hydracluster`;
    $('s-title').textContent = 'Session ' + s.id;
    hc.clear($('s-state')).append(s.state === 'active' ? hc.badge('active', 'warn') : hc.badge('ended'));
    hc.clear($('facts')).append(
      ...fact('State', s.state === 'active' ? 'active' : `ended (${s.end_reason || 'unknown'})`),
      ...fact('Body', nodeLink(s.body_id, s.body_name, 'nodes')),
      ...fact('Head', nodeLink(s.head_id, s.head_name, 'heads')),
      ...fact('District / venue', [s.district, s.venue].filter(Boolean).join(' / ')),
      ...fact('Started', hc.timeEl(s.started_at)),
      ...fact('Ended', s.ended_at ? hc.timeEl(s.ended_at) : null));
  }

  function renderLogs(data) {
    const body = (data.body && data.body.lines) || [];
    const head = (data.head && data.head.lines) || [];
    hc.clear($('body-col')).append('Body · ', nodeLink(data.body && data.body.node_id, data.body && data.body.name, 'nodes'));
    hc.clear($('head-col')).append('Head · ', nodeLink(data.head && data.head.node_id, data.head && data.head.name, 'heads'));
    $('summary').textContent = `${body.length} body lines · ${head.length} head lines`;
    // rebuilding an unchanged table would only lose the reader's selection
    const key = `${body.length}/${head.length}/${body.length ? body[body.length - 1].ts : ''}/${head.length ? head[head.length - 1].ts : ''}`;
    if (key === shownKey) return;
    shownKey = key;
    const tbody = hc.clear($('logs').tBodies[0]);
    for (const [ts, b, h] of mergeByTime(body, head)) {
      tbody.append(hc.el('tr', {},
        hc.el('td', { class: 'ts' }, hc.el('time', { datetime: ts, title: ts }, ts.slice(11, 23))),
        hc.el('td', { class: 'body-line' }, b === null ? '' : b),
        hc.el('td', { class: 'head-line' }, h === null ? '' : h)));
    }
    $('empty').hidden = body.length + head.length > 0;
  }

  async function load() {
    clearTimeout(timer);
    let rate = SLOW_S;
    try {
      const data = await hc.api('GET', '/api/v1/sessions/' + encodeURIComponent(id) + '/logs');
      hc.clearErrors();
      renderFacts(data.session);
      renderLogs(data);
      if (data.session.state === 'active') rate = FAST_S;
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
    }
    timer = setTimeout(load, rate * 1000);
    $('refresh-rate').textContent = `Auto-refresh every ${rate} s${rate === FAST_S ? ' (the session is active)' : ''}`
      + ` · updated ${new Date().toLocaleTimeString()}`;
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('refresh').addEventListener('click', load);
    load();
  });
})();
