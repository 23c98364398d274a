// Friends and groups driven by the official Nakama JavaScript client, several users at
// once. Started by services/server/tests/e2e.rs with the other suites.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, createSocket, rejects, unique } from './client.mjs';

const account = () => client.authenticateDevice(unique('device'), true, unique('s'));
const waitFor = async (check) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(check(), 'timed out waiting');
};

test('friend invites, acceptance, blocks and deletes', async () => {
  const [a, b, c] = await Promise.all([account(), account(), account()]);
  const socket = createSocket();
  const heard = [];
  socket.onnotification = (n) => heard.push(n);
  await socket.connect(b, false);

  assert.equal(await client.addFriends(a, [b.user_id], [c.username]), true);
  await waitFor(() => heard.length === 1);
  assert.equal(heard[0].code, -2);
  assert.equal(heard[0].sender_id, a.user_id);
  const sent = await client.listFriends(a);
  assert.deepEqual(sent.friends.map((f) => [f.user.id, f.state]).sort(), [[b.user_id, 1], [c.user_id, 1]].sort());
  assert.equal((await client.listFriends(b)).friends[0].state, 2);

  await client.addFriends(b, [a.user_id]);
  const mutual = await client.listFriends(a, 0);
  assert.deepEqual(mutual.friends.map((f) => f.user.username), [b.username]);
  const page = await client.listFriends(a, undefined, 1);
  assert.equal(page.friends.length, 1);
  assert.ok(page.cursor);
  assert.equal((await client.listFriends(a, undefined, 1, page.cursor)).friends.length, 1);

  // C is a friend of B's friend A once they are mutual.
  await client.addFriends(c, [a.user_id]);
  const fof = await client.listFriendsOfFriends(b);
  assert.deepEqual(fof.friends_of_friends.map((f) => [f.referrer, f.user.id]), [[a.user_id, c.user_id]]);

  assert.equal(await client.blockFriends(c, [a.user_id]), true);
  assert.deepEqual((await client.listFriends(c)).friends.map((f) => f.state), [3]);
  assert.deepEqual((await client.listFriends(a)).friends.map((f) => f.user.id), [b.user_id]);
  await rejects(client.addFriends(a, [c.user_id]), 400);
  await rejects(client.addFriends(a, [a.user_id]), 400);

  assert.equal(await client.deleteFriends(a, [b.user_id]), true);
  assert.deepEqual((await client.listFriends(b)).friends, []);
  socket.disconnect(false);
});

test('groups: requests, roles, kicks and leaving', async () => {
  const [owner, asker, other] = await Promise.all([account(), account(), account()]);
  const name = unique('Guild');
  const group = await client.createGroup(owner, { name, description: 'a guild', lang_tag: 'en', open: false });
  assert.equal(group.name, name);
  assert.equal(group.creator_id, owner.user_id);
  assert.equal(group.edge_count, 1);
  assert.equal(group.max_count, 100);
  assert.deepEqual(group.metadata, {});

  assert.equal(await client.joinGroup(asker, group.id), true);
  let users = await client.listGroupUsers(owner, group.id);
  assert.deepEqual(users.group_users.map((u) => [u.user.id, u.state]), [[owner.user_id, 0], [asker.user_id, 3]]);
  // This client method answers the raw (empty) response, not a boolean.
  assert.deepEqual(await client.promoteGroupUsers(owner, group.id, [asker.user_id]), {});
  users = await client.listGroupUsers(owner, group.id, 2);
  assert.deepEqual(users.group_users.map((u) => u.user.id), [asker.user_id]);

  // A member cannot kick; the superadmin can; the last superadmin cannot leave.
  await client.addGroupUsers(owner, group.id, [other.user_id]);
  await rejects(client.kickGroupUsers(asker, group.id, [other.user_id]), 404);
  assert.equal(await client.kickGroupUsers(owner, group.id, [other.user_id]), true);
  await rejects(client.leaveGroup(owner, group.id), 400);
  assert.equal(await client.leaveGroup(asker, group.id), true);
  users = await client.listGroupUsers(other, group.id);
  assert.deepEqual(users.group_users.map((u) => u.user.id), [owner.user_id]);

  const mine = await client.listUserGroups(owner, owner.user_id);
  assert.deepEqual(mine.user_groups.map((g) => [g.group.id, g.state]), [[group.id, 0]]);
  const found = await client.listGroups(other, `${name.slice(0, 12)}%`, undefined, 10);
  assert.ok(found.groups.some((g) => g.id === group.id && g.edge_count === 1));
  assert.equal(await client.updateGroup(owner, group.id, { description: 'renamed' }), true);
  assert.equal(await client.deleteGroup(owner, group.id), true);
  await rejects(client.joinGroup(asker, group.id), 404);
});

test('group chat is for members only', async () => {
  const [owner, outsider] = await Promise.all([account(), account()]);
  const group = await client.createGroup(owner, { name: unique('Chat'), open: true });
  const socket = createSocket();
  await socket.connect(outsider, false);
  await assert.rejects(socket.joinChat(group.id, 3, true, false), (e) => e.code === 3);
  await client.joinGroup(outsider, group.id);
  const channel = await socket.joinChat(group.id, 3, true, false);
  assert.equal(channel.id, `3.${group.id}..`);
  const ack = await socket.writeChatMessage(channel.id, { hello: 'guild' });
  assert.equal(ack.channel_id, channel.id);
  socket.disconnect(false);
});
