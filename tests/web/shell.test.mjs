// The node page's Terminal panel: xterm.js on the client WebSocket, the
// reference agent (tests/agent/refagent.c, a real PTY) on the other side.
// Type a command, see its output; a narrower window reaches the PTY; the exit
// is shown; the CSP holds.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { startServer, enrollNode, launchBrowser, newPage, assertClean, loginApi, shots, skipUnless } from './lib.mjs';

const REFAGENT = process.env.HC_REFAGENT || path.join(path.dirname(process.env.HC_BINARY), 'tests', 'refagent');
let server;
let browser;
let agent;

before(async () => {
  server = await startServer({ extraYaml: 'shell:\n  connect_timeout: 5s' });
  browser = await launchBrowser();
});

after(async () => {
  if (agent) agent.kill('SIGTERM');
  if (browser) await browser.close();
  if (server) {
    const r = await server.stop();
    assert.deepEqual(r, { code: 0, signal: null }, 'server exit; its log:\n' + server.log().slice(-4000));
    server.cleanup();
  }
});

// The terminal's visible text, row by row.
async function screenText(page) {
  return page.locator('#term-box .xterm-rows').innerText();
}

async function waitForText(page, needle, ms = 15000) {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = await screenText(page).catch(() => '');
    if (last.includes(needle)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`"${needle}" did not show in the terminal; it shows:\n${last}`);
}

test('terminal panel: type a command, see its output and the exit', async (t) => {
  if (await skipUnless(t, server, [['GET', '/api/v1/nodes/node-probe0000000000/shell', 'shell: branch shell']])) return;
  if (!existsSync(REFAGENT)) {
    t.skip(`no reference agent at ${REFAGENT} (build the test build: ./dev test)`);
    return;
  }
  const n = await enrollNode(server, 'web-shell', { approve: true });
  agent = spawn(REFAGENT, ['--server', server.url, '--token', n.token, '--wait', '10'], { stdio: 'ignore',
    env: { ...process.env, SHELL: '/bin/sh', PS1: 'web$ ' } });
  const page = await newPage(browser, server);
  await loginApi(page, server);
  await page.goto('/nodes/' + n.id);
  await page.click('#term-open');
  await page.locator('#term-status', { hasText: 'Connected' }).waitFor();
  await page.click('#term-box');
  await page.keyboard.type('echo web-$((6*7))');
  await page.keyboard.press('Enter');
  const text = await waitForText(page, 'web-42\n');
  assert.match(text, /echo web-\$\(\(6\*7\)\)/); // the echo of what was typed
  // the window narrows: the terminal takes fewer columns and the PTY hears of it
  await page.keyboard.type('stty size');
  await page.keyboard.press('Enter');
  const wide = Number((await waitForText(page, '\n24 ')).match(/\n24 (\d+)/)[1]);
  await page.setViewportSize({ width: 800, height: 800 });
  await page.keyboard.type('clear; stty size');
  await page.keyboard.press('Enter');
  let narrow = wide;
  for (let i = 0; i < 100 && narrow === wide; i++) {
    const m = (await screenText(page)).match(/(^|\n)24 (\d+)/); // after `clear`: the first line
    if (m) narrow = Number(m[2]);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(narrow < wide, `columns after narrowing the window: ${narrow}, before: ${wide}`);
  await page.keyboard.type('exit 5');
  await page.keyboard.press('Enter');
  await page.locator('#term-status', { hasText: 'the shell exited with 5' }).waitFor();
  // the status line and the terminal's own line come from the same exit
  // message, but xterm.js renders its line a frame later: wait for it
  assert.match(await waitForText(page, '[the shell exited with 5]'), /\[the shell exited with 5\]/);
  await shots(page, 'node-terminal');
  // xterm.js 5.5 also writes its theme into <style> elements it creates; the
  // CSP (no 'unsafe-inline') refuses those, and web/static/terminal.css
  // carries the same rules, so the only console errors allowed are those refusals
  assertClean(page, [/Applying inline style violates the following Content Security Policy directive .style-src .self../]);
});
