// Shared by every page: the API client, DOM helpers, error display, logout.
// No framework; the pages build DOM nodes with hc.el (never innerHTML with
// data, so names and outputs cannot inject markup).
'use strict';

const hc = (() => {
  class ApiError extends Error {
    constructor(status, code, message, data) {
      super(message);
      this.status = status;
      this.code = code;
      this.data = data;
    }
  }

  function loginUrl() {
    return '/login?next=' + encodeURIComponent(location.pathname + location.search + location.hash);
  }

  // api('POST', '/api/v1/...', body?, {accept: [404], full: true, noLoginRedirect: true})
  // resolves with the parsed JSON (or {status, data} with full), rejects with
  // ApiError carrying the server's "error" text. A 401 sends the browser to
  // the login page (the session ended) unless noLoginRedirect.
  async function api(method, path, body, opts = {}) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (opts.signal) init.signal = opts.signal;
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'network', 'cannot reach the server: ' + e.message);
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (res.status === 401 && !opts.noLoginRedirect) {
      location.assign(loginUrl());
      throw new ApiError(401, 'unauthorized', 'your session has ended: log in again');
    }
    if (!res.ok && !(opts.accept || []).includes(res.status)) {
      const msg = data && typeof data.error === 'string'
        ? data.error
        : `${method} ${path} failed: HTTP ${res.status}` + (text && !data ? ': ' + text.slice(0, 200) : '');
      throw new ApiError(res.status, (data && data.code) || 'http_' + res.status, msg, data);
    }
    return opts.full ? { status: res.status, data } : data;
  }

  // el('a', {href: '/x', class: 'c', text: 'hi', onclick: fn, 'aria-label': 'x'}, child, ...)
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
    return node;
  }

  function errorText(err) {
    if (err instanceof ApiError) {
      return err.status ? `${err.message} (HTTP ${err.status}${err.code ? ', ' + err.code : ''})` : err.message;
    }
    return String(err && err.message ? err.message : err);
  }

  // Shows err in box (an element with role=alert), or in the page's #errors.
  function showError(err, box) {
    if (err && err.name === 'AbortError') return;
    const target = box || document.getElementById('errors');
    if (!target) return;
    target.hidden = false;
    target.append(el('p', { class: 'error' }, errorText(err)));
    if (!box) target.scrollIntoView({ block: 'nearest' });
  }

  function clearErrors(box) {
    const target = box || document.getElementById('errors');
    if (target) { clear(target); target.hidden = true; }
  }

  function showOk(box, message) {
    clear(box);
    box.hidden = false;
    box.append(el('p', { class: 'ok' }, message));
  }

  function relTime(iso) {
    if (!iso) return 'never';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return String(iso);
    const s = Math.round((Date.now() - t) / 1000);
    const abs = Math.abs(s);
    let v;
    if (abs < 60) v = `${abs} s`;
    else if (abs < 3600) v = `${Math.round(abs / 60)} min`;
    else if (abs < 2 * 86400) v = `${Math.round(abs / 3600)} h`;
    else v = `${Math.round(abs / 86400)} d`;
    return s >= 0 ? `${v} ago` : `in ${v}`;
  }

  // "2026-11-23 09:05:29": local time, 24-hour, sortable, the same in every locale
  function isoLocal(iso) {
    const d = iso instanceof Date ? iso : new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  // the absolute time with the relative one beside it; the UTC form in the tooltip
  function timeEl(iso) {
    if (!iso) return el('span', { class: 'muted', text: 'never' });
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return el('span', {}, String(iso));
    return el('span', { class: 'when' },
      el('time', { datetime: iso, title: d.toISOString().replace('.000Z', 'Z') + ' (UTC)' }, isoLocal(d)),
      ' ', el('span', { class: 'rel muted' }, '(' + relTime(iso) + ')'));
  }

  // Column sorting: th[data-sort] become buttons; onChange({key, dir}) re-renders.
  // The state is kept on the table (dataset) and in aria-sort for screen readers.
  function sortable(table, onChange, initial) {
    const state = { key: initial ? initial.key : null, dir: initial ? initial.dir : 'asc' };
    const ths = [...table.querySelectorAll('th[data-sort]')];
    function mark() {
      for (const th of ths) {
        const on = th.dataset.sort === state.key;
        th.setAttribute('aria-sort', on ? (state.dir === 'asc' ? 'ascending' : 'descending') : 'none');
      }
    }
    for (const th of ths) {
      const label = th.textContent;
      th.textContent = '';
      th.append(el('button', {
        type: 'button', class: 'sort',
        onclick: () => {
          state.dir = state.key === th.dataset.sort && state.dir === 'asc' ? 'desc' : 'asc';
          state.key = th.dataset.sort;
          mark();
          onChange(state);
        },
      }, label));
    }
    mark();
    return state;
  }

  // compares two values for a sort: numbers and times numerically, text naturally; empty last
  function compare(a, b) {
    const ea = a === undefined || a === null || a === '', eb = b === undefined || b === null || b === '';
    if (ea || eb) return ea === eb ? 0 : ea ? 1 : -1;
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }

  function dot(status) {
    const s = status === 'online' ? 'online' : status === 'offline' ? 'offline' : 'unknown';
    return el('span', { class: 'dot ' + s, role: 'img', 'aria-label': s, title: s });
  }

  function badge(text, kind) {
    return el('span', { class: 'badge' + (kind ? ' ' + kind : '') }, text);
  }

  // a status word with a colour: good / warn / bad / neutral
  function statusBadge(value) {
    if (!value) return el('span', { class: 'muted', text: '—' });
    const good = ['running', 'idle', 'online', 'approved', 'done', 'ok'];
    const warn = ['streaming', 'pending', 'running_exec'];
    const kind = good.includes(value) ? 'good' : warn.includes(value) ? 'warn' : 'bad';
    return badge(value, kind);
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  // Busy state for a button while an async action runs.
  async function busy(button, fn) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      return await fn();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  }

  function pathId(index) {
    const parts = location.pathname.split('/');
    return decodeURIComponent(parts[index] || '');
  }

  // the role catalog in whichever shape the server sends: an array of
  // {name, description, recipe}, {"roles": [...]}, or an object keyed by name
  function normaliseRoles(data) {
    let list = data;
    if (data && !Array.isArray(data) && Array.isArray(data.roles)) list = data.roles;
    if (list && !Array.isArray(list) && typeof list === 'object') {
      list = Object.entries(list).map(([name, v]) => Object.assign({ name }, v));
    }
    return (list || []).filter((r) => r && typeof r.name === 'string').sort((a, b) => a.name.localeCompare(b.name));
  }

  function arrayOf(data, key) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data[key])) return data[key];
    return [];
  }

  document.addEventListener('DOMContentLoaded', () => {
    const logout = document.getElementById('logout');
    if (logout) {
      logout.addEventListener('click', async () => {
        try {
          await api('DELETE', '/api/v1/session', undefined, { noLoginRedirect: true });
          location.assign('/login');
        } catch (e) {
          showError(e);
        }
      });
    }
  });

  return {
    ApiError, api, el, clear, showError, clearErrors, showOk, errorText, relTime, timeEl, dot, badge,
    statusBadge, sleep, busy, pathId, normaliseRoles, arrayOf, loginUrl, isoLocal, sortable, compare,
  };
})();
