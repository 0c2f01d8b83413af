// The streaming sessions pages: /sessions (active first, the refresh rate
// that follows whether any session is active), /sessions/{id}/logs (body and
// head lines side by side on one time line), and the sessions panel of the
// node and head pages. The sessions are made the way agents make them: body
// heartbeats, head reports and log uploads with node tokens.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, skipUnless, FLEET,
} from './lib.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
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

const SESSIONS_API = [
  ['GET', '/api/v1/sessions', 'streaming sessions: branch sessions'],
  ['POST', '/api/v1/heads', 'iPad registration: branch heads'],
];

async function ok(r) {
  assert.ok(r.status >= 200 && r.status < 300, r.text);
  return r.json;
}

async function beat(node, fields) {
  return ok(await api(server, 'POST', '/api/v1/body/heartbeat', { token: node.token, body: { provider_status: 'running', ...fields } }));
}

async function headReport(head, body) {
  return ok(await api(server, 'PUT', '/api/v1/heads/' + head.id, { token: head.token, body }));
}

async function upload(node, sid, lines) {
  return ok(await api(server, 'POST', `/api/v1/body/sessions/${sid}/logs`, { token: node.token, body: { lines } }));
}

test('sessions: the list puts active sessions first and refreshes faster while one is active; the logs page aligns both sides by time', async (t) => {
  if (await skipUnless(t, server, SESSIONS_API)) return;
  const body = await enrollNode(server, 'web-render-s', { approve: true });
  await ok(await api(server, 'PATCH', '/api/v1/nodes/' + body.id, { body: { district: 'bxl1', venue: 'cloud-seven' } }));
  const reg = await ok(await api(server, 'POST', '/api/v1/heads', { token: FLEET, body: { name: 'ipad-web-s', district: 'bxl1', venue: 'cloud-seven' } }));
  const head = { id: reg.head_id, token: reg.token };

  // an ended session first, then the active one
  await beat(body, { stream_status: 'streaming', session_id: 'web-old' });
  await beat(body, { stream_status: 'idle' });
  await beat(body, { stream_status: 'streaming', session_id: 'web-live' });
  await headReport(head, { status: 'streaming', session_id: 'web-live' });
  await upload(body, 'web-live', [
    { ts: '2026-11-23T06:31:27.100Z', line: 'sunshine: client connected' },
    { ts: '2026-11-23T06:31:29.000Z', line: 'encoder: 60 fps' },
    { ts: '2026-11-23T06:31:28.000Z', line: 'rtsp: stream started' },
  ]);
  await upload(head, 'web-live', [
    { ts: '2026-11-23T06:31:28.000Z', line: 'moonlight: first frame' },
    { ts: '2026-11-23T06:31:30.500Z', line: 'kiosk: playing' },
  ]);

  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/sessions');
  const rows = page.locator('#sessions tbody tr');
  await page.locator('#sessions tbody tr[data-id="web-live"]').waitFor();
  await page.locator('#sessions tbody tr[data-id="web-old"]').waitFor();
  const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
  assert.ok(ids.indexOf('web-live') < ids.indexOf('web-old'), 'active first: ' + ids.join(' '));
  const live = page.locator('#sessions tbody tr[data-id="web-live"]');
  assert.match(await live.textContent(), /active/);
  assert.match(await live.textContent(), /web-render-s/);
  assert.match(await live.textContent(), /ipad-web-s/);
  assert.match(await live.textContent(), /bxl1 \/ cloud-seven/);
  assert.match(await page.locator('#sessions tbody tr[data-id="web-old"]').textContent(), /ended.*body_idle/);
  assert.match(await page.textContent('#refresh-rate'), /every 5 s/);
  await page.selectOption('#f-state', 'ended');
  await live.waitFor({ state: 'detached' });
  await page.selectOption('#f-state', '');
  await shots(page, 'sessions');

  // the logs: one time line, the lines of one moment on one row
  await page.click('#sessions tbody tr[data-id="web-live"] td.name a');
  await page.waitForURL('**/sessions/web-live/logs');
  await page.locator('#logs tbody tr').first().waitFor();
  const table = await page.locator('#logs tbody tr').evaluateAll((trs) => trs.map((tr) =>
    [...tr.querySelectorAll('td')].map((td) => td.textContent)));
  assert.deepEqual(table, [
    ['06:31:27.100', 'sunshine: client connected', ''],
    ['06:31:28.000', 'rtsp: stream started', 'moonlight: first frame'],
    ['06:31:29.000', 'encoder: 60 fps', ''],
    ['06:31:30.500', '', 'kiosk: playing'],
  ]);
  assert.match(await page.textContent('#body-col'), /web-render-s/);
  assert.match(await page.textContent('#head-col'), /ipad-web-s/);
  assert.match(await page.textContent('#facts'), /active/);
  assert.match(await page.textContent('#refresh-rate'), /every 5 s/);
  await shots(page, 'session-logs');

  // the node and head pages link their sessions
  await page.goto('/nodes/' + body.id);
  await page.locator('#node-sessions-list li[data-id="web-live"] a[href="/sessions/web-live/logs"]').waitFor();
  await page.locator('#node-sessions-list li[data-id="web-old"]').waitFor();
  assert.equal(await page.getAttribute('#node-sessions-all', 'href'), '/sessions?node=' + body.id);
  await page.goto('/heads/' + head.id);
  await page.locator('#node-sessions-list li[data-id="web-live"]').waitFor();
  assert.equal(await page.locator('#node-sessions-list li[data-id="web-old"]').count(), 0);

  // the session ends: nothing active, the list slows down to 30 s
  await beat(body, { stream_status: 'idle' });
  await page.goto('/sessions?node=' + encodeURIComponent(body.id));
  await page.locator('#sessions tbody tr[data-id="web-live"]', { hasText: 'body_idle' }).waitFor();
  assert.match(await page.textContent('#refresh-rate'), /every 30 s/);
  assert.match(await page.textContent('#node-filter'), new RegExp(body.id));
  assertClean(page);
  await page.context().close();

  // without a login the pages send the browser to the login page
  const anon = await newPage(browser, server);
  await anon.goto('/sessions/web-live/logs');
  await anon.waitForURL(/\/login\?next=/);
  await anon.context().close();
});
