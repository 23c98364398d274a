// Kaos.io in headless Chromium (run by tests/browser.rs): two players join from two
// browser contexts, each sees the other, one moves and the other sees it move, the first
// leaves and its score shows on the all-time leaderboard the other sees; a screenshot of
// the game is checked not to be blank, and no page logs an error.
//
//   KAOS_IO_URL=http://127.0.0.1:8080 KAOS_PLAYWRIGHT=…/playwright-core/index.mjs KAOS_SHOT=x.png node browser.mjs
import { writeFileSync } from 'node:fs';
import { notBlank } from '../../../services/server/tests/e2e/screenshot.mjs';

const { chromium } = await import(process.env.KAOS_PLAYWRIGHT);
const url = process.env.KAOS_IO_URL;
const check = (ok, what) => {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await chromium.launch({
  executablePath: process.env.KAOS_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const problems = [];
async function player(name) {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && problems.push(`${name}: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  await page.goto(`${url}/?name=${name}`);
  await page.getByRole('button', { name: 'Play' }).click();
  await page.waitForFunction(() => window.kaosIo.latest?.players.some((p) => p[0] === window.kaosIo.me));
  return { context, page };
}
// Where `name`'s cell is in `page`'s latest snapshot.
const position = (page, name) =>
  page.evaluate((n) => {
    const p = window.kaosIo.latest.players.find((q) => q[1] === n);
    return p && { x: p[2], y: p[3], alive: p[6] };
  }, name);

try {
  const a = await player('alpha');
  const b = await player('beta');
  for (const [who, p] of [['alpha', a.page], ['beta', b.page]]) {
    await p.waitForFunction(() => window.kaosIo.latest.players.length >= 2);
    check(true, `${who} sees both players`);
  }
  // alpha holds D (right), then S (down): beta sees alpha's cell move.
  const before = await position(b.page, 'alpha');
  // Toward the middle, so no wall stops it.
  const keys = [before.x > 1500 ? 'a' : 'd', before.y > 1500 ? 'w' : 's'];
  for (const k of keys) await a.page.keyboard.down(k);
  await b.page.waitForFunction(
    ([x0, y0]) => {
      const p = window.kaosIo.latest.players.find((q) => q[1] === 'alpha');
      return p && (Math.abs(p[2] - x0) > 30 || Math.abs(p[3] - y0) > 30);
    },
    [before.x, before.y],
  );
  for (const k of keys) await a.page.keyboard.up(k);
  const after = await position(b.page, 'alpha');
  check(after.x !== before.x || after.y !== before.y, `beta sees alpha move (${before.x},${before.y} to ${after.x},${after.y})`);
  check((await a.page.evaluate(() => window.kaosIo.sent)) > 0, 'alpha sent inputs');

  // A screenshot of the game is not blank.
  const png = await b.page.screenshot();
  writeFileSync(process.env.KAOS_SHOT, png);
  const share = await notBlank(b.page, png);
  check(share.ok, `the game's screenshot is not blank (${share.colors} colors)`);

  // alpha leaves: its score lands on the all-time board beta's page shows.
  await a.context.close();
  await b.page.waitForFunction(() => window.kaosIo.latest.top.some(([name]) => name === 'alpha'), null, { timeout: 15_000 });
  const top = await b.page.evaluate(() => window.kaosIo.latest.top);
  check(top.find(([n]) => n === 'alpha')[1] >= 10, `alpha's score is on the leaderboard (${JSON.stringify(top)})`);
  check((await b.page.locator('#top li').allInnerTexts()).some((t) => t.startsWith('alpha ')), 'and in beta\'s HUD');
  check(problems.length === 0, `no page logged an error${problems.length ? `: ${problems.join('; ')}` : ''}`);
  console.log('kaos-io browser: passed');
} catch (e) {
  console.error(e.stack ?? String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
