// Day-to-day operation in the browser (issue 16): absolute times with the
// relative one beside; the dashboard's sortable columns, bulk actions and
// stale state; a node's command history (with cancel) and online timeline;
// the Activity page; the Admin page (admin tokens, enrollments, fleet token);
// /enroll#ipad following hash changes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, sleep,
} from './lib.mjs';

let server;
let browser;

before(async () => {
  server = await startServer({
    fleetToken: false,
    extraYaml: ['nodes:', '  offline_after: 1s', 'role_catalog:', '  - name: ops-render', '  - name: ops-guard'].join('\n'),
  });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
  if (server) {
    const r = await server.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'server exit; its log:\n' + server.log().slice(-4000));
    server.cleanup();
  }
});

async function heartbeat(node, fields = {}) {
  const r = await api(server, 'POST', '/api/v1/body/heartbeat', { token: node.token, body: { version: 'v1', ...fields } });
  assert.equal(r.status, 200, r.text);
}

async function page() {
  const p = await newPage(browser, server);
  p.on('dialog', (d) => d.accept());
  await loginApi(p, server);
  return p;
}

const rowIds = (p) => p.$$eval('#nodes tbody tr', (rows) => rows.map((r) => r.dataset.id));

test('times are absolute (24-hour, ISO-like) with the relative time beside', async () => {
  const n = await enrollNode(server, 'ops-time', { approve: true });
  await heartbeat(n);
  const p = await page();
  await p.goto('/?q=ops-time');
  const cell = p.locator(`#nodes tbody tr[data-id="${n.id}"] .when`);
  await cell.waitFor();
  assert.match(await cell.locator('time').textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  assert.match(await cell.locator('.rel').textContent(), /^\(\d+ s ago\)$/);
  assert.match(await cell.locator('time').getAttribute('title'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(UTC\)$/);
  assertClean(p);
  await p.context().close();
});

test('dashboard: columns sort both ways', async () => {
  const ids = {};
  for (const [name, version] of [['ops-sort-b', 'v2'], ['ops-sort-a', 'v10'], ['ops-sort-c', 'v1']]) {
    const n = await enrollNode(server, name, { approve: true });
    await heartbeat(n, { version });
    ids[name] = n.id;
  }
  const p = await page();
  await p.goto('/?q=ops-sort');
  await p.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 3);
  assert.deepEqual(await rowIds(p), [ids['ops-sort-a'], ids['ops-sort-b'], ids['ops-sort-c']], 'by name at first');
  await p.click('#nodes th[data-sort="name"] button');
  assert.equal(await p.getAttribute('#nodes th[data-sort="name"]', 'aria-sort'), 'descending');
  assert.deepEqual(await rowIds(p), [ids['ops-sort-c'], ids['ops-sort-b'], ids['ops-sort-a']]);
  await p.click('#nodes th[data-sort="version"] button');
  assert.equal(await p.getAttribute('#nodes th[data-sort="version"]', 'aria-sort'), 'ascending');
  assert.equal(await p.getAttribute('#nodes th[data-sort="name"]', 'aria-sort'), 'none');
  // natural order: v1 < v2 < v10
  assert.deepEqual(await rowIds(p), [ids['ops-sort-c'], ids['ops-sort-b'], ids['ops-sort-a']]);
  await p.click('#nodes th[data-sort="version"] button');
  assert.deepEqual(await rowIds(p), [ids['ops-sort-a'], ids['ops-sort-b'], ids['ops-sort-c']]);
  // sorting survives a refresh
  await p.click('#refresh');
  await sleep(300);
  assert.deepEqual(await rowIds(p), [ids['ops-sort-a'], ids['ops-sort-b'], ids['ops-sort-c']]);
  assertClean(p);
  await p.context().close();
});

test('dashboard: select nodes, then approve, set roles and flag updates in bulk', async () => {
  const a = await enrollNode(server, 'ops-bulk-1');
  const b = await enrollNode(server, 'ops-bulk-2');
  const p = await page();
  await p.goto('/?q=ops-bulk');
  await p.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 2);
  assert.equal(await p.isHidden('#bulk'), true);
  await p.check('#select-all');
  await p.locator('#bulk-count:has-text("2 selected")').waitFor();
  await p.click('#bulk-approve');
  await p.locator('#bulk-result:has-text("Approve: 2 of 2 done")').waitFor();
  for (const n of [a, b]) assert.equal((await api(server, 'GET', '/api/v1/nodes/' + n.id)).json.approval, 'approved');

  // the selection stays across the refresh; roles from the catalog
  await p.locator('#bulk-roles input[value="ops-render"]').check();
  await p.locator('#bulk-roles input[value="ops-guard"]').check();
  await p.click('#bulk-set-roles');
  await p.locator('#bulk-result:has-text("Set roles: 2 of 2 done")').waitFor();
  for (const n of [a, b]) {
    assert.deepEqual((await api(server, 'GET', '/api/v1/nodes/' + n.id)).json.roles.slice().sort(), ['ops-guard', 'ops-render']);
  }
  // one node only: its row's box
  await p.click('#bulk-clear');
  assert.equal(await p.isHidden('#bulk'), true);
  await p.check(`#nodes tbody tr[data-id="${b.id}"] .row-select`);
  await p.click('#bulk-update-services');
  await p.locator('#bulk-result:has-text("Update services: 1 of 1 done")').waitFor();
  assert.deepEqual((await api(server, 'GET', '/api/v1/nodes/' + b.id)).json.pending_flags, ['update_services']);
  assert.deepEqual((await api(server, 'GET', '/api/v1/nodes/' + a.id)).json.pending_flags, []);
  await shots(p, 'dashboard-bulk');
  assertClean(p);
  await p.context().close();
});

