// Kaos.io in Firefox (Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core;
// run by tests/browser.rs): two players from two browser contexts see each other, and one
// sees the other move. No page may log an error.
//
//   KAOS_IO_URL=http://127.0.0.1:8080 KAOS_PUPPETEER=…/puppeteer-core/lib/esm/puppeteer/puppeteer-core.js node firefox.mjs
const { default: puppeteer } = await import(process.env.KAOS_PUPPETEER);
const url = process.env.KAOS_IO_URL;
const check = (ok, what) => {
  if (!ok) throw new Error(`FAILED: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await puppeteer.launch({
  browser: 'firefox',
  executablePath: process.env.KAOS_FIREFOX ?? '/usr/bin/firefox-esr',
  headless: true,
});
const problems = [];
async function player(name) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  page.on('console', (m) => m.type() === 'error' && problems.push(`${name}: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`${name}: ${e.message}`));
  await page.setViewport({ width: 1024, height: 768 });
  await page.goto(`${url}/?name=${name}`);
  await page.click('button[type=submit]');
  await page.waitForFunction(() => window.kaosIo.latest?.players.some((p) => p[0] === window.kaosIo.me), { timeout: 20_000 });
  return { context, page };
}

try {
  const a = await player('fox');
  const b = await player('wolf');
  for (const [who, p] of [['fox', a.page], ['wolf', b.page]]) {
    await p.waitForFunction(() => window.kaosIo.latest.players.length >= 2, { timeout: 20_000 });
    check(true, `${who} sees both players in Firefox`);
  }
  const where = () => b.page.evaluate(() => {
    const p = window.kaosIo.latest.players.find((q) => q[1] === 'fox');
    return [p[2], p[3]];
  });
  const [x0, y0] = await where();
  // Toward the middle, so no wall stops it.
  const key = x0 > 1500 ? 'a' : 'd';
  await a.page.keyboard.down(key);
  await b.page.waitForFunction(
    (x, y) => {
      const p = window.kaosIo.latest.players.find((q) => q[1] === 'fox');
      return Math.abs(p[2] - x) > 30 || Math.abs(p[3] - y) > 30;
    },
    { timeout: 20_000 },
    x0,
    y0,
  );
  await a.page.keyboard.up(key);
  const [x1, y1] = await where();
  check(true, `wolf sees fox move in Firefox (${x0},${y0} to ${x1},${y1})`);
  const drawn = await b.page.evaluate(() => document.getElementById('view').width > 0);
  check(drawn, 'the canvas is sized and drawn');
  check(problems.length === 0, `no page logged an error${problems.length ? `: ${problems.join('; ')}` : ''}`);
  console.log('kaos-io firefox: passed');
} catch (e) {
  console.error(e.stack ?? String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
}
