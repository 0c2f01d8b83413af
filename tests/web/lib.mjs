// Helpers of the browser tests: start the real hydracluster binary on a free
// loopback port with a temporary config and data dir (like the C harness),
// talk to its API, drive Debian's chromium with playwright-core, keep
// screenshots in tests/web/artifacts/.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.join(here, 'artifacts');
export const ADMIN = 'test-admin-token-0123456789abcdef0123456789abcdef';
export const FLEET = 'test-fleet-token-0123456789abcdef0123456789abcdef';
const BINARY = process.env.HC_BINARY || path.join(here, '..', '..', 'build-test', 'hydracluster');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

// Starts the server; extraYaml is appended at the top level (nodes:, role_catalog: ...)
// fleetToken: false leaves server.fleet_enrollment_token out (generated, so rotatable)
export async function startServer({ extraYaml = '', fleetToken = true } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'hc-web-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const config = path.join(dir, 'config.yaml');
  writeFileSync(config, [
    'server:',
    `  listen: "127.0.0.1:${port}"`,
    `  data_dir: "${dir}/data"`,
    `  admin_token: "${ADMIN}"`,
    fleetToken ? `  fleet_enrollment_token: "${FLEET}"` : '',
    '  workers: 2',
    '  shutdown_grace: 5s',
    extraYaml,
  ].join('\n') + '\n');
  const logPath = path.join(dir, 'server.log');
  const out = [];
  const proc = spawn(BINARY, ['serve', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => out.push(d));
  proc.stderr.on('data', (d) => out.push(d));
  let exited = null;
  const exitPromise = new Promise((resolve) => proc.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
  const server = {
    url, port, dir, proc,
    log: () => Buffer.concat(out).toString(),
    async stop() {
      if (!exited) proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 15000);
      const r = await exitPromise;
      clearTimeout(t);
      writeFileSync(logPath, Buffer.concat(out));
      return r;
    },
    cleanup() {
      if (!process.env.HC_KEEP_TEST_DIRS) rmSync(dir, { recursive: true, force: true });
    },
  };
  for (let i = 0; i < 300; i++) {
    if (exited) throw new Error(`the server exited at start (${JSON.stringify(exited)}):\n${server.log()}`);
    try {
      const r = await fetch(url + '/api/v1/health');
      if (r.status === 200) return server;
    } catch (e) { /* not up yet */ }
    await sleep(50);
  }
  proc.kill('SIGKILL');
  throw new Error('the server did not answer /api/v1/health within 15 s:\n' + server.log());
}

// One API call with the admin token (token: null for none).
export async function api(server, method, p, { token = ADMIN, body, headers = {} } = {}) {
  const h = { ...headers };
  if (token) h.Authorization = 'Bearer ' + token;
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const r = await fetch(server.url + p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
  return { status: r.status, json, text, headers: r.headers };
}

// Mints an enrollment and spends it like an agent; approves when asked.
export async function enrollNode(server, name, { os = 'linux', approve = false } = {}) {
  const m = await api(server, 'POST', '/api/v1/enrollments', { body: { name, owner: 'web-tests', os } });
  assert.equal(m.status, 201, m.text);
  const e = await api(server, 'POST', '/api/v1/enroll', {
    token: null,
    body: { enrollment_token: m.json.enrollment_token, hostname: name + '-host', os, arch: 'amd64', version: 'v0.23.10' },
  });
  assert.equal(e.status, 201, e.text);
  if (approve) {
    const a = await api(server, 'POST', `/api/v1/nodes/${e.json.node_id}/approve`);
    assert.equal(a.status, 200, a.text);
  }
  return { id: e.json.node_id, token: e.json.token };
}

// The endpoint is not part of this build (the router's own 404, or 405 for a
// path that exists only under other methods). Such a probe has no effect.
export async function endpointMissing(server, method, p) {
  const r = await api(server, method, p, { token: null, body: method === 'GET' || method === 'DELETE' ? undefined : {} });
  if (r.status === 405) return true;
  return r.status === 404 && r.json && typeof r.json.error === 'string' && r.json.error.startsWith('no such endpoint');
}

// Skips test t (with the reason printed) when any endpoint is missing.
export async function skipUnless(t, server, endpoints) {
  for (const [method, p, why] of endpoints) {
    if (await endpointMissing(server, method, p)) {
      const reason = `${method} ${p} answers 404 on this build (${why}); run again after the merge`;
      console.log(`# SKIP ${t.name}: ${reason}`);
      t.skip(reason);
      return true;
    }
  }
  return false;
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.HC_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
}

// A new context and page; console errors and page exceptions are collected
// in page.errors (assertClean checks them).
export async function newPage(browser, server, { width = 1280, height = 800, permissions = [] } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, baseURL: server.url });
  if (permissions.length) await context.grantPermissions(permissions, { origin: server.url });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push('uncaught: ' + e.message));
  page.setDefaultTimeout(15000);
  return page;
}

// No console errors and no uncaught exceptions, except those matching allow.
export function assertClean(page, allow = []) {
  const bad = page.errors.filter((e) => !allow.some((re) => re.test(e)));
  assert.deepEqual(bad, [], 'console errors on ' + page.url());
}

// Logs the page's context in through the API (same cookie jar as the page).
export async function loginApi(page, server) {
  const r = await page.context().request.post(server.url + '/api/v1/session', { data: { token: ADMIN } });
  assert.equal(r.status(), 200, await r.text());
}

// Full-page screenshots at 1280 px and 390 px (phone) wide.
export async function shots(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const vp = page.viewportSize();
  for (const [w, h] of [[1280, 800], [390, 844]]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(100);
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}-${w}.png`), fullPage: true });
  }
  await page.setViewportSize(vp);
}

// Decodes a QR code in an image file with zbarimg; the text, or null.
export function decodeQr(file) {
  try {
    return execFileSync('zbarimg', ['--raw', '-q', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .replace(/\n$/, '');
  } catch (e) {
    return null;
  }
}

export function svgToPng(svgFile, pngFile, width = 600) {
  execFileSync('rsvg-convert', ['-w', String(width), '-b', 'white', '-o', pngFile, svgFile]);
  return readFileSync(pngFile).length;
}
