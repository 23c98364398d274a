// The realtime services driven by the official Nakama JavaScript client: chat, status,
// notifications, relayed and authoritative matches, the matchmaker and parties, several
// users at once. Started by services/server/tests/e2e.rs, which registers the `arena`
// match handler and the `make_arena` and `notify_me` RPCs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, createSocket, unique } from './client.mjs';

// A user with an open socket; `events[name]` collects what the socket pushed.
async function player(status = false) {
  const session = await client.authenticateDevice(unique('device'), true, unique('p'));
  const socket = createSocket();
  const events = {};
  for (const name of ['onchannelmessage', 'onchannelpresence', 'onstatuspresence', 'onnotification', 'onmatchdata',
    'onmatchpresence', 'onmatchmakermatched', 'onpartypresence', 'onpartydata', 'onpartyclose', 'onpartyleader']) {
    events[name] = [];
    socket[name] = (e) => events[name].push(e);
  }
  await socket.connect(session, status);
  return { session, socket, events };
}

// Waits until `events[name]` holds `count` events (or fails after 60 s: a guard against
// a hang, not a speed check; events arrive in milliseconds).
async function waitFor(p, name, count = 1) {
  const deadline = Date.now() + 60000;
  while (p.events[name].length < count) {
    if (Date.now() > deadline) assert.fail(`no ${name} (have ${p.events[name].length})`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return p.events[name][count - 1];
}

test('chat: a room, presence, messages to every member, history', async () => {
  const [a, b] = [await player(), await player()];
  const room = unique('room').slice(0, 40);
  const ca = await a.socket.joinChat(room, 1, true, false);
  const cb = await b.socket.joinChat(room, 1, true, false);
  assert.equal(cb.id, ca.id);
  assert.deepEqual(cb.presences.map((p) => p.user_id), [a.session.user_id]);
  // As Nakama: each joiner hears of its own join too, then of the others'.
  assert.equal((await waitFor(a, 'onchannelpresence')).joins[0].user_id, a.session.user_id);
  assert.equal((await waitFor(b, 'onchannelpresence')).joins[0].user_id, b.session.user_id);
  const joined = await waitFor(a, 'onchannelpresence', 2);
  assert.equal(joined.joins[0].user_id, b.session.user_id);
  const ack = await a.socket.writeChatMessage(ca.id, { text: 'hello' });
  assert.ok(ack.message_id);
  for (const p of [a, b]) {
    const m = await waitFor(p, 'onchannelmessage');
    assert.deepEqual(m.content, { text: 'hello' });
    assert.equal(m.sender_id, a.session.user_id);
  }
  const updated = await a.socket.updateChatMessage(ca.id, ack.message_id, { text: 'edited' });
  assert.equal(updated.message_id, ack.message_id);
  const history = await client.listChannelMessages(b.session, ca.id, 10, true);
  assert.deepEqual(history.messages.map((m) => m.content), [{ text: 'edited' }]);
  await b.socket.leaveChat(cb.id);
  const left = await waitFor(a, 'onchannelpresence', 3);
  assert.equal(left.leaves[0].user_id, b.session.user_id);
  a.socket.disconnect(false);
  b.socket.disconnect(false);
});

test('status: followers see a user come online and change status', async () => {
  const a = await player();
  const bSession = await client.authenticateDevice(unique('device'), true);
  const followed = await a.socket.followUsers([bSession.user_id]);
  // Nobody online yet: JSON leaves the empty list out (protojson), protobuf decodes it as [].
  assert.deepEqual(followed.presences ?? [], []);
  const bSocket = createSocket();
  await bSocket.connect(bSession, true);
  const online = await waitFor(a, 'onstatuspresence');
  assert.equal(online.joins[0].user_id, bSession.user_id);
  await bSocket.updateStatus('questing');
  const update = await waitFor(a, 'onstatuspresence', 2);
  assert.equal(update.joins[0].status, 'questing');
  bSocket.disconnect(false);
  const offline = await waitFor(a, 'onstatuspresence', 3);
  assert.equal(offline.leaves[0].user_id, bSession.user_id);
  a.socket.disconnect(false);
});

test('notifications: delivered live and listed with a cacheable cursor', async () => {
  const a = await player();
  await client.rpc(a.session, 'notify_me', { subject: 'first' });
  const live = await waitFor(a, 'onnotification');
  assert.equal(live.subject, 'first');
  assert.deepEqual(live.content, { subject: 'first' });
  const listed = await client.listNotifications(a.session, 10);
  assert.deepEqual(listed.notifications.map((n) => n.subject), ['first']);
  await client.rpc(a.session, 'notify_me', { subject: 'second' });
  const newer = await client.listNotifications(a.session, 10, listed.cacheable_cursor);
  assert.deepEqual(newer.notifications.map((n) => n.subject), ['second']);
  await client.deleteNotifications(a.session, [listed.notifications[0].id]);
  const left = await client.listNotifications(a.session, 10);
  assert.deepEqual(left.notifications.map((n) => n.subject), ['second']);
  a.socket.disconnect(false);
});

test('relayed match: create, join, state to the others', async () => {
  const [a, b] = [await player(), await player()];
  const match = await a.socket.createMatch();
  assert.equal(match.authoritative, false);
  const joined = await b.socket.joinMatch(match.match_id);
  assert.deepEqual(joined.presences.map((p) => p.user_id), [a.session.user_id]);
  assert.equal((await waitFor(a, 'onmatchpresence')).joins[0].user_id, a.session.user_id);
  assert.equal((await waitFor(b, 'onmatchpresence')).joins[0].user_id, b.session.user_id);
  assert.equal((await waitFor(a, 'onmatchpresence', 2)).joins[0].user_id, b.session.user_id);
  // Joining again lists everyone, the caller included.
  const again = await b.socket.joinMatch(match.match_id);
  assert.deepEqual(again.presences.map((p) => p.user_id).sort(), [a.session.user_id, b.session.user_id].sort());
  await b.socket.sendMatchState(match.match_id, 7, new Uint8Array([1, 2, 3]));
  const data = await waitFor(a, 'onmatchdata');
  assert.equal(data.op_code, 7);
  assert.deepEqual([...data.data], [1, 2, 3]);
  assert.equal(data.presence.user_id, b.session.user_id);
  await b.socket.leaveMatch(match.match_id);
  const left = await waitFor(a, 'onmatchpresence', 3);
  assert.equal(left.leaves[0].user_id, b.session.user_id);
  a.socket.disconnect(false);
  b.socket.disconnect(false);
});

test('authoritative match: listed by label query, the handler answers inputs', async () => {
  const a = await player();
  const made = await client.rpc(a.session, 'make_arena', { mode: 'e2e' });
  const id = made.payload.match_id;
  const listed = await client.listMatches(a.session, 10, true, undefined, undefined, undefined, '+label.mode:e2e');
  assert.ok(listed.matches.some((m) => m.match_id === id && m.authoritative), JSON.stringify(listed));
  const match = await a.socket.joinMatch(id);
  assert.equal(match.authoritative, true);
  await a.socket.sendMatchState(id, 1, 'ping');
  const echo = await waitFor(a, 'onmatchdata');
  assert.equal(echo.op_code, 2);
  assert.equal(new TextDecoder().decode(echo.data), 'pong:ping');
  a.socket.disconnect(false);
});

test('matchmaker: two players matched, the token joins them', async () => {
  const [a, b] = [await player(), await player()];
  const region = unique('r');
  const query = `+properties.region:${region}`;
  const ta = await a.socket.addMatchmaker(query, 2, 2, { region }, { skill: 10 });
  await b.socket.addMatchmaker(query, 2, 2, { region }, { skill: 12 });
  const ma = await waitFor(a, 'onmatchmakermatched');
  const mb = await waitFor(b, 'onmatchmakermatched');
  assert.equal(ma.ticket, ta.ticket);
  assert.equal(ma.users.length, 2);
  assert.equal(ma.token, mb.token);
  const ja = await a.socket.joinMatch(undefined, ma.token);
  const jb = await b.socket.joinMatch(undefined, mb.token);
  assert.equal(ja.match_id, jb.match_id);
  a.socket.disconnect(false);
  b.socket.disconnect(false);
});

test('parties: create, join, data, close', async () => {
  const [a, b] = [await player(), await player()];
  const party = await a.socket.createParty(true, 4);
  assert.equal(party.leader.user_id, a.session.user_id);
  assert.equal((await waitFor(a, 'onpartypresence')).joins[0].user_id, a.session.user_id);
  await b.socket.joinParty(party.party_id);
  assert.equal((await waitFor(b, 'onpartypresence')).joins[0].user_id, b.session.user_id);
  const joined = await waitFor(a, 'onpartypresence', 2);
  assert.equal(joined.joins[0].user_id, b.session.user_id);
  await b.socket.sendPartyData(party.party_id, 3, 'hi');
  const data = await waitFor(a, 'onpartydata');
  assert.equal(data.op_code, 3);
  assert.equal(new TextDecoder().decode(data.data), 'hi');
  await a.socket.closeParty(party.party_id);
  const closed = await waitFor(b, 'onpartyclose');
  assert.equal(closed.party_id, party.party_id);
  a.socket.disconnect(false);
  b.socket.disconnect(false);
});
