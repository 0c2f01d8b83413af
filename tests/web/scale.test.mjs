// The dashboard with more nodes than one page: the server filters, counts
// and pages; the browser shows PAGE (100) rows at a time, pages forward and
// back by keyset (after=), and a filter change starts again at the first
// page. Skipped (with the reason) on a build without the summary endpoint.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, api, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, skipUnless,
} from './lib.mjs';

const NODES = 230;
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

// the page's ids, in id order (the table itself sorts the page by the column chosen)
const rowIds = async (page) => (await page.$$eval('#nodes tbody tr', (rows) => rows.map((r) => r.dataset.id))).sort();

test('dashboard pages through a few hundred nodes from the server, 100 at a time', async (t) => {
  if (await skipUnless(t, server, [
    ['GET', '/api/v1/nodes/summary', 'node summary: branch scale'],
  ])) return;
  const made = [];
  for (let i = 0; i < NODES; i += 23) {
    const batch = [];
    for (let k = i; k < Math.min(NODES, i + 23); k++) {
      batch.push(enrollNode(server, `web-page-${String(k).padStart(3, '0')}`, { approve: k % 10 !== 0 }));
    }
    made.push(...await Promise.all(batch));
  }
  const ids = made.map((n) => n.id).sort();
  const pending = made.filter((_, k) => k % 10 === 0).length;

  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/');
  await page.locator('#summary:has-text("1–100 of 230 matching")').waitFor();
  assert.match(await page.textContent('#summary'), /230 nodes/);
  assert.match(await page.textContent('#page-info'), /page 1 of 3/);
  assert.equal(await page.textContent('#pending-count'), String(pending));
  let seen = await rowIds(page);
  assert.deepEqual(seen, ids.slice(0, 100), 'the first page: the first 100 ids');
  assert.ok(await page.isDisabled('#prev'));
  await shots(page, 'dashboard-pages');

  await page.click('#next');
  await page.locator('#summary:has-text("101–200 of 230")').waitFor();
  assert.deepEqual(await rowIds(page), ids.slice(100, 200));
  await page.click('#next');
  await page.locator('#summary:has-text("201–230 of 230")').waitFor();
  assert.deepEqual(await rowIds(page), ids.slice(200));
  assert.ok(await page.isDisabled('#next'));
  await page.click('#prev');
  await page.locator('#summary:has-text("101–200 of 230")').waitFor();
  assert.deepEqual(await rowIds(page), ids.slice(100, 200));

  // a filter goes back to the first page and is counted by the server
  await page.selectOption('#f-status', 'pending');
  await page.locator(`#summary:has-text("1–${pending} of ${pending} matching")`).waitFor();
  seen = await rowIds(page);
  assert.equal(seen.length, pending);
  assert.ok(await page.isDisabled('#next'));
  await page.selectOption('#f-status', '');
  // search runs on the server too: web-page-05x are ten names
  await page.fill('#q', 'web-page-05');
  await page.locator('#summary:has-text("1–10 of 10 matching")').waitFor();
  assert.equal((await rowIds(page)).length, 10);
  assert.match(page.url(), /\?q=web-page-05/);

  // an unchanged page revalidates as 304 by its ETag (what the browser's cache does on each refresh)
  const check = await api(server, 'GET', '/api/v1/nodes?q=web-page-05&limit=100');
  const etag = check.headers.get('etag');
  assert.ok(etag, 'pages carry an ETag');
  const again = await api(server, 'GET', '/api/v1/nodes?q=web-page-05&limit=100', { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assertClean(page);
  await page.context().close();
});
