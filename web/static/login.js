// /login: trade an admin token for a session cookie, then go back to where
// the browser was sent from (?next=, same-origin paths only).
'use strict';

(() => {
  // where to go after logging in: a page of this server only (a ?next= such
  // as "//evil.example" or "/\evil.example", or one with a tab that the URL
  // parser drops, resolves to another origin and is ignored). The resolved
  // path is checked too: "/..//evil.example" keeps this origin but resolves
  // to the path "//evil.example", which location would take as
  // scheme-relative. The answer is absolute (this origin), never a path.
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next') || '/';
    const home = location.origin + '/';
    if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return home;
    try {
      const u = new URL(next, location.origin);
      const p = u.pathname;
      if (u.origin !== location.origin || !p.startsWith('/') || p.startsWith('//') || p.startsWith('/\\') ||
          p === '/login') {
        return home;
      }
      return location.origin + p + u.search + u.hash;
    } catch (e) {
      return home;
    }
  }

  document.addEventListener('DOMContentLoaded', async () => {
    const form = document.getElementById('login-form');
    const input = document.getElementById('token');
    const errors = document.getElementById('login-errors');
    const submit = document.getElementById('login-submit');

    // already logged in: nothing to do here
    try {
      const s = await hc.api('GET', '/api/v1/session', undefined, { noLoginRedirect: true });
      if (s && s.authenticated) {
        location.replace(nextPath());
        return;
      }
    } catch (e) {
      hc.showError(e, errors);
    }
    input.focus();

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      hc.clear(errors);
      const token = input.value.trim();
      if (!token) {
        hc.showError('Enter an admin token.', errors);
        input.focus();
        return;
      }
      await hc.busy(submit, async () => {
        try {
          await hc.api('POST', '/api/v1/session', { token }, { noLoginRedirect: true });
          input.value = '';
          location.assign(nextPath());
        } catch (e) {
          hc.showError(e, errors);
          input.select();
          input.focus();
        }
      });
    });
  });
})();
