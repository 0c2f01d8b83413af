// The web UI in real Chromium against the real binary: login, the enroll
// page (install command, recovery open to anyone), approving a pending node,
// errors shown to the user, logout, session end, keyboard use, screenshots.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, ADMIN,
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
    // a clean exit also means no sanitizer report at shutdown
    assert.deepEqual(r, { code: 0, signal: null }, 'server exit; its log:\n' + server.log().slice(-4000));
    server.cleanup();
  }
});

test('admin pages send an anonymous browser to the login page, and back after logging in', async () => {
  const page = await newPage(browser, server);
  await page.goto('/nodes/node-0123456789abcdef');
  assert.equal(new URL(page.url()).pathname, '/login');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/nodes/node-0123456789abcdef');
  await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'token');
  await shots(page, 'login');

  // a wrong token: a clear message, nothing else happens
  await page.fill('#token', 'not-the-admin-token');
  await page.click('#login-submit');
  const err = page.locator('#login-errors .error');
  await err.waitFor();
  assert.match(await err.textContent(), /not a valid admin token.*HTTP 401/);
  assert.equal(new URL(page.url()).pathname, '/login');

  await page.fill('#token', ADMIN);
  await page.keyboard.press('Enter');
  await page.waitForURL('**/nodes/node-0123456789abcdef');
  // the session cookie: HttpOnly, SameSite=Strict, whole site
  const cookies = await page.context().cookies();
  const c = cookies.find((x) => x.name === 'hc_session');
  assert.ok(c, 'session cookie set');
  assert.equal(c.httpOnly, true);
  assert.equal(c.sameSite, 'Strict');
  assert.equal(c.path, '/');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the page script cannot read the session');
  await page.context().close();
  // only the 401 of the wrong token was logged by the browser
  assertClean(page, [/status of 401/, /status of 404/]);
});

test('the login page only sends the browser on to pages of this server', async () => {
  for (const next of ['//evil.example/x', '/\\evil.example', '/\t/evil.example', 'https://evil.example/',
    // same origin at first sight, but the resolved path starts with "//"
    '/..//evil.example/phish', '/a/..//evil.example/x', '/%2e%2e//evil.example/x', '/.//evil.example/x',
    '/..\\/evil.example/x']) {
    const page = await newPage(browser, server);
    await page.goto('/login?next=' + encodeURIComponent(next));
    await page.fill('#token', ADMIN);
    await page.click('#login-submit');
    await page.waitForURL((u) => u.pathname !== '/login');
    const u = new URL(page.url());
    assert.equal(u.origin, server.url, 'stayed on this server for next=' + JSON.stringify(next));
    assert.equal(u.pathname, '/');
    await page.context().close();
  }
  // already logged in: /login sends the browser on at once, by the same rule
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/login?next=' + encodeURIComponent('/..//evil.example/phish'));
  await page.waitForURL((u) => u.pathname !== '/login');
  assert.equal(new URL(page.url()).origin, server.url);
  assert.equal(new URL(page.url()).pathname, '/');
  // a page of this server is still where it goes
  await page.goto('/login?next=' + encodeURIComponent('/roles?x=1#top'));
  await page.waitForURL('**/roles?x=1#top');
  await page.context().close();
});

