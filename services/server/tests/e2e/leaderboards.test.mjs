// Leaderboards and tournaments driven by the official Nakama JavaScript client, several
// users at once. Started by services/server/tests/e2e.rs with the other suites, which
// creates the boards: `e2e_weekly` (descending, best), `e2e_server_only` (authoritative),
// `e2e_increment` (increment), the tournament `e2e_cup` (category 5, open for an hour,
// 100 players, 3 attempts each, joining required) and the `submit_server_only` RPC.
// The tests of a file run one after another; each board's records build on the tests
// before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, rejects, unique } from './client.mjs';

const account = () => client.authenticateDevice(unique('device'), true, unique('lb'));
const accounts = (n) => Promise.all(Array.from({ length: n }, account));

const scores = (records) => records.map((r) => r.score);
const ranks = (records) => records.map((r) => r.rank);

test('leaderboard records rank in order, page through once and centre on an owner', async () => {
  const users = await accounts(5);
  const points = [50, 90, 70, 10, 30];
  for (const [i, s] of users.entries()) {
    // The typings say string; a number works as well.
    const score = i % 2 ? String(points[i]) : points[i];
    const written = await client.writeLeaderboardRecord(s, 'e2e_weekly', {
      score,
      subscore: '1',
      metadata: { n: i, car: { colour: 'red' }, tags: ['a', 'b'] },
    });
    assert.equal(written.leaderboard_id, 'e2e_weekly');
    assert.equal(written.owner_id, s.user_id);
    assert.equal(written.username, s.username);
    assert.equal(written.score, points[i]);
    assert.equal(written.subscore, 1);
    assert.equal(written.num_score, 1);
    assert.deepEqual(written.metadata, { n: i, car: { colour: 'red' }, tags: ['a', 'b'] });
  }
  const [me] = users; // 50: third
  const top = await client.listLeaderboardRecords(me, 'e2e_weekly', undefined, 10);
  assert.deepEqual(scores(top.records), [90, 70, 50, 30, 10]);
  assert.deepEqual(ranks(top.records), [1, 2, 3, 4, 5]);
  assert.equal(top.rank_count, 5);
  assert.equal(top.next_cursor, undefined);
  assert.deepEqual(top.owner_records, []);
  assert.deepEqual(top.records.map((r) => r.metadata.n), [1, 2, 0, 4, 3]);
  assert.deepEqual(top.records.map((r) => r.username), [1, 2, 0, 4, 3].map((i) => users[i].username));

  // Owner records alone (no limit), then with a page.
  const mine = await client.listLeaderboardRecords(me, 'e2e_weekly', [me.user_id, users[3].user_id]);
  assert.deepEqual(mine.owner_records.map((r) => [r.owner_id, r.score, r.rank]), [
    [me.user_id, 50, 3],
    [users[3].user_id, 10, 5],
  ]);
  assert.deepEqual(mine.owner_records[0].metadata, { n: 0, car: { colour: 'red' }, tags: ['a', 'b'] });
  const both = await client.listLeaderboardRecords(me, 'e2e_weekly', [me.user_id], 2);
  assert.deepEqual(scores(both.records), [90, 70]);
  assert.deepEqual(both.owner_records.map((r) => [r.owner_id, r.rank]), [[me.user_id, 3]]);

  // Pages of two: every record exactly once, in order; back from the second page.
  const seen = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listLeaderboardRecords(me, 'e2e_weekly', undefined, 2, cursor);
    assert.ok(page.records.length > 0 && page.records.length <= 2);
    seen.push(...page.records.map((r) => [r.owner_id, r.rank]));
    if (pages === 1) {
      assert.ok(page.prev_cursor);
      const back = await client.listLeaderboardRecords(me, 'e2e_weekly', undefined, 2, page.prev_cursor);
      assert.deepEqual(scores(back.records), [90, 70]);
    }
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen, top.records.map((r) => [r.owner_id, r.rank]));
  assert.equal(new Set(seen.map(([o]) => o)).size, 5);

  // Around an owner: them in the middle, or as near as the ends allow.
  const around = await client.listLeaderboardRecordsAroundOwner(me, 'e2e_weekly', me.user_id, 3);
  assert.deepEqual(scores(around.records), [70, 50, 30]);
  assert.equal(around.records[1].owner_id, me.user_id);
  assert.equal(around.rank_count, 5);
  const atTop = await client.listLeaderboardRecordsAroundOwner(me, 'e2e_weekly', users[1].user_id, 3);
  assert.deepEqual(ranks(atTop.records), [1, 2, 3]);
  const atBottom = await client.listLeaderboardRecordsAroundOwner(me, 'e2e_weekly', users[3].user_id, 3);
  assert.deepEqual(ranks(atBottom.records), [3, 4, 5]);
  const stranger = await account();
  const nobody = await client.listLeaderboardRecordsAroundOwner(me, 'e2e_weekly', stranger.user_id, 3);
  assert.deepEqual(nobody.records, []);

  await rejects(client.listLeaderboardRecords(me, 'e2e_no_such_board'), 404);
  await rejects(client.writeLeaderboardRecord(me, 'e2e_no_such_board', { score: '1' }), 404);
});

