// /login: trade an admin token for a session cookie, then go back to where
// the browser was sent from (?next=, same-origin paths only).
'use strict';

(() => {
  // where to go after logging in: a page of this server only (a ?next= such
  // as "//evil.example" or "/\evil.example", or one with a tab that the URL
  // parser drops, resolves to another origin and is ignored)
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next') || '/';
    if (!next.startsWith('/')) return '/';
    try {
      const u = new URL(next, location.origin);
      if (u.origin !== location.origin || u.pathname === '/login') return '/';
      return u.pathname + u.search + u.hash;
    } catch (e) {
      return '/';
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
