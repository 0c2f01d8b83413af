// /login: trade an admin token for a session cookie, then go back to where
// the browser was sent from (?next=, same-origin paths only).
'use strict';

(() => {
  function nextPath() {
    const next = new URLSearchParams(location.search).get('next') || '/';
    // only a path on this server: "/x", never "//host" or "/\host"
    if (!next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
    return next;
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