test('the best operator keeps the best score; metadata round-trips', async () => {
  const s = await account();
  const first = await client.writeLeaderboardRecord(s, 'e2e_weekly', { score: '60', metadata: { lap: 1 } });
  assert.deepEqual([first.score, first.num_score], [60, 1]);
  const worse = await client.writeLeaderboardRecord(s, 'e2e_weekly', { score: '20' });
  assert.deepEqual([worse.score, worse.num_score], [60, 2]);
  const better = await client.writeLeaderboardRecord(s, 'e2e_weekly', { score: '80', subscore: '3', metadata: { lap: 3 } });
  assert.deepEqual([better.score, better.subscore, better.num_score], [80, 3, 3]);
  assert.deepEqual(better.metadata, { lap: 3 });
  const listed = await client.listLeaderboardRecords(s, 'e2e_weekly', [s.user_id]);
  assert.deepEqual(listed.owner_records.map((r) => [r.score, r.subscore, r.num_score, r.rank]), [[80, 3, 3, 2]]);
  assert.deepEqual(listed.owner_records[0].metadata, { lap: 3 });
  assert.equal(listed.rank_count, 6);
});

test('increment adds up and deleting removes the record', async () => {
  const [s, other] = await accounts(2);
  await client.writeLeaderboardRecord(s, 'e2e_increment', { score: '5', subscore: '1' });
  const sum = await client.writeLeaderboardRecord(s, 'e2e_increment', { score: '7', subscore: '2' });
  assert.deepEqual([sum.score, sum.subscore, sum.num_score], [12, 3, 2]);
  await client.writeLeaderboardRecord(other, 'e2e_increment', { score: '4' });
  let list = await client.listLeaderboardRecords(s, 'e2e_increment', undefined, 10);
  assert.deepEqual(list.records.map((r) => [r.owner_id, r.score]), [[s.user_id, 12], [other.user_id, 4]]);

  // nakama-js 2.8.0 has no Client.deleteLeaderboardRecord; its generated API client does.
  await client.apiClient.deleteLeaderboardRecord(s.token, 'e2e_increment');
  list = await client.listLeaderboardRecords(s, 'e2e_increment', [s.user_id], 10);
  assert.deepEqual(list.owner_records, []);
  assert.deepEqual(list.records.map((r) => [r.owner_id, r.rank]), [[other.user_id, 1]]);
  const fresh = await client.writeLeaderboardRecord(s, 'e2e_increment', { score: '3' });
  assert.deepEqual([fresh.score, fresh.num_score], [3, 1]);
});

test('an authoritative board refuses clients; server code writes to it', async () => {
  const s = await account();
  await rejects(client.writeLeaderboardRecord(s, 'e2e_server_only', { score: '1' }), 403);
  const reply = await client.rpc(s, 'submit_server_only', { score: 77 });
  assert.deepEqual(reply.payload, { score: 77, rank: 1 });
  const list = await client.listLeaderboardRecords(s, 'e2e_server_only', [s.user_id], 10);
  assert.deepEqual(list.records.map((r) => [r.owner_id, r.username, r.score]), [[s.user_id, s.username, 77]]);
  assert.equal(list.owner_records[0].rank, 1);
  await rejects(client.apiClient.deleteLeaderboardRecord(s.token, 'e2e_server_only'), 403);
  assert.equal((await client.listLeaderboardRecords(s, 'e2e_server_only', [s.user_id])).owner_records.length, 1);
});

