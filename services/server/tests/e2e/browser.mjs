// The same nakama-js suites, run inside headless Chromium instead of node: each suite is
// bundled with the official client by esbuild (node:test and node:assert/strict swapped
// for the shims below, `ws` left out: the page has its own WebSocket) and loaded into a
// page whose origin is `null`, so every request is a cross-origin one (CORS preflights)
// and the socket is the browser's. Tests run one after another, as under node.
//
//   KAOS_ADDR=127.0.0.1:7350 [KAOS_SOCKET_FORMAT=protobuf] node browser.mjs e2e.test.mjs realtime.test.mjs ...
//
// With KAOS_TLS=1 the suites use https:// and wss://; KAOS_TLS_CERT names the server's
// certificate (PEM), which Chromium is told to trust by its public key
// (--ignore-certificate-errors-spki-list), as a browser trusts a deployment's CA.
//
// Prints each test's result, then exactly one line `browser: N passed, N failed`; exits
// non-zero if any test failed. Console errors of the page (CORS refusals among them) go to
// stderr. Uses Debian's /usr/bin/chromium (KAOS_CHROMIUM to override); never downloads one.
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const suites = process.argv.slice(2);
const addr = process.env.KAOS_ADDR;
const socketFormat = process.env.KAOS_SOCKET_FORMAT ?? 'json';
const tls = process.env.KAOS_TLS === '1' ? '1' : '0';
// The SHA-256 of the certificate's SubjectPublicKeyInfo, base64: what Chromium pins.
const spki = process.env.KAOS_TLS_CERT
  ? createHash('sha256')
      .update(new X509Certificate(readFileSync(process.env.KAOS_TLS_CERT)).publicKey.export({ type: 'spki', format: 'der' }))
      .digest('base64')
  : null;
if (!addr || suites.length === 0) {
  console.error('usage: KAOS_ADDR=host:port node browser.mjs <suite.test.mjs>...');
  process.exit(2);
}
const TEST_TIMEOUT_MS = 180_000; // a guard against a hang, above waitFor's 60 s

// In the page, `node:test` only collects; this script runs the tests one by one.
const shims = {
  'node:test': `
    const tests = (globalThis.__kaosTests = []);
    const afters = (globalThis.__kaosAfters = []);
    export function test(name, fn) { tests.push({ name, fn }); }
    export function after(fn) { afters.push(fn); }
    export default test;`,
  'node:assert/strict': `import assert from 'assert'; export default assert.strict;`,
};
const shimPlugin = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^node:(test|assert\/strict)$/ }, (a) => ({ path: a.path, namespace: 'shim' }));
    b.onLoad({ filter: /.*/, namespace: 'shim' }, (a) => ({ contents: shims[a.path], resolveDir: here, loader: 'js' }));
  },
};

async function bundle(suite) {
  const out = await build({
    entryPoints: [suite],
    bundle: true,
    write: false,
    format: 'esm', // client.mjs awaits at top level
    platform: 'browser',
    target: 'es2022',
    external: ['ws'], // only imported when there is no WebSocket global, i.e. never here
    define: { 'process.env.NODE_DEBUG': 'false' }, // the `util` behind `assert` reads it
    // Parts of the `assert` polyfill read `process` (no `versions.node`: not node).
    banner: { js: 'globalThis.process ??= { env: {}, versions: {} };' },
    plugins: [shimPlugin],
    logLevel: 'silent',
  });
  return out.outputFiles[0].text;
}

const profile = mkdtempSync(join(tmpdir(), 'kaos-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.KAOS_CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    ...(spki ? [`--ignore-certificate-errors-spki-list=${spki}`] : []),
  ],
});

let passed = 0;
let failed = 0;
const report = (ok, label, ms, detail) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok' : 'not ok'} - ${label} (${ms} ms)`);
  if (detail) console.log(detail.replace(/^/gm, '    '));
};
const withTimeout = (promise, ms) => {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
};

// Responses by the protocol Chromium used (h2 over TLS, http/1.1 in plain), from the
// DevTools protocol; printed at the end as `browser http: h2=N ...`.
const protocols = {};
try {
  for (const suite of suites) {
    const name = basename(suite);
    let code;
    try {
      code = await bundle(suite);
    } catch (e) {
      report(false, `${name}: bundle`, 0, String(e.message ?? e));
      continue;
    }
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.responseReceived', (e) => {
      const p = e.response.protocol ?? 'unknown';
      protocols[p] = (protocols[p] ?? 0) + 1;
    });
    let corsErrors = []; // of the running test, repeated under it if it fails
    page.on('console', (m) => {
      if (m.type() !== 'error' && m.type() !== 'warning') return;
      console.error(`[${name} console.${m.type()}] ${m.text()}`);
      if (/CORS|Access-Control/i.test(m.text())) corsErrors.push(m.text());
    });
    page.on('pageerror', (e) => console.error(`[${name} pageerror] ${e.stack ?? e}`));
    page.on('requestfailed', (r) => console.error(`[${name} requestfailed] ${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
    try {
      // The new page's about:blank has an opaque origin: fetches carry `Origin: null` and
      // are preflighted, so the server's CORS answers matter. (A data: URL page would be
      // opaque too, but Chromium refuses its requests to loopback outright: Private
      // Network Access, not CORS.) Load the bundle as a module, since it awaits at top
      // level, and learn its tests.
      const { origin, names } = await page.evaluate(async ([src, addr, format, tls]) => {
        globalThis.KAOS_ADDR = addr;
        globalThis.KAOS_SOCKET_FORMAT = format;
        globalThis.KAOS_TLS = tls;
        const url = URL.createObjectURL(new Blob([src], { type: 'text/javascript' }));
        try {
          await import(url);
        } finally {
          URL.revokeObjectURL(url);
        }
        return { origin: globalThis.origin, names: globalThis.__kaosTests.map((t) => t.name) };
      }, [code, addr, socketFormat, tls]);
      console.log(
        `# ${name}: ${names.length} tests in Chromium ${context.browser()?.version() ?? ''}, page origin ${origin}, ${socketFormat} sockets${tls === '1' ? ' over TLS' : ''}`,
      );
      for (let i = 0; i < names.length; i++) {
        const start = Date.now();
        corsErrors = [];
        let error;
        try {
          error = await withTimeout(
            page.evaluate(async (i) => {
              try {
                await globalThis.__kaosTests[i].fn({ name: globalThis.__kaosTests[i].name });
                return null;
              } catch (e) {
                // nakama-js rejects with the fetch Response itself.
                if (e instanceof Response) return `HTTP ${e.status} from ${e.url}: ${await e.text().catch(() => '')}`;
                return String(e?.stack ?? e);
              }
            }, i),
            TEST_TIMEOUT_MS,
          );
        } catch (e) {
          error = String(e.message ?? e);
        }
        if (error && corsErrors.length) error += `\nthe page logged CORS errors:\n${corsErrors.join('\n')}`;
        report(!error, `${name} > ${names[i]}`, Date.now() - start, error);
        if (error?.startsWith('timed out')) {
          for (const rest of names.slice(i + 1)) report(false, `${name} > ${rest}`, 0, 'not run: an earlier test timed out');
          break;
        }
      }
      await page.evaluate(async () => {
        for (const fn of globalThis.__kaosAfters) await fn();
      });
    } catch (e) {
      report(false, `${name}: load or after hooks`, 0, String(e.message ?? e));
    } finally {
      await page.close().catch(() => {});
    }
  }
} finally {
  await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

console.log(`browser http: ${Object.entries(protocols).map(([p, n]) => `${p}=${n}`).sort().join(' ')}`);
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