test('dashboard: a failed refresh marks the table stale; no green dot from old data', async () => {
  const n = await enrollNode(server, 'ops-stale', { approve: true });
  await heartbeat(n);
  // offline_after is 1 s here: keep the node alive, so only the failed refresh can take its green dot
  let beating = true;
  const beat = (async () => { while (beating) { await heartbeat(n); await sleep(250); } })();
  const p = await page();
  await p.goto('/?q=ops-stale');
  const row = p.locator(`#nodes tbody tr[data-id="${n.id}"]`);
  await row.locator('.dot.online').waitFor();
  // the dashboard asks for a page and the summary (GET /api/v1/nodes?…, /api/v1/nodes/summary?…)
  const list = (u) => u.pathname === '/api/v1/nodes' || u.pathname === '/api/v1/nodes/summary';
  await p.route(list, (r) => r.fulfill({ status: 503, contentType: 'application/json', body: '{"error":"the store is stopping","code":"unavailable"}' }));
  await p.click('#refresh');
  await p.locator('#stale:has-text("Refresh failed")').waitFor();
  assert.match(await p.textContent('#stale'), /the store is stopping/);
  assert.match(await p.textContent('#stale'), /online states are unknown/);
  assert.equal(await row.locator('.dot.online').count(), 0, 'no green dot from stale data');
  assert.equal(await p.locator('#nodes.stale').count(), 1);
  await shots(p, 'dashboard-stale');
  await p.unroute(list);
  await p.click('#refresh');
  await row.locator('.dot.online').waitFor();
  assert.equal(await p.isHidden('#stale'), true);
  assertClean(p, [/503/]);
  await p.context().close();
  beating = false;
  await beat;
});

test('node page: command history with cancel for pending commands, and the online timeline', async () => {
  const n = await enrollNode(server, 'ops-history', { approve: true });
  await heartbeat(n);
  // offline (offline_after is 1 s, the drop is recorded by housekeeping), then back
  const until = Date.now() + 8000;
  for (;;) {
    const ev = await api(server, 'GET', `/api/v1/nodes/${n.id}/events?kind=offline`);
    if (ev.json.length > 0) break;
    assert.ok(Date.now() < until, 'no offline event');
    await sleep(200);
  }
  await heartbeat(n);
  // keep it online from here (offline_after is 1 s)
  let beating = true;
  const beat = (async () => { while (beating) { await heartbeat(n); await sleep(250); } })();
  const c1 = await api(server, 'POST', `/api/v1/nodes/${n.id}/exec`, { body: { command: 'hostname', timeout_s: 30 } });
  const c2 = await api(server, 'POST', `/api/v1/nodes/${n.id}/exec`, { body: { command: 'uptime', timeout_s: 30 } });
  assert.equal(c1.status, 202, c1.text);
  assert.equal(c2.status, 202, c2.text);

  const p = await page();
  await p.goto('/nodes/' + n.id);
  const r1 = p.locator(`#exec-history tbody tr[data-id="${c1.json.id}"]`);
  await r1.waitFor();
  assert.match(await r1.textContent(), /hostname/);
  assert.match(await r1.textContent(), /pending/);
  assert.match(await r1.textContent(), /admin:config|session:/);
  await r1.locator('button:has-text("Cancel")').click();
  await p.locator(`#exec-history tbody tr[data-id="${c1.json.id}"][data-status="canceled"]`).waitFor();
  const res = await api(server, 'GET', `/api/v1/nodes/${n.id}/exec/${c1.json.id}/result`);
  assert.equal(res.json.status, 'canceled');
  assert.equal(await p.locator(`#exec-history tbody tr[data-id="${c2.json.id}"] button:has-text("Cancel")`).count(), 1);

  // the bar: unknown before the enrollment, offline then online, online now
  await p.locator('#timeline span').first().waitFor();
  const states = await p.$$eval('#timeline span', (s) => s.map((x) => x.dataset.state));
  assert.equal(states[states.length - 1], 'online');
  assert.ok(states.includes('offline'), 'an offline period: ' + states.join());
  const width = await p.$$eval('#timeline span', (s) => s.reduce((a, x) => a + parseFloat(x.style.width), 0));
  assert.ok(Math.abs(width - 100) < 0.5, 'the bar covers 7 days: ' + width);
  assert.equal(await p.getAttribute('#periods tbody tr:first-child', 'data-state'), 'online');
  assert.match(await p.textContent('#periods tbody'), /offline/);
  await shots(p, 'node-history');
  assertClean(p);
  await p.context().close();
  beating = false;
  await beat;
});