test('a tournament is listed, must be joined, and takes three attempts', async () => {
  const s = await account();
  const now = Math.floor(Date.now() / 1000);
  const listed = await client.listTournaments(s, 5, 5);
  const cup = listed.tournaments.find((t) => t.id === 'e2e_cup');
  assert.ok(cup, 'e2e_cup is listed in category 5');
  assert.equal(cup.can_enter, true);
  assert.equal(cup.title, 'E2E Cup');
  assert.equal(cup.description, 'end-to-end');
  assert.equal(cup.category, 5);
  assert.equal(cup.sort_order, 1);
  assert.equal(cup.duration, 3600);
  assert.equal(cup.max_size, 100);
  assert.equal(cup.max_num_score, 3);
  assert.equal(cup.size, 0);
  assert.deepEqual(cup.metadata, { prize: 'gold' });
  assert.ok(cup.end_active > now && cup.end_active <= now + 3700, `end_active ${cup.end_active}`);
  assert.ok(Date.parse(cup.start_time) / 1000 < now);
  assert.ok(Date.parse(cup.end_time) / 1000 > now);
  const elsewhere = await client.listTournaments(s, 6, 9);
  assert.ok(!elsewhere.tournaments.some((t) => t.id === 'e2e_cup'));

  // Joining comes first.
  await rejects(client.writeTournamentRecord(s, 'e2e_cup', { score: '10' }), 400);
  // A tournament is written through the tournament routes only.
  await rejects(client.writeLeaderboardRecord(s, 'e2e_cup', { score: '10' }), 400);
  assert.equal(await client.joinTournament(s, 'e2e_cup'), true);
  assert.equal(await client.joinTournament(s, 'e2e_cup'), true);
  const first = await client.writeTournamentRecord(s, 'e2e_cup', { score: '10', metadata: { try: 1 } });
  assert.equal(first.leaderboard_id, 'e2e_cup');
  assert.deepEqual([first.score, first.num_score, first.max_num_score], [10, 1, 3]);
  assert.equal(Date.parse(first.expiry_time), Date.parse(cup.end_time));
  assert.deepEqual(first.metadata, { try: 1 });
  assert.deepEqual(scores([await client.writeTournamentRecord(s, 'e2e_cup', { score: '5' })]), [10]);
  const third = await client.writeTournamentRecord(s, 'e2e_cup', { score: '20', metadata: { try: 3 } });
  assert.deepEqual([third.score, third.num_score], [20, 3]);
  await rejects(client.writeTournamentRecord(s, 'e2e_cup', { score: '99' }), 400);

  const records = await client.listTournamentRecords(s, 'e2e_cup', [s.user_id], 10);
  assert.deepEqual(records.owner_records.map((r) => [r.owner_id, r.score, r.num_score, r.max_num_score, r.rank]), [
    [s.user_id, 20, 3, 3, 1],
  ]);
  assert.deepEqual(records.owner_records[0].metadata, { try: 3 });
  const again = (await client.listTournaments(s, 5, 5)).tournaments.find((t) => t.id === 'e2e_cup');
  assert.deepEqual([again.size, again.can_enter], [1, true]);
});

test('tournament records page through once and centre on an owner', async () => {
  const users = await accounts(4);
  const points = [35, 25, 15, 5];
  for (const [i, s] of users.entries()) {
    assert.equal(await client.joinTournament(s, 'e2e_cup'), true);
    await client.writeTournamentRecord(s, 'e2e_cup', { score: String(points[i]) });
  }
  const [me] = users;
  const all = await client.listTournamentRecords(me, 'e2e_cup', undefined, 10);
  // The player of the previous test has 20.
  assert.deepEqual(scores(all.records), [35, 25, 20, 15, 5]);
  assert.deepEqual(ranks(all.records), [1, 2, 3, 4, 5]);

  const seen = [];
  let cursor;
  let pages = 0;
  do {
    const page = await client.listTournamentRecords(me, 'e2e_cup', [me.user_id], 2, cursor);
    assert.deepEqual(page.owner_records.map((r) => [r.owner_id, r.rank]), [[me.user_id, 1]]);
    seen.push(...page.records.map((r) => r.owner_id));
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen, all.records.map((r) => r.owner_id));

  const around = await client.listTournamentRecordsAroundOwner(me, 'e2e_cup', users[2].user_id, 3);
  assert.deepEqual(scores(around.records), [20, 15, 5]);
  const middle = await client.listTournamentRecordsAroundOwner(me, 'e2e_cup', users[1].user_id, 3);
  assert.deepEqual(scores(middle.records), [35, 25, 20]);
  assert.equal(middle.records[1].owner_id, users[1].user_id);

  await client.deleteTournamentRecord(users[3], 'e2e_cup');
  const left = await client.listTournamentRecords(me, 'e2e_cup', [users[3].user_id], 10);
  assert.deepEqual(left.owner_records, []);
  assert.deepEqual(scores(left.records), [35, 25, 20, 15]);
});