test('enroll tab: a logged-in admin gets an install command that works, with copy and expiry', async () => {
  const page = await newPage(browser, server, { permissions: ['clipboard-read', 'clipboard-write'] });
  await loginApi(page, server);
  await page.goto('/enroll');
  await page.locator('#tab-machine[aria-selected=true]').waitFor();
  assert.equal(await page.isVisible('#enroll-form'), true);
  assert.equal(await page.isHidden('#anon-notice'), true);
  // this test server listens on 127.0.0.1 with no public_url and the example release server: both are said
  await page.locator('#enroll-warnings:not([hidden])').waitFor();
  const warned = await page.textContent('#enroll-warnings');
  assert.match(warned, /server\.public_url is http:\/\/127\.0\.0\.1:\d+, a loopback/);
  assert.match(warned, /releases\.base_url is still the example placeholder/);

  await page.fill('#e-name', 'render-web-01');
  await page.fill('#e-owner', 'ops');
  await page.check('input[name=os][value=linux]');
  await page.click('#enroll-submit');
  await page.locator('#enroll-result').waitFor();
  const cmd = (await page.textContent('#r-command')).trim();
  assert.match(cmd, /^curl -fsSL '.*\/install\.sh' \| sudo sh -s -- --server '.*' --enrollment-token '[0-9a-f]{64}'$/);
  assert.equal(await page.textContent('#r-name'), 'render-web-01');
  assert.match(await page.textContent('#r-expiry-rel'), /^in (24|23) h$/);
  const iso = await page.getAttribute('#r-expiry', 'datetime');
  assert.ok(Date.parse(iso) > Date.now() + 23 * 3600e3, 'expiry about a day ahead: ' + iso);

  await page.click('#copy');
  await page.locator('#copy-status:has-text("Copied")').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), cmd);

  // the token in the command is real: an agent can spend it once
  const token = cmd.match(/--enrollment-token '([0-9a-f]{64})'/)[1];
  const e = await api(server, 'POST', '/api/v1/enroll', {
    token: null, body: { enrollment_token: token, hostname: 'render-web-01', os: 'linux', arch: 'amd64', version: 'v1' },
  });
  assert.equal(e.status, 201, e.text);

  // Windows: the PowerShell form
  await page.fill('#e-name', 'render-web-02');
  await page.check('input[name=os][value=windows]');
  await page.click('#enroll-submit');
  await page.locator('#r-name:has-text("render-web-02")').waitFor();
  assert.match(await page.textContent('#r-command'), /^powershell .*install\.ps1.*-EnrollmentToken '[0-9a-f]{64}'/);
  assert.match(await page.textContent('#r-how'), /administrator PowerShell/);
  await shots(page, 'enroll-machine');
  assertClean(page);
  await page.context().close();
});

test('the enroll form shows the server\'s error when the session has ended, then goes to login', async () => {
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/enroll');
  await page.locator('#enroll-form').waitFor();
  // end the session behind the page's back (as an expiry or a restart would)
  const del = await page.context().request.delete(server.url + '/api/v1/session', { headers: { Origin: server.url } });
  assert.equal(del.status(), 200);
  await page.fill('#e-name', 'render-web-03');
  await page.click('#enroll-submit');
  await page.waitForURL(/\/login\?next=%2Fenroll/);
  assertClean(page, [/status of 401/]);
  await page.context().close();
});

test('recovery tab: open without login, with the commands for Windows, Linux and macOS; tabs work by keyboard', async () => {
  const page = await newPage(browser, server);
  const res = await page.goto('/enroll');
  assert.equal(res.status(), 200);
  assert.equal(new URL(page.url()).pathname, '/enroll', 'no redirect to login');
  // anonymous: recovery is the tab shown, the others say to log in
  await page.locator('#tab-recovery[aria-selected=true]').waitFor();
  const text = await page.textContent('#panel-recovery');
  assert.match(text, /schtasks \/Run \/TN HydraNode/);
  assert.match(text, /systemctl restart hydranode/);
  assert.match(text, /launchctl kickstart -k system\/com\.hydracluster\.hydranode/);
  assert.match(text, /C:\\hydranode\\hydranode\.exe install/);
  assert.match(text, /schtasks \/Query \/TN HydraNode/);
  assert.ok(text.includes(server.url + '/install.ps1'), 'reinstall command names this server');
  // a reinstall keeps the node's identity: no new enrollment token in it
  assert.doesNotMatch(await page.textContent('#rec-win-install'), /EnrollmentToken/);
  assert.doesNotMatch(await page.textContent('#rec-unix-install'), /enrollment-token/);
  assert.equal(await page.isVisible('#anon-notice'), true);
  await shots(page, 'enroll-recovery');

  // keyboard: arrows move between tabs, the panel follows
  await page.focus('#tab-recovery');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'tab-machine');
  assert.equal(await page.isVisible('#panel-machine'), true);
  assert.equal(await page.isVisible('#panel-machine .needs-login'), true, 'asks to log in');
  assert.equal(await page.isHidden('#enroll-form'), true);
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.isVisible('#panel-ipad .needs-login'), true);
  assert.equal(await page.isHidden('#qr'), true, 'no QR for anonymous visitors');
  assert.equal(new URL(page.url()).hash, '#ipad');
  // nothing behind the login was asked for, so nothing failed
  assertClean(page);
  await page.context().close();
});

