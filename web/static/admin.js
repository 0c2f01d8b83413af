// /admin: credentials. Minted admin tokens (list, mint: shown once, revoke),
// unused enrollments (list, mint an install command, revoke), and rotating
// the fleet token the iPads register with.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  // a secret shown once, with a copy button
  function secretBox(box, intro, value, note) {
    hc.clear(box);
    const pre = hc.el('pre', { class: 'output mono', tabindex: '0' }, value);
    const copy = hc.el('button', {
      type: 'button',
      onclick: async () => {
        try { await navigator.clipboard.writeText(value); copy.textContent = 'Copied'; } catch (e) { copy.textContent = 'Select and copy by hand'; }
      },
    }, 'Copy');
    box.append(hc.el('p', { class: 'ok' }, intro), pre, hc.el('div', { class: 'actions' }, copy), note ? hc.el('p', { class: 'hint' }, note) : '');
  }

  async function revoke(button, path, what, reload, box) {
    if (!confirm(`Revoke ${what}? It stops working at once.`)) return;
    hc.clear(box);
    try {
      await hc.busy(button, () => hc.api('DELETE', path));
      hc.showOk(box, `${what} revoked.`);
    } catch (e) {
      hc.showError(e, box);
    }
    reload();
  }

  async function loadTokens() {
    try {
      const list = hc.arrayOf(await hc.api('GET', '/api/v1/admin-tokens'), 'tokens');
      const tbody = hc.clear($('tokens').tBodies[0]);
      for (const t of list) {
        tbody.append(hc.el('tr', { dataset: { id: t.id } },
          hc.el('td', { 'data-label': 'Id', class: 'mono' }, t.id),
          hc.el('td', { 'data-label': 'Label' }, t.label || hc.el('span', { class: 'muted' }, '—')),
          hc.el('td', { 'data-label': 'Created' }, hc.timeEl(t.created_at)),
          hc.el('td', { 'data-label': 'Actions' }, hc.el('button', {
            type: 'button', class: 'danger',
            onclick: (ev) => revoke(ev.currentTarget, '/api/v1/admin-tokens/' + encodeURIComponent(t.id), `admin token ${t.id}`, loadTokens, $('token-result')),
          }, 'Revoke'))));
      }
      $('tokens-empty').hidden = list.length > 0;
    } catch (e) {
      hc.showError(e);
    }
  }

  async function mintToken(ev) {
    ev.preventDefault();
    const box = hc.clear($('token-result'));
    try {
      const r = await hc.busy($('token-mint'), () => hc.api('POST', '/api/v1/admin-tokens', { label: $('t-label').value.trim() }));
      secretBox(box, `Admin token ${r.id} minted. It is shown this once:`, r.token, 'Keep it in a password manager; revoke it here when it is no longer needed.');
      $('t-label').value = '';
      loadTokens();
    } catch (e) {
      hc.showError(e, box);
    }
  }

  async function loadEnrollments() {
    try {
      const list = hc.arrayOf(await hc.api('GET', '/api/v1/enrollments'), 'enrollments');
      const tbody = hc.clear($('enrollments').tBodies[0]);
      for (const e of list) {
        tbody.append(hc.el('tr', { dataset: { id: e.id } },
          hc.el('td', { 'data-label': 'Id', class: 'mono' }, e.id),
          hc.el('td', { 'data-label': 'Name' }, e.name),
          hc.el('td', { 'data-label': 'OS' }, e.os),
          hc.el('td', { 'data-label': 'Owner' }, e.owner || hc.el('span', { class: 'muted' }, '—')),
          hc.el('td', { 'data-label': 'By', class: 'mono small' }, e.created_by || '—'),
          hc.el('td', { 'data-label': 'Expires' }, hc.timeEl(e.expires_at)),
          hc.el('td', { 'data-label': 'Actions' }, hc.el('button', {
            type: 'button', class: 'danger',
            onclick: (ev) => revoke(ev.currentTarget, '/api/v1/enrollments/' + encodeURIComponent(e.id), `enrollment ${e.id} (${e.name})`, loadEnrollments, $('enr-result')),
          }, 'Revoke'))));
      }
      $('enrollments-empty').hidden = list.length > 0;
    } catch (e) {
      hc.showError(e);
    }
  }

  async function mintEnrollment(ev) {
    ev.preventDefault();
    const box = hc.clear($('enr-result'));
    const os = $('e-os').value;
    try {
      const r = await hc.busy($('enr-mint'), () => hc.api('POST', '/api/v1/enrollments', {
        name: $('e-name').value.trim(), os, owner: $('e-owner').value.trim(),
      }));
      const cmd = os === 'windows' ? r.install.windows : r.install.unix;
      secretBox(box, `Enrollment ${r.id} for ${r.name}: run this on the machine${os === 'windows' ? ' (PowerShell as Administrator)' : ''}:`, cmd,
        `One use, valid until ${hc.isoLocal(r.expires_at)}.`);
      $('e-name').value = '';
      loadEnrollments();
    } catch (e) {
      hc.showError(e, box);
    }
  }

  async function rotateFleet(ev) {
    const box = hc.clear($('fleet-result'));
    if (!confirm('Rotate the fleet token? New iPads need the new QR code; the previous token keeps working for the overlap.')) return;
    try {
      const r = await hc.busy(ev.currentTarget, () => hc.api('POST', '/api/v1/fleet-token/rotate'));
      secretBox(box, 'New fleet token:', r.enrollment_token,
        r.previous_valid_until ? `The previous token registers iPads until ${hc.isoLocal(r.previous_valid_until)}.` : 'The previous token no longer works.');
    } catch (e) {
      hc.showError(e, box);
    }
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', mintToken);
    $('enr-form').addEventListener('submit', mintEnrollment);
    $('fleet-rotate').addEventListener('click', rotateFleet);
    loadTokens();
    loadEnrollments();
  });
})();