test('activity page: the audit log, filtered by action, actor, target and search', async () => {
  const n = await enrollNode(server, 'ops-activity', { approve: true });
  const put = await api(server, 'PUT', '/api/v1/roles/ops-activity-role', { body: { description: 'x' } });
  assert.equal(put.status, 201, put.text);
  const p = await page();
  await p.goto('/activity');
  await p.locator('#activity tbody tr').first().waitFor();
  assert.match(await p.textContent('#activity tbody'), /role\.put/);
  await p.selectOption('#f-action', 'role.put');
  await p.waitForFunction(() => [...document.querySelectorAll('#activity tbody tr td:nth-child(3)')].every((td) => td.textContent === 'role.put'));
  assert.match(p.url(), /action=role\.put/);
  await p.selectOption('#f-action', '');
  await p.fill('#f-target', n.id);
  await p.waitForFunction((id) => {
    const rows = [...document.querySelectorAll('#activity tbody tr td:nth-child(4)')];
    return rows.length >= 2 && rows.every((td) => td.textContent === id);
  }, n.id);
  const link = p.locator(`#activity tbody a[href="/nodes/${n.id}"]`).first();
  assert.equal(await link.count(), 1);
  await p.fill('#q', 'node.approve');
  await p.waitForFunction(() => document.querySelectorAll('#activity tbody tr').length === 1);
  await shots(p, 'activity');
  // the filters come back from the address
  await p.reload();
  await p.waitForFunction(() => document.querySelectorAll('#activity tbody tr').length === 1);
  assert.equal(await p.inputValue('#f-target'), n.id);
  assertClean(p);
  await p.context().close();
});

test('admin page: mint and revoke an admin token, mint and revoke an enrollment, rotate the fleet token', async () => {
  const p = await page();
  await p.goto('/admin');
  await p.fill('#t-label', 'ops-ci');
  await p.click('#token-mint');
  const secret = (await p.locator('#token-result pre').textContent()).trim();
  assert.match(secret, /^[0-9a-f]{64}$/);
  assert.equal((await api(server, 'GET', '/api/v1/admin-tokens', { token: secret })).status, 200);
  const row = p.locator('#tokens tbody tr', { hasText: 'ops-ci' });
  await row.waitFor();
  await row.locator('button:has-text("Revoke")').click();
  await row.waitFor({ state: 'detached' });
  assert.equal((await api(server, 'GET', '/api/v1/admin-tokens', { token: secret })).status, 401);

  await p.fill('#e-name', 'ops-leaked');
  await p.selectOption('#e-os', 'linux');
  await p.click('#enr-mint');
  const cmd = await p.locator('#enr-result pre').textContent();
  const tok = /--enrollment-token '([0-9a-f]+)'/.exec(cmd)[1];
  const erow = p.locator('#enrollments tbody tr', { hasText: 'ops-leaked' });
  await erow.waitFor();
  await erow.locator('button:has-text("Revoke")').click();
  await erow.waitFor({ state: 'detached' });
  const spend = await api(server, 'POST', '/api/v1/enroll', { token: null, body: { enrollment_token: tok, hostname: 'h', os: 'linux' } });
  assert.equal(spend.status, 401, 'a revoked install command no longer works');

  const before = (await api(server, 'GET', '/api/v1/enroll-qr')).json.enrollment_token;
  await p.click('#fleet-rotate');
  const fresh = (await p.locator('#fleet-result pre').textContent()).trim();
  assert.notEqual(fresh, before);
  assert.equal((await api(server, 'GET', '/api/v1/enroll-qr')).json.enrollment_token, fresh);
  assert.match(await p.textContent('#fleet-result'), /previous token registers iPads until \d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  await shots(p, 'admin');
  assertClean(p);
  await p.context().close();
});

test('/enroll follows hash changes: #ipad and #recovery switch tabs', async () => {
  const p = await page();
  await p.goto('/enroll');
  await p.locator('#panel-machine').waitFor();
  await p.evaluate(() => { location.hash = '#ipad'; });
  await p.locator('#panel-ipad').waitFor();
  assert.equal(await p.getAttribute('#tab-ipad', 'aria-selected'), 'true');
  assert.equal(await p.isHidden('#panel-machine'), true);
  await p.evaluate(() => { location.hash = '#recovery'; });
  await p.locator('#panel-recovery').waitFor();
  assert.equal(await p.isHidden('#panel-ipad'), true);
  // a link on another page to /enroll#ipad
  await p.goto('/admin');
  await p.click('a[href="/enroll#ipad"]');
  await p.locator('#panel-ipad').waitFor();
  assertClean(p);
  await p.context().close();
});