test('a pending node enrolled through the API is approved on its page', async () => {
  const node = await enrollNode(server, 'render-web-pending', { os: 'windows' });
  const page = await newPage(browser, server);
  page.on('dialog', (d) => d.accept());
  await loginApi(page, server);
  await page.goto('/nodes/' + node.id);
  await page.locator('#approval').waitFor();
  await shots(page, 'node-pending');
  await page.click('#approve');
  await page.locator('#approval-result .ok').waitFor();
  assert.match(await page.textContent('#approval-result'), /now approved/);
  // really approved: only a pending node can be rejected
  const r = await api(server, 'POST', `/api/v1/nodes/${node.id}/reject`);
  assert.equal(r.status, 409, r.text);
  // node pages of this build may lack GET /api/v1/nodes/{id}: that error is shown, not hidden
  const nodeApi = await api(server, 'GET', '/api/v1/nodes/' + node.id);
  if (nodeApi.status === 404) {
    assert.match(await page.textContent('#errors'), /no such endpoint.*HTTP 404/);
    assertClean(page, [/status of 404/]);
  } else {
    assertClean(page);
  }
  await page.context().close();
});

test('rejecting a pending node asks first, then rejects it', async () => {
  const node = await enrollNode(server, 'render-web-reject');
  const page = await newPage(browser, server);
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  await loginApi(page, server);
  await page.goto('/nodes/' + node.id);
  await page.click('#reject');
  await page.locator('#approval-result .ok').waitFor();
  assert.match(await page.textContent('#approval-result'), /now rejected/);
  assert.equal(dialogs.length, 1);
  assert.match(dialogs[0], /Reject this node/);
  const again = await api(server, 'POST', `/api/v1/nodes/${node.id}/reject`);
  assert.equal(again.status, 409, 'rejected: no longer pending');
  await page.context().close();
});

test('API errors are shown to the user: approving a node that does not exist', async () => {
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/nodes/node-doesnotexist000');
  await page.click('#approve');
  const err = page.locator('#approval-result .error');
  await err.waitFor();
  assert.match(await err.textContent(), /no node node-doesnotexist000 \(HTTP 404, not_found\)/);
  assertClean(page, [/status of 404/]);
  await page.context().close();
});

test('logout ends the session: admin pages go back to the login page', async () => {
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/enroll');
  await page.locator('#logout').waitFor();
  await page.click('#logout');
  await page.waitForURL('**/login');
  await page.goto('/nodes/node-x');
  assert.equal(new URL(page.url()).pathname, '/login');
  const s = await page.context().request.get(server.url + '/api/v1/session');
  assert.deepEqual(await s.json(), { authenticated: false });
  assertClean(page);
  await page.context().close();
});

test('a session cookie is not enough for a cross-site state change', async () => {
  const page = await newPage(browser, server);
  await loginApi(page, server);
  const ctx = page.context().request;
  const evil = await ctx.post(server.url + '/api/v1/enrollments', {
    data: { name: 'csrf' }, headers: { Origin: 'http://evil.example' },
  });
  assert.equal(evil.status(), 403);
  assert.match((await evil.json()).error, /cross-site/);
  const none = await ctx.post(server.url + '/api/v1/enrollments', { data: { name: 'csrf' } });
  assert.equal(none.status(), 403, 'no Origin with a cookie');
  const same = await ctx.post(server.url + '/api/v1/enrollments', { data: { name: 'same-origin' }, headers: { Origin: server.url } });
  assert.equal(same.status(), 201);
  await page.context().close();
});

test('pages load their files from hashed, immutable URLs under a strict CSP', async () => {
  const page = await newPage(browser, server);
  const res = await page.goto('/login');
  const h = res.headers();
  assert.match(h['content-security-policy'], /default-src 'self'; script-src 'self'; style-src 'self'/);
  assert.equal(h['x-frame-options'], 'DENY');
  assert.equal(h['cache-control'], 'no-cache');
  const scripts = await page.$$eval('script[src]', (s) => s.map((x) => x.getAttribute('src')));
  assert.ok(scripts.length >= 2);
  for (const src of scripts) {
    assert.match(src, /^\/static\/[0-9a-f]{16}\/[a-z]+\.js$/);
    const r = await fetch(server.url + src);
    assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  }
  // no inline script or style anywhere (the CSP would block them)
  assert.equal(await page.$$eval('script:not([src])', (s) => s.length), 0);
  assert.equal(await page.$$eval('[style]', (s) => s.length), 0);
  assertClean(page);
  await page.context().close();
});
