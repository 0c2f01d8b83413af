// The pages that need the nodes, roles, exec and heads APIs: the dashboard,
// a node going offline, roles, the exec console, force-stop, heads, the iPad
// QR. Each test first asks whether its endpoints exist on this build; when
// the router answers 404 (the branch that adds them is not merged yet) the
// test is SKIPPED with the reason printed, never passed without running.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  startServer, api, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, skipUnless, endpointMissing, sleep,
  decodeQr, svgToPng, ARTIFACTS, FLEET,
} from './lib.mjs';

const OFFLINE_AFTER_S = 3;
let server;
let browser;

before(async () => {
  server = await startServer({
    extraYaml: [
      'nodes:',
      `  offline_after: ${OFFLINE_AFTER_S}s`,
      'role_catalog:',
      '  - name: web-render',
      '    description: Render node (web tests)',
      '  - name: web-kiosk',
      '    description: Kiosk head (web tests)',
    ].join('\n'),
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

const NODE_X = '/api/v1/nodes/node-probe0000000000';

async function heartbeat(node, fields = {}) {
  const r = await api(server, 'POST', '/api/v1/body/heartbeat', {
    token: node.token,
    body: { version: 'v0.23.10', stream_status: 'idle', provider_status: 'running', wireguard_ip: '10.66.0.21', lan_ip: '192.168.10.21', diagnostics: { wireguard: 'up' }, ...fields },
  });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

// Plays the node agent: takes the next queued command (long poll) and
// reports answer(command) as its result. Returns the command it ran.
async function agentRunsOne(node, answer, deadlineMs = 20000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const r = await api(server, 'GET', '/api/v1/body/exec?wait=5', { token: node.token });
    if (r.status === 200) {
      const res = await api(server, 'POST', '/api/v1/body/exec/result', {
        token: node.token, body: { id: r.json.id, duration_ms: 12, stdout: '', stderr: '', exit_code: 0, ...answer(r.json.command) },
      });
      assert.ok(res.status >= 200 && res.status < 300, res.text);
      return r.json.command;
    }
    assert.equal(r.status, 204, r.text);
  }
  throw new Error('no command reached the agent in time');
}

test('dashboard: nodes table, pending approvals on top, search, filters, refresh rate', async (t) => {
  if (await skipUnless(t, server, [
    ['GET', '/api/v1/nodes', 'nodes list: branch nodes'],
    ['PATCH', NODE_X, 'node metadata: branch nodes'],
    ['POST', '/api/v1/body/heartbeat', 'heartbeats: branch nodes'],
  ])) return;
  const a = await enrollNode(server, 'web-body-a', { approve: true });
  const p = await api(server, 'PATCH', '/api/v1/nodes/' + a.id, { body: { district: 'bxl1', venue: 'cloud-seven' } });
  assert.equal(p.status, 200, p.text);
  await heartbeat(a);
  const b = await enrollNode(server, 'web-body-b', { os: 'windows' });

  const page = await newPage(browser, server);
  page.on('dialog', (d) => d.accept());
  await loginApi(page, server);
  await page.goto('/');
  const rowA = page.locator(`#nodes tbody tr[data-id="${a.id}"]`);
  await rowA.waitFor();
  assert.equal(await rowA.locator('.dot.online').count(), 1, 'online dot');
  assert.match(await rowA.textContent(), /web-body-a/);
  assert.match(await rowA.textContent(), /bxl1 \/ cloud-seven/);
  assert.match(await rowA.textContent(), /running/);
  assert.match(await rowA.textContent(), /v0\.23\.10/);
  const card = page.locator(`#pending li[data-id="${b.id}"]`);
  await card.waitFor();
  assert.match(await page.textContent('#refresh-rate'), /every 30 s/);
  await shots(page, 'dashboard');

  // search and filters narrow the table (and stay in the address)
  await page.fill('#q', 'web-body-a');
  await page.waitForFunction(() => document.querySelectorAll('#nodes tbody tr').length === 1);
  assert.match(page.url(), /\?q=web-body-a/);
  await page.fill('#q', '');
  await page.selectOption('#f-status', 'pending');
  await page.waitForFunction((id) => [...document.querySelectorAll('#nodes tbody tr')].every((r) => r.dataset.id === id), b.id);
  await page.selectOption('#f-status', '');
  await page.selectOption('#f-district', 'bxl1');
  await page.waitForFunction((id) => [...document.querySelectorAll('#nodes tbody tr')].map((r) => r.dataset.id).join() === id, a.id);
  await page.selectOption('#f-district', '');

  // approve from the pending list
  await card.locator('button:has-text("Approve")').click();
  await card.waitFor({ state: 'detached' });
  const nb = await api(server, 'GET', '/api/v1/nodes/' + b.id);
  assert.equal(nb.json.approval, 'approved');

  // something streams: refresh every 5 s
  await heartbeat(a, { stream_status: 'streaming' });
  await page.click('#refresh');
  await page.locator('#refresh-rate:has-text("every 5 s")').waitFor();
  await heartbeat(a, { stream_status: 'idle' });
  assertClean(page);
  await page.context().close();
});

test('a node goes offline on the dashboard when its heartbeats stop', async (t) => {
  if (await skipUnless(t, server, [
    ['GET', '/api/v1/nodes', 'nodes list: branch nodes'],
    ['POST', '/api/v1/body/heartbeat', 'heartbeats: branch nodes'],
  ])) return;
  const c = await enrollNode(server, 'web-body-c', { approve: true });
  await heartbeat(c);
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/?q=web-body-c');
  const row = page.locator(`#nodes tbody tr[data-id="${c.id}"]`);
  await row.locator('.dot.online').waitFor();
  const end = Date.now() + (OFFLINE_AFTER_S + 8) * 1000;
  while ((await row.locator('.dot.offline').count()) === 0) {
    assert.ok(Date.now() < end, 'the node did not show offline');
    await sleep(1000);
    await page.click('#refresh');
  }
  await page.selectOption('#f-status', 'offline');
  await row.waitFor();
  assertClean(page);
  await page.context().close();
});

async function ensureRole(name) {
  const r = await api(server, 'GET', '/api/v1/roles');
  const list = Array.isArray(r.json) ? r.json : (r.json && r.json.roles) || [];
  if (!list.some((x) => x.name === name)) {
    const put = await api(server, 'PUT', '/api/v1/roles/' + name, { body: { description: 'web tests', recipe: {} } });
    assert.ok(put.status === 200 || put.status === 201, put.text);
  }
}

test('roles: the node page assigns roles from the catalog; the roles page lists them', async (t) => {
  if (await skipUnless(t, server, [
    ['GET', '/api/v1/roles', 'role catalog: branch nodes'],
    ['POST', NODE_X + '/roles', 'node roles: branch nodes'],
    ['GET', NODE_X, 'node object: branch nodes'],
    ['GET', '/api/v1/audit', 'audit trail: branch nodes'],
  ])) return;
  await ensureRole('web-render');
  await ensureRole('web-kiosk');
  const n = await enrollNode(server, 'web-body-roles', { approve: true });
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/nodes/' + n.id);
  await page.locator('#roles-list input[value="web-render"]').waitFor();
  await page.check('#roles-list input[value="web-render"]');
  await page.click('#roles-save');
  await page.locator('#roles-result .ok').waitFor();
  const got = await api(server, 'GET', '/api/v1/nodes/' + n.id);
  assert.deepEqual(got.json.roles, ['web-render']);
  assert.equal(await page.isChecked('#roles-list input[value="web-render"]'), true);
  assert.equal(await page.isChecked('#roles-list input[value="web-kiosk"]'), false);
  // the change is in the node's audit entries, by the browser session
  await page.locator('#audit tbody tr', { hasText: 'node.roles' }).waitFor();
  assert.match(await page.locator('#audit tbody tr', { hasText: 'node.roles' }).first().textContent(), /session:admin:config/);
  await shots(page, 'node');

  await page.goto('/roles');
  const row = page.locator('#roles tbody tr[data-name="web-render"]');
  await row.waitFor();
  assert.match(await row.textContent(), /Render node|web tests/);
  await shots(page, 'roles');
  assertClean(page);
  await page.context().close();
});

test('exec console: a command runs on the node and its output and exit code are shown', async (t) => {
  if (await skipUnless(t, server, [
    ['POST', NODE_X + '/exec', 'exec submit: branch exec'],
    ['GET', NODE_X + '/exec/exec-probe/result', 'exec result: branch exec'],
    ['GET', '/api/v1/body/exec', 'agent exec queue: branch exec'],
    ['GET', NODE_X, 'node object: branch nodes'],
  ])) return;
  const n = await enrollNode(server, 'web-body-exec', { approve: true });
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/nodes/' + n.id);
  await page.fill('#x-command', 'echo hello');
  await page.click('#exec-run');
  const ran = await agentRunsOne(n, () => ({ stdout: 'hello from the agent\n', exit_code: 0 }));
  assert.equal(ran, 'echo hello');
  const run = page.locator('#exec-runs .exec-run').first();
  await run.locator('[data-field=stdout]').waitFor();
  assert.equal(await run.locator('[data-field=stdout]').textContent(), 'hello from the agent\n');
  assert.equal(await run.locator('[data-field=exit_code]').textContent(), '0');

  await page.fill('#x-command', 'exit 3');
  await page.click('#exec-run');
  await agentRunsOne(n, () => ({ stderr: 'boom', exit_code: 3 }));
  await page.waitForFunction(() => document.querySelectorAll('#exec-runs .exec-run').length === 2);
  const second = page.locator('#exec-runs .exec-run').first(); // newest on top
  await second.locator('[data-field=stderr]').waitFor();
  assert.equal(await second.locator('[data-field=stderr]').textContent(), 'boom');
  assert.equal(await second.locator('[data-field=exit_code]').textContent(), '3');
  assert.equal(await second.locator('pre.command').textContent(), '$ exit 3');
  await shots(page, 'node-exec');
  assertClean(page);
  await page.context().close();
});

test('force-stop stream shows the result of the stop sent to the body', async (t) => {
  if (await skipUnless(t, server, [
    ['DELETE', NODE_X + '/stream', 'force-stop: branch nodes/exec'],
    ['GET', '/api/v1/body/exec', 'agent exec queue: branch exec'],
    ['GET', NODE_X, 'node object: branch nodes'],
  ])) return;
  const n = await enrollNode(server, 'web-body-stop', { approve: true });
  const page = await newPage(browser, server);
  page.on('dialog', (d) => d.accept());
  await loginApi(page, server);
  await page.goto('/nodes/' + n.id);
  await page.click('#stop-stream');
  await agentRunsOne(n, () => ({ stdout: 'stream stopped\n', exit_code: 0 }));
  await page.locator('#action-result .ok').waitFor();
  assert.match(await page.textContent('#action-result'), /exec succeeded/);
  // the server trims the agent's one trailing newline (the runbooks' "output":"{\"status\":\"ok\"}")
  assert.equal(await page.textContent('[data-field=stop-output]'), 'stream stopped');
  assertClean(page);
  await page.context().close();
});

async function registerHead(name) {
  const reg = await api(server, 'POST', '/api/v1/heads', {
    token: FLEET, body: { name, district: 'bxl1', venue: 'cloud-seven' },
  });
  assert.equal(reg.status, 201, reg.text);
  const head = { id: reg.json.head_id, token: reg.json.token };
  const put = await api(server, 'PUT', '/api/v1/heads/' + head.id, {
    token: head.token, body: { status: 'streaming', diagnostics: { app: 'Hydra', version: '2.1' } },
  });
  assert.ok(put.status >= 200 && put.status < 300, put.text);
  return head;
}

const HEADS_API = [
  ['GET', '/api/v1/heads', 'heads list: branch heads'],
  ['POST', '/api/v1/heads', 'iPad registration: branch heads'],
  ['PUT', '/api/v1/heads/node-probe0000000000', 'head status: branch heads'],
];

test('heads: the list shows status, node state, place and diagnostics; a head page shows its state and configuration', async (t) => {
  if (await skipUnless(t, server, HEADS_API)) return;
  const head = await registerHead('ipad-web-lobby');
  await heartbeat(head);
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/heads');
  const row = page.locator(`#heads tbody tr[data-id="${head.id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /ipad-web-lobby/);
  assert.match(await row.textContent(), /streaming/);
  assert.match(await row.textContent(), /bxl1 \/ cloud-seven/);
  assert.match(await row.textContent(), /app: Hydra/);
  assert.equal(await row.locator('.dot.online').count(), 1);
  await page.selectOption('#f-status', 'idle');
  await row.waitFor({ state: 'detached' });
  await page.selectOption('#f-status', '');
  await shots(page, 'heads');

  await page.click(`#heads tbody tr[data-id="${head.id}"] a`);
  await page.waitForURL('**/heads/' + head.id);
  await page.locator('#h-title:has-text("ipad-web-lobby")').waitFor();
  await page.locator('#diagnostics dt:has-text("app")').waitFor();
  await page.locator('#config dt', { hasText: /^Stream URL$/ }).waitFor();
  // an iPad runs an app, not an agent with a shell: the page says so and asks the server nothing
  await page.locator('#screenshot-state', { hasText: 'has no shell' }).waitFor();
  assert.match(await page.locator('#log').textContent(), /has no shell/);
  assertClean(page, []);
  await page.context().close();
});

test('a head page shows its screen and log tail, or why not', async (t) => {
  if (await skipUnless(t, server, [
    ...HEADS_API,
    ['GET', '/api/v1/heads/node-probe0000000000/screenshot', 'screenshot: exec channel'],
    ['GET', '/api/v1/heads/node-probe0000000000/logs', 'log tail: exec channel'],
    ['GET', '/api/v1/body/exec', 'agent exec queue: branch exec'],
  ])) return;
  // a macOS kiosk (an agent with a shell) made a head by giving it an experience filter
  const head = await enrollNode(server, 'kiosk-web-screen', { os: 'darwin', approve: true });
  const mk = await api(server, 'POST', `/api/v1/nodes/${head.id}/allowed-experiences`, { body: { allowed_experiences: [] } });
  assert.equal(mk.status, 200, mk.text);
  // its agent answers every read with a failure, which the page must show
  const stop = Date.now() + 40000;
  let done = false;
  const agent = (async () => {
    while (!done && Date.now() < stop) {
      const r = await api(server, 'GET', '/api/v1/body/exec?wait=2', { token: head.token });
      if (r.status === 200) {
        await api(server, 'POST', '/api/v1/body/exec/result', {
          token: head.token, body: { id: r.json.id, exit_code: 1, stdout: '', stderr: 'No such file or directory', duration_ms: 3 },
        });
      }
    }
  })();
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/heads/' + head.id);
  await page.waitForFunction(() => !document.getElementById('screenshot').hidden
    || document.querySelector('#screenshot-errors .error'), null, { timeout: 30000 });
  await page.waitForFunction(() => document.getElementById('log').textContent !== ''
    || document.querySelector('#log-errors .error'), null, { timeout: 30000 });
  done = true;
  await agent;
  await shots(page, 'head');
  assertClean(page, [/status of 50[24]/]);
  await page.context().close();
});

test('iPad tab: the QR code shown on the page decodes to the enroll-qr payload', async (t) => {
  if (await skipUnless(t, server, [['GET', '/api/v1/enroll-qr', 'iPad QR: branch heads']])) return;
  const want = await api(server, 'GET', '/api/v1/enroll-qr');
  assert.equal(want.status, 200, want.text);
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/enroll#ipad');
  await page.waitForFunction(() => {
    const img = document.getElementById('qr');
    return img.complete && img.naturalWidth > 0;
  });
  await page.locator('#qr-payload:not(:empty)').waitFor();
  const box = await page.locator('#qr').boundingBox();
  assert.ok(box.width >= 280, `the code is big enough to scan across a desk (${box.width} px)`);

  // what the operator sees on screen
  const shot = path.join(ARTIFACTS, 'enroll-ipad-qr.png');
  await page.locator('.qr-box').screenshot({ path: shot });
  const seen = decodeQr(shot);
  assert.ok(seen, 'zbarimg found a QR code in the page');
  const payload = JSON.parse(seen);
  assert.equal(payload.server_url, want.json.server_url);
  assert.equal(payload.enrollment_token, want.json.enrollment_token);
  assert.deepEqual(JSON.parse(await page.textContent('#qr-payload')), want.json);

  // and the SVG itself, rendered by librsvg
  const svg = await api(server, 'GET', '/api/v1/enroll-qr?format=svg');
  assert.equal(svg.status, 200);
  assert.match(svg.headers.get('content-type'), /image\/svg\+xml/);
  const svgFile = path.join(tmpdir(), `hc-qr-${process.pid}.svg`);
  writeFileSync(svgFile, svg.text);
  svgToPng(svgFile, svgFile + '.png');
  assert.equal(decodeQr(svgFile + '.png'), seen);
  await shots(page, 'enroll-ipad');
  assertClean(page);
  await page.context().close();
});
