// What every suite shares: the official client pointed at the server under test
// (KAOS_ADDR, set by services/server/tests/e2e.rs; in the browser, set on globalThis by
// browser.mjs), its sockets in the run's format, a prompt exit once everything has reported, unique names, and rejections
// checked by HTTP status.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@heroiclabs/nakama-js';
import { WebSocketAdapterPb } from '@heroiclabs/nakama-js-protobuf';

// node 20 has fetch but no WebSocket global; nakama-js needs one for its socket.
// Browsers have their own (and browser.mjs bundles this without `ws`).
if (!globalThis.WebSocket) globalThis.WebSocket = (await import('ws')).default;

const [host, port] = (globalThis.KAOS_ADDR ?? process.env.KAOS_ADDR).split(':');
// HTTPS and wss:// when the server under test has a certificate (KAOS_TLS=1; under node
// the test CA comes from NODE_EXTRA_CA_CERTS, in Chromium see browser.mjs).
export const useSSL = (globalThis.KAOS_TLS ?? globalThis.process?.env?.KAOS_TLS) === '1';
export const client = new Client('defaultkey', host, port, useSSL, 60000, false);
// Idle keep-alive connections would hold the process open for seconds after the last
// test: leave once everything has reported (under node only).
if (globalThis.process?.versions?.node) after(() => setImmediate(() => process.exit(process.exitCode ?? 0)));

// The socket's wire format for this run: `json` (the default) or `protobuf`
// (KAOS_SOCKET_FORMAT; in the browser, set on globalThis by browser.mjs).
export const format = globalThis.KAOS_SOCKET_FORMAT ?? globalThis.process?.env?.KAOS_SOCKET_FORMAT ?? 'json';
export const createSocket = () =>
  client.createSocket(useSSL, false, format === 'protobuf' ? new WebSocketAdapterPb() : undefined);

export const unique = (prefix) => `${prefix}-${Date.now()}-${Math.floor(Math.random() * 1e9)}`;

export async function rejects(promise, status) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.status, status, `expected HTTP ${status}, got ${e.status}`);
    return e;
  }
  assert.fail(`expected a rejection with ${status}`);
}
