// The console UI in Chromium against a real kaos-server with sample data (started by
// services/server/tests/console_ui.rs): sign in, visit every page with no console error
// or failed request, ban and unban a player whose socket is live, edit a storage object,
// create and revoke an API key, screenshots that are not blank, a readonly user who sees
// no destructive button and gets 403, and a username that is HTML shown as text.
//
//   KAOS_CONSOLE=http://127.0.0.1:7351 KAOS_API=127.0.0.1:7350 KAOS_ADMIN_PASSWORD=… \
//   KAOS_PLAYER_ID=… KAOS_PLAYER_TOKEN=… KAOS_SHOTS=dir node console-ui.mjs
//
// Prints one line per check and `console-ui: passed` at the end; exits non-zero on the
// first failure. Uses Debian's /usr/bin/chromium (KAOS_CHROMIUM to override).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';
import { notBlank } from './screenshot.mjs';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const consoleUrl = env('KAOS_CONSOLE');
const apiAddr = env('KAOS_API');
const adminPassword = env('KAOS_ADMIN_PASSWORD');
const playerId = env('KAOS_PLAYER_ID');
const playerToken = env('KAOS_PLAYER_TOKEN');
const shots = env('KAOS_SHOTS');
const XSS = '<img/src=x/onerror=window.__pwned=1>';

function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
}

const pages = [
  'Dashboard', 'Sessions', 'Rooms', 'Players', 'Storage', 'Leaderboards', 'Tournaments', 'Chat',
  'Notifications', 'Social', 'Matchmaker', 'Lua', 'Accounts', 'API keys', 'My account',
];

