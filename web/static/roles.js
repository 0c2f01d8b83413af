// /roles: the role catalog: list, add or replace (PUT), delete (409 while
// nodes hold the role: the page offers to force it).
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  let roles = [];
  let counts = null;

  function recipeText(r) {
    if (r.recipe === undefined || r.recipe === null) return '';
    return typeof r.recipe === 'string' ? r.recipe : JSON.stringify(r.recipe, null, 2);
  }

  function edit(r) {
    $('r-name').value = r.name;
    $('r-description').value = r.description || '';
    $('r-recipe').value = recipeText(r) || '{}';
    hc.clear($('role-result'));
    $('r-description').focus();
  }

  async function remove(r, force) {
    const box = hc.clear($('list-result'));
    if (!force && !confirm(`Delete the role ${r.name} from the catalog?`)) return;
    try {
      await hc.api('DELETE', '/api/v1/roles/' + encodeURIComponent(r.name) + (force ? '?force=true' : ''));
      hc.showOk(box, `Deleted ${r.name}.`);
      await load();
    } catch (e) {
      hc.showError(e, box);
      if (e.status === 409 && !force) {
        box.append(hc.el('div', { class: 'actions' },
          hc.el('button', { type: 'button', class: 'danger', onclick: () => {
            if (confirm(`Delete ${r.name} anyway? Nodes holding it lose it.`)) remove(r, true);
          } }, `Delete ${r.name} anyway`)));
      }
    }
  }

  function render() {
    const tbody = hc.clear($('roles').tBodies[0]);
    for (const r of roles) {
      const recipe = recipeText(r);
      tbody.append(hc.el('tr', { dataset: { name: r.name } },
        hc.el('td', { class: 'name mono', 'data-label': 'Role' }, r.name),
        hc.el('td', { 'data-label': 'Description' }, r.description || hc.el('span', { class: 'muted' }, '—')),
        hc.el('td', { 'data-label': 'Recipe' }, recipe && recipe !== '{}'
          ? hc.el('details', {}, hc.el('summary', {}, 'show'), hc.el('pre', { class: 'output' }, recipe))
          : hc.el('span', { class: 'muted' }, 'none')),
        hc.el('td', { 'data-label': 'Nodes' }, counts ? String(counts.get(r.name) || 0) : '—'),
        hc.el('td', { 'data-label': 'Actions' }, hc.el('div', { class: 'actions' },
          hc.el('button', { type: 'button', onclick: () => edit(r), 'aria-label': `Edit ${r.name}` }, 'Edit'),
          hc.el('button', { type: 'button', class: 'danger', onclick: () => remove(r, false), 'aria-label': `Delete ${r.name}` }, 'Delete')))));
    }
    $('empty').hidden = roles.length > 0;
  }

  async function load() {
    try {
      roles = hc.normaliseRoles(await hc.api('GET', '/api/v1/roles'));
      hc.clearErrors();
    } catch (e) {
      hc.clearErrors();
      hc.showError(e);
    }
    // how many nodes hold each role (best effort: the count column only)
    try {
      const nodes = hc.arrayOf(await hc.api('GET', '/api/v1/nodes'), 'nodes');
      counts = new Map();
      for (const n of nodes) for (const r of Array.isArray(n.roles) ? n.roles : []) counts.set(r, (counts.get(r) || 0) + 1);
    } catch (e) {
      counts = null;
      hc.showError(new Error('Node counts are not available: ' + hc.errorText(e)));
    }
    render();
  }

  async function save(ev) {
    ev.preventDefault();
    const box = hc.clear($('role-result'));
    const name = $('r-name').value.trim();
    let recipe;
    try {
      recipe = JSON.parse($('r-recipe').value.trim() || '{}');
      if (!recipe || typeof recipe !== 'object' || Array.isArray(recipe)) throw new Error('it must be a JSON object');
    } catch (e) {
      hc.showError('The recipe is not a JSON object: ' + e.message, box);
      $('r-recipe').focus();
      return;
    }
    await hc.busy($('role-save'), async () => {
      try {
        await hc.api('PUT', '/api/v1/roles/' + encodeURIComponent(name), { description: $('r-description').value.trim(), recipe });
        hc.showOk(box, `Saved ${name}.`);
        await load();
      } catch (e) {
        hc.showError(e, box);
      }
    });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('role-form').addEventListener('submit', save);
    load();
  });
})();
