// The "Streaming sessions" panel of the node and head pages (/nodes/{id},
// /heads/{id}): whether the node is orphaned (a body streaming with no head),
// its latest sessions as body or head with links to their logs, and a link
// to all of them on /sessions.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const LATEST = 5;
  const id = hc.pathId(2);

  function other(s) {
    // the other side of the session, seen from this node
    if (s.body_id === id) return s.head_id ? hc.el('a', { href: '/heads/' + encodeURIComponent(s.head_id) }, 'head ' + (s.head_name || s.head_id)) : 'no head yet';
    return s.body_id ? hc.el('a', { href: '/nodes/' + encodeURIComponent(s.body_id) }, 'body ' + (s.body_name || s.body_id)) : 'no body yet';
  }

  async function load() {
    const box = hc.clear($('node-sessions-errors'));
    const list = hc.clear($('node-sessions-list'));
    try {
      const [node, sessions] = await Promise.all([
        hc.api('GET', '/api/v1/nodes/' + encodeURIComponent(id)),
        hc.api('GET', `/api/v1/sessions?node=${encodeURIComponent(id)}&limit=${LATEST}`),
      ]);
      const orphan = $('node-orphaned');
      orphan.hidden = !(node && node.orphaned);
      if (node && node.orphaned) {
        hc.clear(orphan).append(hc.badge('orphaned', 'bad'), ' Streaming with no head reporting its session since ',
          hc.timeEl(node.orphaned_since), '.');
      }
      const items = hc.arrayOf(sessions, 'sessions');
      for (const s of items) {
        list.append(hc.el('li', { dataset: { id: s.id } },
          hc.el('a', { href: '/sessions/' + encodeURIComponent(s.id) + '/logs', class: 'mono' }, s.id), ' · ',
          s.state === 'active' ? hc.badge('active', 'warn') : hc.el('span', {}, hc.badge('ended'), ' ', s.end_reason || ''),
          ' · ', other(s), ' · started ', hc.timeEl(s.started_at)));
      }
      $('node-sessions-empty').hidden = items.length > 0;
    } catch (e) {
      hc.showError(e, box);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    if (!$('node-sessions')) return;
    $('node-sessions-all').href = '/sessions?node=' + encodeURIComponent(id);
    $('node-sessions-refresh').addEventListener('click', load);
    load();
  });
})();