const profile = mkdtempSync(join(tmpdir(), 'kaos-console-ui-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.KAOS_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = context.pages()[0] ?? (await context.newPage());
// What went wrong in the page; steps that expect a refusal clear it afterwards.
let problems = [];
page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
page.on('response', (r) => r.status() >= 400 && problems.push(`HTTP ${r.status()}: ${r.url()}`));
page.on('dialog', (d) => d.accept());
const clean = (what) => {
  check(problems.length === 0, `${what} (no console errors or failed requests${problems.length ? `: ${problems.join('; ')}` : ''})`);
};

async function signIn(username, password) {
  await page.goto(`${consoleUrl}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Console' }).waitFor();
}

async function visit(title) {
  await page.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: title, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: title }).waitFor();
  await page.waitForLoadState('networkidle');
  await page.waitForFunction(() => !document.body.innerText.includes('Loading…'), null, { timeout: 10_000 });
}

// Whether a screenshot has content, decoded in a page of its own.
async function shows(png, name) {
  writeFileSync(join(shots, name), png);
  const probe = await context.newPage();
  const { ok } = await notBlank(probe, png);
  await probe.close();
  return ok;
}

try {
  // An expired or absent session shows the sign-in page.
  await page.goto(`${consoleUrl}/`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('alert').waitFor();
  check((await page.getByRole('alert').innerText()).includes('Invalid credentials'), 'a wrong password is refused with a readable message');
  problems = [];

  await signIn('admin', adminPassword);
  for (const title of pages) {
    await visit(title);
    check((await page.getByRole('alert').count()) === 0, `${title}: no error shown`);
  }
  clean('every page as admin');

  // The theme switch: dark, then back.
  const dark = () => page.evaluate(() => document.documentElement.classList.contains('dark'));
  const before = await dark();
  await page.getByRole('button', { name: 'Switch theme' }).click();
  check((await dark()) !== before, 'the theme switch changes the theme');
  await page.getByRole('button', { name: 'Switch theme' }).click();
  check((await dark()) === before, 'and changes it back');

  await visit('Dashboard');
  await page.waitForFunction(() => document.querySelector('[data-stat="Sessions"]')?.textContent !== '—');
  check(await shows(await page.screenshot(), 'dashboard.png'), 'the Dashboard screenshot is not blank');

  // The player whose username is HTML: shown as text, nothing runs.
  await page.goto(`${consoleUrl}/#/players?id=${playerId}`);
  await page.getByRole('heading', { level: 2, name: XSS }).waitFor();
  check(await shows(await page.screenshot({ fullPage: true }), 'players.png'), 'the Players screenshot is not blank');
  check((await page.evaluate(() => window.__pwned)) === undefined, 'a username that is HTML runs nothing');
  check((await page.locator('main img').count()) === 0, 'a username that is HTML makes no element');

  // Ban with a live socket: it closes with 4001; unban.
  const socket = new WebSocket(`ws://${apiAddr}/ws?token=${playerToken}`);
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject); });
  const closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
  await page.getByRole('button', { name: 'Ban', exact: true }).click();
  await page.locator('[data-banned="true"]').waitFor();
  check((await closed) === 4001, 'a ban closes the player\'s live socket with 4001');
  await page.getByRole('button', { name: 'Unban' }).click();
  await page.locator('[data-banned="false"]').waitFor();
  check(true, 'an unban lifts it');
  clean('ban and unban');

  // Edit a storage object, with the version it was loaded at.
  await visit('Storage');
  await page.getByLabel('Collection').selectOption('saves');
  await page.getByLabel('Owner (player id)').fill(playerId);
  await page.getByRole('button', { name: 'Browse' }).click();
  await page.getByRole('button', { name: 'slot1' }).click();
  const editor = page.getByLabel('Value (a JSON object)');
  await editor.waitFor();
  check(JSON.parse(await editor.inputValue()).level === 3, 'the object is shown as its JSON');
  await editor.fill(JSON.stringify({ level: 4, by: 'console' }));
  await page.getByRole('button', { name: /^Save/ }).click();
  await page.waitForFunction(() => document.querySelector('main textarea')?.value.includes('"level": 4'));
  const stored = await fetch(`${consoleUrl}/v2/console/storage/saves/slot1/${playerId}`, {
    headers: { Authorization: `Bearer ${await page.evaluate(() => sessionStorage.getItem('kaos-console-token'))}` },
  }).then((r) => r.json());
  check(stored.value.level === 4 && stored.value.by === 'console', 'the edit is stored');
  clean('a storage edit');

  // An API key: shown once, works, revoked, stops.
  await visit('API keys');
  await page.getByLabel('Name').fill('ci-key');
  await page.getByRole('button', { name: 'Create' }).click();
  const key = (await page.locator('[data-new-key]').innerText()).trim();
  check(key.startsWith('kaoskey_'), 'a new key is shown once');
  const status = (k) => fetch(`${consoleUrl}/v2/console/status`, { headers: { Authorization: `Bearer ${k}` } }).then((r) => r.status);
  check((await status(key)) === 200, 'the key works');
  await page.getByRole('button', { name: 'Done' }).click();
  await page.getByRole('button', { name: 'Revoke ci-key' }).click();
  await page.getByRole('row', { name: /ci-key/ }).getByText('revoked').waitFor();
  check((await status(key)) === 401, 'a revoked key stops at once');
  clean('an API key');

  // A readonly user: no destructive button anywhere, and 403 when they try anyway.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await signIn('viewer', 'viewer-password');
  const nav = page.getByRole('navigation', { name: 'Console' });
  for (const title of ['Accounts', 'API keys']) {
    check((await nav.getByRole('link', { name: title, exact: true }).count()) === 0, `${title} is not offered to readonly`);
  }
  for (const title of pages.filter((t) => t !== 'Accounts' && t !== 'API keys')) {
    await visit(title);
    check((await page.locator('[data-destructive]').count()) === 0, `${title}: no destructive button for readonly`);
  }
  await page.goto(`${consoleUrl}/#/players?id=${playerId}`);
  await page.getByRole('heading', { level: 2, name: XSS }).waitFor();
  check((await page.locator('[data-destructive]').count()) === 0, 'a player\'s page has no destructive button for readonly');
  check((await page.getByRole('button', { name: 'Edit' }).count()) === 0, 'nor an Edit button');
  clean('every page as readonly');
  const tried = await page.evaluate(async (id) => {
    const token = sessionStorage.getItem('kaos-console-token');
    const r = await fetch(`/v2/console/account/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${token}` } });
    return { status: r.status, body: await r.json() };
  }, playerId);
  check(tried.status === 403 && tried.body.message.includes('readonly'), 'a readonly user who tries anyway gets 403 saying why');
  problems = [];

  // A session that ends sends the user back to the sign-in page.
  await page.evaluate(() => sessionStorage.setItem('kaos-console-token', 'eyJhbGciOiJIUzI1NiJ9.eyJ1c24iOiJ2aWV3ZXIiLCJyb2wiOiJyZWFkb25seSIsImV4cCI6NDEwMjQ0NDgwMH0.forged'));
  await page.reload();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  check((await page.getByRole('status').innerText()).includes('session has ended'), 'an invalid session returns to Login, saying so');
  console.log('console-ui: passed');
} catch (e) {
  console.error(e.stack ?? String(e));
  process.exitCode = 1;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
