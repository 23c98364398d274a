// kaos-server driven by the official Nakama JavaScript client (@heroiclabs/nakama-js),
// exactly as a game would use it. Started by services/server/tests/e2e.rs, which passes
// the server's address in KAOS_ADDR and registers the `echo` RPC.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, createSocket, rejects, unique } from './client.mjs';

test('device, email and custom authentication create once', async () => {
  const device = unique('device');
  const name = unique('dev').slice(0, 30);
  const first = await client.authenticateDevice(device, true, name);
  assert.equal(first.created, true);
  assert.equal(first.username, name);
  assert.ok(first.user_id);
  const again = await client.authenticateDevice(device, true);
  assert.equal(again.created, false);
  assert.equal(again.user_id, first.user_id);
  await rejects(client.authenticateDevice(unique('nodevice'), false), 404);

  const email = `${unique('p')}@example.com`;
  const e1 = await client.authenticateEmail(email, 'password123', true);
  assert.equal(e1.created, true);
  const e2 = await client.authenticateEmail(email, 'password123', false);
  assert.equal(e2.user_id, e1.user_id);
  await rejects(client.authenticateEmail(email, 'wrong-password', false), 401);
  await rejects(client.authenticateEmail('not-an-email', 'password123', true), 400);

  const custom = unique('custom');
  const c = await client.authenticateCustom(custom, true, undefined, { platform: 'node' });
  assert.equal(c.created, true);
  assert.deepEqual(c.vars, { platform: 'node' });
});

test('sessions refresh and log out', async () => {
  const session = await client.authenticateDevice(unique('device'), true);
  const before = { token: session.token, refresh: session.refresh_token };
  // nakama-js updates the session in place and returns it.
  const refreshed = await client.sessionRefresh(session);
  assert.notEqual(refreshed.token, before.token);
  assert.equal(refreshed.user_id, session.user_id);
  assert.ok((await client.getAccount(refreshed)).user.id);
  await client.sessionLogout(refreshed, refreshed.token, refreshed.refresh_token);
  await rejects(client.getAccount(refreshed), 401);
  await rejects(client.sessionRefresh(refreshed), 401);
});

test('account get and update, users by id and username', async () => {
  const name = unique('acct').slice(0, 30);
  const session = await client.authenticateDevice(unique('device'), true, name);
  await client.updateAccount(session, { display_name: 'Kaos Player', location: 'Lisbon', timezone: 'UTC' });
  const account = await client.getAccount(session);
  assert.equal(account.user.username, name);
  assert.equal(account.user.display_name, 'Kaos Player');
  assert.equal(account.user.location, 'Lisbon');
  assert.equal(account.devices.length, 1);
  const users = await client.getUsers(session, [session.user_id], [name]);
  assert.equal(users.users.length, 1);
  assert.equal(users.users[0].display_name, 'Kaos Player');
  const other = await client.authenticateDevice(unique('device'), true);
  await rejects(client.updateAccount(other, { username: name }), 409);

  // Link a custom id, sign in with it, unlink it; the last credential cannot go.
  const customId = unique('linked');
  await client.linkCustom(session, { id: customId });
  assert.equal((await client.getAccount(session)).custom_id, customId);
  assert.equal((await client.authenticateCustom(customId, false)).user_id, session.user_id);
  await rejects(client.linkCustom(other, { id: customId }), 409);
  await client.unlinkCustom(session, { id: customId });
  await rejects(client.authenticateCustom(customId, false), 404);
  await rejects(client.unlinkDevice(other, { id: account.devices[0].id }), 400);
});

test('storage: write, read, list with cursor, permissions, versions, delete', async () => {
  const alice = await client.authenticateDevice(unique('device'), true);
  const bob = await client.authenticateDevice(unique('device'), true);
  const acks = await client.writeStorageObjects(alice, [
    { collection: 'saves', key: 'slot1', value: { hp: 10 }, permission_read: 1, permission_write: 1 },
    { collection: 'decks', key: 'main', value: { cards: [1, 2, 3] }, permission_read: 2, permission_write: 1 },
  ]);
  assert.equal(acks.acks.length, 2);
  const version = acks.acks[0].version;
  assert.ok(version);

  const mine = await client.readStorageObjects(alice, {
    object_ids: [{ collection: 'saves', key: 'slot1', user_id: alice.user_id }],
  });
  assert.deepEqual(mine.objects[0].value, { hp: 10 });
  // Bob sees the public deck, not the owner-only save.
  const theirs = await client.readStorageObjects(bob, {
    object_ids: [
      { collection: 'saves', key: 'slot1', user_id: alice.user_id },
      { collection: 'decks', key: 'main', user_id: alice.user_id },
    ],
  });
  assert.deepEqual(theirs.objects.map((o) => o.key), ['main']);

  // Versions: create-only on an existing key and a stale version both fail.
  await rejects(client.writeStorageObjects(alice, [{ collection: 'saves', key: 'slot1', value: { hp: 1 }, version: '*' }]), 400);
  await rejects(client.writeStorageObjects(alice, [{ collection: 'saves', key: 'slot1', value: { hp: 1 }, version: 'stale' }]), 400);
  await client.writeStorageObjects(alice, [{ collection: 'saves', key: 'slot1', value: { hp: 9 }, version }]);

  // Listing in pages.
  const items = [];
  for (let i = 0; i < 7; i++) {
    items.push({ collection: 'items', key: `item${i}`, value: { i }, permission_read: 2, permission_write: 1 });
  }
  await client.writeStorageObjects(alice, items);
  const keys = [];
  let cursor;
  do {
    const page = await client.listStorageObjects(bob, 'items', alice.user_id, 3, cursor);
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.cursor;
  } while (cursor);
  assert.deepEqual(keys, items.map((o) => o.key));

  await client.deleteStorageObjects(alice, { object_ids: [{ collection: 'saves', key: 'slot1' }] });
  const gone = await client.readStorageObjects(alice, {
    object_ids: [{ collection: 'saves', key: 'slot1', user_id: alice.user_id }],
  });
  assert.equal(gone.objects.length, 0);
});

test('rpc over REST, with the http key, and over the socket', async () => {
  const session = await client.authenticateDevice(unique('device'), true);
  const reply = await client.rpc(session, 'echo', { hello: 'world', n: 3 });
  assert.deepEqual(reply.payload, { hello: 'world', n: 3 });
  const server = await client.rpcHttpKey('defaulthttpkey', 'echo', { from: 'server' });
  assert.deepEqual(server.payload, { from: 'server' });
  await rejects(client.rpc(session, 'no_such_rpc', {}), 404);

  const socket = createSocket();
  await socket.connect(session, true);
  const viaSocket = await socket.rpc('echo', JSON.stringify({ over: 'socket' }));
  assert.deepEqual(JSON.parse(viaSocket.payload), { over: 'socket' });
  await assert.rejects(socket.rpc('no_such_rpc', '{}'), (e) => e.code === 6);
  socket.disconnect(false);
});
