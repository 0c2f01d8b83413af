// /enroll: three tabs. "Windows / Linux" mints a one-time enrollment and
// shows the install command; "iPad" shows the fleet QR code; "Recovery" is
// static text open to anyone (the page itself needs no login; the first two
// tabs ask the API, which does).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const TABS = ['machine', 'ipad', 'recovery'];
  let loggedIn = false;
  let qrLoaded = false;

  function select(name, focus) {
    for (const t of TABS) {
      const on = t === name;
      const tab = $('tab-' + t);
      tab.setAttribute('aria-selected', on ? 'true' : 'false');
      tab.tabIndex = on ? 0 : -1;
      $('panel-' + t).hidden = !on;
      if (on && focus) tab.focus();
    }
    if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
    if (name === 'ipad' && loggedIn && !qrLoaded) loadQr();
  }

  // arrow keys move between tabs (WAI-ARIA tabs pattern)
  function onTabKey(ev) {
    const i = TABS.indexOf(ev.currentTarget.id.slice(4));
    let j = null;
    if (ev.key === 'ArrowRight') j = (i + 1) % TABS.length;
    else if (ev.key === 'ArrowLeft') j = (i + TABS.length - 1) % TABS.length;
    else if (ev.key === 'Home') j = 0;
    else if (ev.key === 'End') j = TABS.length - 1;
    if (j !== null) {
      ev.preventDefault();
      select(TABS[j], true);
    }
  }

  function setLoggedIn(on) {
    loggedIn = on;
    document.querySelectorAll('.needs-login').forEach((e) => { e.hidden = on; });
    document.querySelectorAll('.needs-session').forEach((e) => { e.hidden = !on; });
    $('anon-notice').hidden = on;
    $('main-nav').hidden = !on;
    $('logout').hidden = !on;
    $('login-link').hidden = on;
  }

  // what makes install commands useless here (public_url loopback, placeholder release server)
  function showWarnings(list) {
    const ul = $('enroll-warning-list');
    hc.clear(ul);
    for (const w of list || []) ul.appendChild(hc.el('li', {}, w));
    $('enroll-warnings').hidden = !(list && list.length);
  }

  // advisory: a failure (say, the session ended meanwhile) leaves the box hidden
  // and does not leave the page; the enroll form reports such errors itself
  async function loadWarnings() {
    try {
      const r = await hc.api('GET', '/api/v1/enroll-warnings', undefined, { noLoginRedirect: true });
      showWarnings(r.warnings);
    } catch (e) {
      showWarnings([]);
    }
  }

  async function copyCommand() {
    const text = $('r-command').textContent;
    const status = $('copy-status');
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = 'Copied to the clipboard.';
    } catch (e) {
      // no clipboard API (plain http on another host): select it for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents($('r-command'));
      const sel = getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      status.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    }
  }

  async function mint(ev) {
    ev.preventDefault();
    const form = $('enroll-form');
    const errors = $('enroll-errors');
    hc.clear(errors);
    const name = $('e-name').value.trim();
    const owner = $('e-owner').value.trim();
    const os = form.querySelector('input[name=os]:checked').value;
    if (!name) {
      hc.showError('Give the machine a name (it is how it appears on the dashboard).', errors);
      $('e-name').focus();
      return;
    }
    await hc.busy($('enroll-submit'), async () => {
      try {
        const body = { name, os };
        if (owner) body.owner = owner;
        const r = await hc.api('POST', '/api/v1/enrollments', body);
        const install = r.install || {};
        const windows = os === 'windows';
        $('r-name').textContent = r.name || name;
        $('r-how').textContent = windows
          ? 'Run this in an administrator PowerShell on the machine:'
          : `Run this in a terminal on the ${os === 'macos' ? 'Mac' : 'Linux machine'} (it asks for sudo):`;
        $('r-command').textContent = windows ? install.windows : install.unix;
        showWarnings(r.warnings);
        $('r-expiry').dateTime = r.expires_at;
        $('r-expiry').textContent = new Date(r.expires_at).toLocaleString();
        $('r-expiry-rel').textContent = hc.relTime(r.expires_at);
        $('copy-status').textContent = '';
        $('enroll-result').hidden = false;
        $('r-command').focus();
      } catch (e) {
        hc.showError(e, errors);
      }
    });
  }

  async function loadQr() {
    qrLoaded = true;
    const errors = $('qr-errors');
    hc.clear(errors);
    const img = $('qr');
    img.addEventListener('error', async () => {
      // an <img> cannot show why: ask again for the JSON error text
      try {
        await hc.api('GET', '/api/v1/enroll-qr?format=svg');
        hc.showError('The QR image could not be shown.', errors);
      } catch (e) {
        hc.showError(e, errors);
      }
    }, { once: true });
    img.src = '/api/v1/enroll-qr?format=svg';
    try {
      const p = await hc.api('GET', '/api/v1/enroll-qr');
      $('qr-url').textContent = p.server_url || '—';
      $('qr-token').textContent = p.enrollment_token || '—';
      $('qr-payload').textContent = JSON.stringify(p, null, 2);
    } catch (e) {
      $('qr-url').textContent = '—';
      $('qr-token').textContent = '—';
      hc.showError(e, errors);
    }
  }

  function fillRecovery() {
    const origin = location.origin;
    for (const id of ['rec-win-install', 'rec-unix-install', 'rec-server']) {
      const e = $(id);
      e.textContent = e.textContent.split('SERVER').join(origin);
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    fillRecovery();
    for (const t of TABS) {
      $('tab-' + t).addEventListener('click', () => select(t));
      $('tab-' + t).addEventListener('keydown', onTabKey);
    }
    $('enroll-form').addEventListener('submit', mint);
    $('copy').addEventListener('click', copyCommand);
    let on = false;
    try {
      const s = await hc.api('GET', '/api/v1/session', undefined, { noLoginRedirect: true });
      on = !!(s && s.authenticated);
    } catch (e) {
      hc.showError(e);
    }
    setLoggedIn(on);
    if (on) loadWarnings();
    const wanted = location.hash.slice(1);
    select(TABS.includes(wanted) ? wanted : on ? 'machine' : 'recovery');
    // a link to /enroll#ipad (or typing it) while the page is open switches tabs too
    window.addEventListener('hashchange', () => {
      const h = location.hash.slice(1);
      if (TABS.includes(h)) select(h);
    });
  });
})();
