// /nodes/{id}: one node. Overview, approval, metadata (PATCH), roles from the
// catalog, the flag/stop/delete actions, an exec console, the audit entries.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const id = hc.pathId(2);
  const base = '/api/v1/nodes/' + encodeURIComponent(id);
  const META = ['name', 'owner', 'district', 'venue', 'wireguard_ip', 'lan_ip'];
  const REFRESH_S = 15;
  let node = null;
  let catalog = null;
  let catalogFailed = false;
  let formsFilled = false;
  let rolesRendered = false;

  function fact(label, value) {
    return [hc.el('dt', {}, label), hc.el('dd', {}, value === undefined || value === null || value === '' ? hc.el('span', { class: 'muted' }, '—') : value)];
  }

  function flagsText(f) {
    if (!f) return '';
    if (Array.isArray(f)) return f.join(', ');
    if (typeof f === 'object') return Object.entries(f).filter(([, v]) => v).map(([k]) => k).join(', ');
    return String(f);
  }

  function renderNode() {
    const n = node;
    document.title = `${n.name || n.id} · hydracluster`;
    $('n-title').textContent = n.name || n.hostname || n.id;
    hc.clear($('n-dot')).append(hc.dot(n.node_status));
    const badges = hc.clear($('n-badges'));
    if (n.approval && n.approval !== 'approved') badges.append(hc.badge(n.approval, n.approval === 'pending' ? 'warn' : 'bad'), ' ');
    if (n.drain) badges.append(hc.badge('draining', 'warn'));
    $('n-sub').textContent = [n.id, n.hostname].filter(Boolean).join(' · ');

    const facts = hc.clear($('facts'));
    const roles = Array.isArray(n.roles) ? n.roles : [];
    facts.append(
      ...fact('Status', hc.el('span', {}, hc.dot(n.node_status), ' ', n.node_status || 'unknown')),
      ...fact('Last seen', hc.timeEl(n.last_seen)),
      ...fact('Approval', hc.statusBadge(n.approval)),
      ...fact('Enrolled', n.enrolled_at ? hc.timeEl(n.enrolled_at) : null),
      ...fact('Hostname', n.hostname),
      ...fact('OS / arch', [n.os, n.arch].filter(Boolean).join(' / ')),
      ...fact('Agent version', n.version),
      ...fact('Address', n.ip && hc.el('span', { class: 'mono' }, n.ip)),
      ...fact('WireGuard', n.wireguard_ip && hc.el('span', { class: 'mono' }, n.wireguard_ip)),
      ...fact('LAN', n.lan_ip && hc.el('span', { class: 'mono' }, n.lan_ip)),
      ...fact('Provider', hc.statusBadge(n.provider_status)),
      ...fact('Stream', hc.statusBadge(n.stream_status)),
      ...fact('Drain', n.drain ? 'yes' : 'no'),
      ...fact('Pending flags', flagsText(n.pending_flags)),
      ...fact('Owner', n.owner),
      ...fact('District / venue', [n.district, n.venue].filter(Boolean).join(' / ')),
      ...fact('Roles', roles.length ? hc.el('span', { class: 'chips' }, roles.map((r) => hc.el('span', { class: 'chip' }, r))) : null));

    const diag = hc.clear($('diagnostics'));
    const entries = n.diagnostics && typeof n.diagnostics === 'object' ? Object.entries(n.diagnostics) : [];
    if (entries.length === 0) diag.append(hc.el('dd', { class: 'muted' }, '—'));
    for (const [k, v] of entries) diag.append(...fact(k, hc.el('span', { class: 'mono' }, typeof v === 'string' ? v : JSON.stringify(v))));
    const extra = n.extra && typeof n.extra === 'object' && Object.keys(n.extra).length ? n.extra : null;
    $('extra-wrap').hidden = !extra;
    if (extra) $('extra').textContent = JSON.stringify(extra, null, 2);

    $('drain-toggle').textContent = n.drain ? 'Stop draining' : 'Drain';
    showApproval(n.approval);
    if (!formsFilled) fillForms();
    if (!rolesRendered && catalog) renderRoles();
  }

  function showApproval(approval) {
    const sec = $('approval');
    sec.hidden = approval === 'approved';
    $('reject').hidden = approval === 'rejected';
    if (approval === 'pending') $('approval-text').textContent = 'This machine enrolled and waits for an admin. Approve it to let its agent work; reject it to refuse it (its token stops working).';
    else if (approval === 'rejected') $('approval-text').textContent = 'This node was rejected: its token does not work. Approve it to let it in after all.';
    else if (approval === undefined) $('approval-text').textContent = 'The node could not be loaded (see the error above). If it waits for approval, you can still approve or reject it here.';
  }

  function fillForms() {
    for (const k of META) $('m-' + k).value = node[k] || '';
    $('m-drain').checked = !!node.drain;
    formsFilled = true;
  }

  async function loadNode() {
    try {
      node = await hc.api('GET', base);
      hc.clearErrors();
      renderNode();
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
      if (!node) showApproval(undefined);
    }
  }

  async function decide(action) {
    const box = $('approval-result');
    hc.clear(box);
    if (action === 'reject' && !confirm('Reject this node? Its token stops working.')) return;
    await hc.busy($(action), async () => {
      try {
        const r = await hc.api('POST', `${base}/${action}`);
        hc.showOk(box, `The node is now ${r && r.approval ? r.approval : action + 'd'}.`);
        await loadNode();
        loadAudit();
        if (node) $('approval').hidden = false; // keep the confirmation visible
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  async function saveMeta(ev) {
    ev.preventDefault();
    const box = $('meta-result');
    hc.clear(box);
    const patch = {};
    for (const k of META) {
      const v = $('m-' + k).value.trim();
      if (!node || v !== (node[k] || '')) patch[k] = v;
    }
    const drain = $('m-drain').checked;
    if (!node || drain !== !!node.drain) patch.drain = drain;
    if (Object.keys(patch).length === 0) {
      hc.showOk(box, 'Nothing changed.');
      return;
    }
    await hc.busy($('meta-save'), async () => {
      try {
        const r = await hc.api('PATCH', base, patch);
        if (r && r.id) node = r;
        hc.showOk(box, 'Saved: ' + Object.keys(patch).join(', ') + '.');
        formsFilled = false;
        await loadNode();
        loadAudit();
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  function renderRoles() {
    const fs = $('roles-list');
    const current = node && Array.isArray(node.roles) ? node.roles : [];
    const names = (catalog || []).map((r) => r.name);
    hc.clear(fs).append(hc.el('legend', {}, 'Roles from the catalog'));
    const all = [...names, ...current.filter((r) => !names.includes(r))];
    if (all.length === 0) {
      fs.append(hc.el('p', { class: 'muted' }, catalogFailed
        ? 'The role catalog could not be loaded (the reason is below).'
        : 'The catalog is empty: add roles on the Roles page.'));
    }
    for (const name of all) {
      const role = (catalog || []).find((r) => r.name === name);
      const idAttr = 'role-' + name.replace(/[^A-Za-z0-9_-]/g, '_');
      fs.append(hc.el('label', { class: 'check', for: idAttr },
        hc.el('input', { type: 'checkbox', id: idAttr, name: 'role', value: name, checked: current.includes(name) }),
        hc.el('span', { class: 'mono' }, name),
        role && role.description ? hc.el('span', { class: 'muted small' }, ' — ' + role.description) : null,
        role ? null : hc.el('span', { class: 'badge bad' }, 'not in the catalog')));
    }
    rolesRendered = !!node;
  }

  async function loadCatalog() {
    try {
      catalog = hc.normaliseRoles(await hc.api('GET', '/api/v1/roles'));
    } catch (e) {
      catalog = [];
      catalogFailed = true;
      hc.showError(e, $('roles-result'));
    }
    renderRoles();
  }

  async function saveRoles(ev) {
    ev.preventDefault();
    const box = $('roles-result');
    hc.clear(box);
    const roles = [...document.querySelectorAll('#roles-list input[name=role]:checked')].map((i) => i.value);
    await hc.busy($('roles-save'), async () => {
      try {
        await hc.api('POST', `${base}/roles`, { roles });
        hc.showOk(box, roles.length ? 'Roles saved: ' + roles.join(', ') + '. The agent picks them up at its next provision poll.' : 'All roles removed.');
        await loadNode();
        renderRoles();
        loadAudit();
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  function actionBox() {
    return hc.clear($('action-result'));
  }

  async function flag(button) {
    const what = button.dataset.flag;
    if (button.dataset.confirm && !confirm(button.dataset.confirm)) return;
    const box = actionBox();
    await hc.busy(button, async () => {
      try {
        await hc.api('POST', `${base}/${what}`);
        hc.showOk(box, `${button.textContent}: flagged; the agent acts on it at its next heartbeat.`);
        await loadNode();
        loadAudit();
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  async function toggleDrain() {
    const box = actionBox();
    const want = !(node && node.drain);
    await hc.busy($('drain-toggle'), async () => {
      try {
        await hc.api('PATCH', base, { drain: want });
        hc.showOk(box, want ? 'Draining: the node takes no new streams.' : 'No longer draining.');
        formsFilled = false;
        await loadNode();
        loadAudit();
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  async function stopStream() {
    if (!confirm('Force-stop the stream on this node? The viewer is disconnected.')) return;
    const box = actionBox();
    box.append(hc.el('p', { class: 'muted' }, 'Stopping the stream… (waits for the node to answer)'));
    await hc.busy($('stop-stream'), async () => {
      try {
        const r = await hc.api('DELETE', `${base}/stream`);
        hc.clear(box);
        const ok = r && r.exec === 'exec succeeded';
        box.append(hc.el('p', { class: ok ? 'ok' : 'error' },
          `Stream state cleared (${r && r.status ? r.status : 'ok'}). Stop signal: ${r && r.exec ? r.exec : 'unknown'}.`));
        if (r && r.output) box.append(hc.el('h3', {}, 'Output'), hc.el('pre', { class: 'output', 'data-field': 'stop-output' }, r.output));
        await loadNode();
        loadAudit();
      } catch (e) {
        hc.clear(box);
        hc.showError(e, box);
      }
    });
  }

  async function deleteNode() {
    const label = node ? node.name || node.id : id;
    if (!confirm(`Delete ${label}? Its token is revoked; the machine must enroll again.`)) return;
    const box = actionBox();
    await hc.busy($('delete-node'), async () => {
      try {
        await hc.api('DELETE', base);
        location.assign('/');
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  // ---- exec console ----

  function runView(command) {
    const v = {
      root: hc.el('div', { class: 'exec-run' }),
      status: hc.el('span', { 'data-field': 'status' }, 'submitting…'),
      meta: hc.el('span', { class: 'muted small' }),
      body: hc.el('div'),
      stop: hc.el('button', { type: 'button', class: 'linklike' }, 'stop waiting'),
    };
    v.root.append(hc.el('pre', { class: 'command' }, '$ ' + command),
      hc.el('p', {}, hc.el('strong', {}, 'Status: '), v.status, ' ', v.meta, ' ', v.stop), v.body);
    $('exec-runs').prepend(v.root);
    return v;
  }

  function showResult(v, r) {
    hc.clear(v.status).append(hc.statusBadge(r.status));
    const bits = [];
    if (r.duration_ms !== undefined) bits.push(`took ${r.duration_ms} ms`);
    if (r.truncated) bits.push('output truncated by the server');
    v.meta.textContent = bits.join(' · ');
    hc.clear(v.body).append(
      hc.el('p', { class: 'small' }, 'Exit code: ', hc.el('strong', { 'data-field': 'exit_code' }, r.exit_code === undefined || r.exit_code === null ? '—' : String(r.exit_code))),
      hc.el('h3', {}, 'stdout'), hc.el('pre', { class: 'output', 'data-field': 'stdout' }, r.stdout || ''),
      hc.el('h3', {}, 'stderr'), hc.el('pre', { class: 'output stderr', 'data-field': 'stderr' }, r.stderr || ''));
  }

  async function runExec(ev) {
    ev.preventDefault();
    const errors = $('exec-errors');
    hc.clear(errors);
    const command = $('x-command').value;
    if (!command.trim()) {
      hc.showError('Type a command to run.', errors);
      return;
    }
    const timeout = parseInt($('x-timeout').value, 10);
    const body = { command };
    if (timeout > 0) body.timeout_s = timeout;
    let sub;
    try {
      sub = await hc.busy($('exec-run'), () => hc.api('POST', `${base}/exec`, body));
    } catch (e) {
      hc.showError(e, errors);
      return;
    }
    document.dispatchEvent(new Event('hc:exec')); // the command history shows it
    const v = runView(command);
    const ctl = new AbortController();
    let stopped = false;
    v.stop.addEventListener('click', () => { stopped = true; ctl.abort(); v.stop.remove(); v.meta.textContent = `stopped waiting; exec id ${sub.id}`; });
    hc.clear(v.status).append(hc.statusBadge(sub.status || 'pending'));
    v.meta.textContent = 'exec ' + sub.id;
    const url = `${base}/exec/${encodeURIComponent(sub.id)}/result?wait=25`;
    while (!stopped) {
      const t0 = Date.now();
      let r;
      try {
        r = await hc.api('GET', url, undefined, { full: true, signal: ctl.signal });
      } catch (e) {
        if (e.name === 'AbortError') return;
        hc.showError(e, v.body);
        v.stop.remove();
        return;
      }
      const st = r.data && r.data.status;
      if (r.status === 200 && st !== 'pending' && st !== 'running') {
        v.stop.remove();
        showResult(v, r.data);
        loadAudit();
        document.dispatchEvent(new Event('hc:exec'));
        return;
      }
      hc.clear(v.status).append(hc.statusBadge(st || 'pending'));
      // a server that does not hold the request open: do not spin
      if (Date.now() - t0 < 1000) await hc.sleep(1000);
    }
  }

  // ---- audit ----

  async function loadAudit() {
    const errors = hc.clear($('audit-errors'));
    const tbody = hc.clear($('audit').tBodies[0]);
    try {
      const data = await hc.api('GET', '/api/v1/audit?target=' + encodeURIComponent(id));
      const entries = hc.arrayOf(data, 'entries');
      for (const e of entries) {
        const when = e.at || e.ts || e.time || e.created_at;
        const detail = e.detail !== undefined ? e.detail : e.details !== undefined ? e.details : e.data;
        tbody.append(hc.el('tr', {},
          hc.el('td', { 'data-label': 'When' }, hc.timeEl(when)),
          hc.el('td', { 'data-label': 'Who', class: 'mono' }, e.actor || '—'),
          hc.el('td', { 'data-label': 'What', class: 'mono' }, e.action || '—'),
          hc.el('td', { 'data-label': 'Details', class: 'mono small' }, detail === undefined || detail === null ? '' : typeof detail === 'string' ? detail : JSON.stringify(detail))));
      }
      $('audit-empty').hidden = entries.length > 0;
    } catch (e) {
      $('audit-empty').hidden = true;
      hc.showError(e, errors);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('approve').addEventListener('click', () => decide('approve'));
    $('reject').addEventListener('click', () => decide('reject'));
    $('meta-form').addEventListener('submit', saveMeta);
    $('roles-form').addEventListener('submit', saveRoles);
    document.querySelectorAll('[data-flag]').forEach((b) => b.addEventListener('click', () => flag(b)));
    $('drain-toggle').addEventListener('click', toggleDrain);
    $('stop-stream').addEventListener('click', stopStream);
    $('delete-node').addEventListener('click', deleteNode);
    $('exec-form').addEventListener('submit', runExec);
    $('audit-refresh').addEventListener('click', loadAudit);
    loadNode().then(loadCatalog);
    loadAudit();
    setInterval(() => { if (!document.hidden) loadNode(); }, REFRESH_S * 1000);
  });
})();
