// Lua modules driven by the official client: RPCs and an authoritative match written
// in Lua (services/server/tests/lua, loaded by the server the e2e test starts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, createSocket, rejects, unique } from './client.mjs';

test('lua rpc over REST, with the http key, unwrapped, over the socket; errors keep their codes', async () => {
  const session = await client.authenticateDevice(unique('device'), true);
  const reply = await client.rpc(session, 'echo_lua', { hello: 'lua' });
  assert.deepEqual(reply.payload, { hello: 'lua' });
  const who = await client.rpc(session, 'whoami_lua', {});
  assert.deepEqual(who.payload, { user_id: session.user_id, mode: 'rpc' });
  const server = await client.rpcHttpKey('defaulthttpkey', 'echo_lua', { from: 'server' });
  assert.deepEqual(server.payload, { from: 'server' });
  // ?unwrap: the body goes to the function as it is, and its answer comes back as it is.
  const [host, port] = [client.host, client.port];
  const scheme = client.useSSL ? 'https' : 'http';
  const raw = await fetch(`${scheme}://${host}:${port}/v2/rpc/echo_lua?unwrap=true&http_key=defaulthttpkey`, {
    method: 'POST', body: 'plain text',
  });
  assert.equal(raw.status, 200);
  assert.equal(await raw.text(), 'plain text');
  // error({"no such item", 5}) is NotFound, as Nakama answers it; a script error is 500.
  const missing = await rejects(client.rpc(session, 'lua_not_found', {}), 404);
  assert.equal((await missing.json()).message, 'no such item');
  await rejects(client.rpc(session, 'lua_broken', {}), 500);

  const socket = createSocket();
  await socket.connect(session, true);
  const viaSocket = await socket.rpc('echo_lua', JSON.stringify({ over: 'socket' }));
  assert.deepEqual(JSON.parse(viaSocket.payload), { over: 'socket' });
  await assert.rejects(socket.rpc('lua_broken', '{}'), (e) => e.code === 7);
  socket.disconnect(false);
});

async function player() {
  const session = await client.authenticateDevice(unique('device'), true, unique('l'));
  const socket = createSocket();
  const data = [];
  socket.onmatchdata = (m) => data.push({ op: m.op_code, text: new TextDecoder().decode(m.data) });
  socket.onmatchmakermatched = (m) => data.push({ matched: m });
  socket.onstreamdata = (m) => data.push({ stream: m.stream, text: m.data });
  socket.onstreampresence = (m) => data.push({ stream: m.stream, joins: m.joins ?? [], leaves: m.leaves ?? [] });
  await socket.connect(session, false);
  return { session, socket, data };
}

async function waitFor(p, pred) {
  const deadline = Date.now() + 60000; // a guard against a hang, not a speed check
  for (;;) {
    const found = p.data.find(pred);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`not received; have ${JSON.stringify(p.data)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('lua authoritative match: listed by label, joined by three, answers and announcements from Lua', async () => {
  const players = [await player(), await player(), await player()];
  const mode = unique('m').slice(0, 30);
  const made = await client.rpc(players[0].session, 'make_lua_arena', { mode });
  const id = made.payload.match_id;
  const listed = await client.listMatches(players[0].session, 10, true, undefined, undefined, undefined,
    `+label.mode:${mode} +label.engine:lua`);
  assert.deepEqual(listed.matches.map((m) => m.match_id), [id]);
  for (const p of players) {
    const match = await p.socket.joinMatch(id);
    assert.equal(match.authoritative, true);
  }
  // Everyone hears every join, from Lua.
  for (const p of players) {
    for (const q of players) await waitFor(p, (d) => d.op === 3 && d.text === `joined:${q.session.username}`);
  }
  for (const [i, p] of players.entries()) await p.socket.sendMatchState(id, 1, `move-${i}`);
  for (const [i, p] of players.entries()) {
    await waitFor(p, (d) => d.op === 2 && d.text === `lua:move-${i}`);
    // Answers go to their sender alone.
    assert.ok(!p.data.some((d) => d.op === 2 && d.text !== `lua:move-${i}`), JSON.stringify(p.data));
  }
  const signal = await client.rpc(players[0].session, 'signal_lua_arena', { match_id: id });
  assert.equal(signal.payload.reply, 'players:3');
  // The handler's join_attempt refuses by metadata.
  const banned = await player();
  await assert.rejects(banned.socket.joinMatch(id, undefined, { banned: 'yes' }));
  for (const p of [...players, banned]) p.socket.disconnect(false);
});

test('a Lua matchmaker_matched function puts a matched group in a Lua match', async () => {
  const [a, b] = [await player(), await player()];
  const region = unique('r').slice(0, 30);
  const query = `+properties.region:${region} +properties.mode:lua`;
  for (const p of [a, b]) await p.socket.addMatchmaker(query, 2, 2, { region, mode: 'lua' });
  const [ma, mb] = [await waitFor(a, (d) => d.matched), await waitFor(b, (d) => d.matched)];
  assert.ok(ma.matched.match_id && !ma.matched.token, JSON.stringify(ma));
  assert.equal(ma.matched.match_id, mb.matched.match_id);
  const listed = await client.listMatches(a.session, 10, true, undefined, undefined, undefined, `+label.mode:${region}`);
  assert.deepEqual(listed.matches.map((m) => m.match_id), [ma.matched.match_id]);
  await a.socket.joinMatch(ma.matched.match_id);
  await waitFor(a, (d) => d.op === 3 && d.text === `joined:${a.session.username}`);
  for (const p of [a, b]) p.socket.disconnect(false);
});

test('a Lua module keeps a lobby on a stream of its own: presences and data reach its members', async () => {
  const [a, b] = [await player(), await player()];
  const subject = unique('lobby');
  const call = async (p, id) => JSON.parse((await p.socket.rpc(id, JSON.stringify({ subject }))).payload);
  assert.deepEqual(await call(a, 'join_lobby'), { joined: true, count: 1 });
  await waitFor(a, (d) => d.text === `welcome ${a.session.username}` && d.stream.subject === subject);
  assert.deepEqual(await call(b, 'join_lobby'), { joined: true, count: 2 });
  const joined = await waitFor(a, (d) => d.joins?.some((p) => p.user_id === b.session.user_id));
  assert.equal(Number(joined.stream.mode), 123);
  for (const p of [a, b]) await waitFor(p, (d) => d.text === `welcome ${b.session.username}`);
  assert.deepEqual(await call(b, 'leave_lobby'), { count: 1, members: 1 });
  await waitFor(a, (d) => d.leaves?.some((p) => p.user_id === b.session.user_id));
  // A session that goes leaves the lobby too.
  b.socket.disconnect(false);
  a.socket.disconnect(false);
});
