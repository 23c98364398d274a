"""The community Python client (nakama-python 1.0.3, aiohttp) against kaos-server.

services/server/tests/python.rs starts the server, installs requirements.txt into a
virtual environment and runs this file with KAOS_ADDR=host:port; by hand:

    KAOS_ADDR=127.0.0.1:7350 python -m pytest -q test_nakama_python.py

The client returns each response's JSON whatever the HTTP status (errors come back as
{"code", "error", "message"}), never updates its session by itself (a test sets
session.token from the authenticate answer) and sends the server key only until a token
is set. The expectations are Nakama's: request bodies in proto names or lowerCamelCase,
unknown query parameters ignored, answers in proto names.
"""

import asyncio
import json
import os
import uuid

from nakama import NakamaClient, NakamaSocket

HOST, PORT = os.environ.get("KAOS_ADDR", "127.0.0.1:7350").rsplit(":", 1)
PORT = int(PORT)
SERVER_KEY = "defaultkey"
TIMEOUT = 120  # seconds per test, sockets included: a guard against hangs, not a speed check

# Nakama's status codes (gRPC) in error bodies.
INVALID_ARGUMENT, NOT_FOUND, UNAUTHENTICATED = 3, 5, 16
# Friend and group membership states.
FRIEND, INVITE_SENT, INVITE_RECEIVED = 0, 1, 2
SUPERADMIN, MEMBER, JOIN_REQUEST = 0, 2, 3
ROOM = 1  # channel type


def unique(prefix):
    # Hex only: the client decodes the token's payload with the standard base64
    # alphabet, which some other characters in a username would break.
    return prefix + uuid.uuid4().hex


def ok(resp):
    assert isinstance(resp, dict), resp
    assert "error" not in resp and not ("code" in resp and "message" in resp), f"server said: {resp}"
    return resp


def refused(resp, code):
    assert isinstance(resp, dict) and resp.get("code") == code, f"expected code {code}, got {resp}"
    assert resp.get("message"), resp
    return resp


async def until(predicate, what, seconds=60):
    for _ in range(int(seconds / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Clients:
    """Every client (and socket) a test opens, closed at its end."""

    def __init__(self):
        self.clients, self.sockets = [], []

    def new(self, server_key=SERVER_KEY):
        c = NakamaClient(HOST, PORT, server_key)
        self.clients.append(c)
        return c

    def signed_in(self, c, resp):
        ok(resp)
        c.session.token = resp["token"]
        c.session.set_refresh_token(resp.get("refresh_token"))
        return resp

    async def device(self, **kw):
        c = self.new()
        c.device_id = unique("py-device-")
        resp = await c.account.authenticate.device(c.device_id, create=True, username=unique("py")[:24], **kw)
        self.signed_in(c, resp)
        return c

    async def socket(self, c):
        s = NakamaSocket(c)
        await s.connect()
        self.sockets.append(s)
        return s

    async def close(self):
        for s in self.sockets:
            if s.websocket is not None:
                await s.close()
        for c in self.clients:
            await c.close()


def scenario(body):
    """A sync pytest test running `body(clients)` in its own event loop."""

    def test():
        async def main():
            clients = Clients()
            try:
                await body(clients)
            finally:
                await clients.close()

        asyncio.run(asyncio.wait_for(main(), TIMEOUT))

    test.__doc__ = body.__doc__
    return test


# Authentication


async def _authenticate_device(clients):
    c = clients.new()
    device, username = unique("py-device-"), unique("py")[:24]
    first = ok(await c.account.authenticate.device(device, create=True, username=username))
    assert first["created"] is True and first["token"] and first["refresh_token"]
    c.session.token = first["token"]
    assert c.session.username == username and c.session.user_id and c.session.expires
    assert not c.session.expired
    # Again, without create, on another client: the same account, not a new one.
    again = ok(await clients.new().account.authenticate.device(device, create=False))
    assert again.get("created", False) is False
    d = clients.new()
    d.session.token = again["token"]
    assert d.session.user_id == c.session.user_id and d.session.username == username
    # An unknown device without create is not found.
    refused(await clients.new().account.authenticate.device(unique("py-device-"), create=False), NOT_FOUND)
    # Session variables ride in the token.
    e = clients.new()
    with_vars = ok(await e.account.authenticate.device(device, vars={"tier": "gold"}))
    e.session.token = with_vars["token"]
    assert e.session.vars == {"tier": "gold"}


test_authenticate_device = scenario(_authenticate_device)


async def _authenticate_email(clients):
    email, password = unique("py") + "@example.com", "correct-horse-1"
    c = clients.new()
    resp = clients.signed_in(c, await c.account.authenticate.email(email, password, create=True))
    assert resp["created"] is True
    account = ok(await c.account.get())
    assert account["email"] == email and account["user"]["id"] == c.session.user_id
    # Signing in again: the same user.
    d = clients.new()
    clients.signed_in(d, await d.account.authenticate.email(email, password, create=False))
    assert d.session.user_id == c.session.user_id
    refused(await clients.new().account.authenticate.email(email, "wrong-password", create=False), UNAUTHENTICATED)
    refused(await clients.new().account.authenticate.email(unique("py") + "@example.com", "short", create=True),
            INVALID_ARGUMENT)


test_authenticate_email = scenario(_authenticate_email)


async def _authenticate_custom(clients):
    custom, username = unique("py-custom-"), unique("py")[:24]
    c = clients.new()
    resp = clients.signed_in(c, await c.account.authenticate.custom(custom, create=True, username=username))
    assert resp["created"] is True and c.session.username == username
    account = ok(await c.account.get())
    assert account["custom_id"] == custom and account["user"]["username"] == username
    d = clients.new()
    again = clients.signed_in(d, await d.account.authenticate.custom(custom, create=False))
    assert again.get("created", False) is False and d.session.user_id == c.session.user_id
    refused(await clients.new().account.authenticate.custom("abc", create=True), INVALID_ARGUMENT)


test_authenticate_custom = scenario(_authenticate_custom)


async def _authentication_needs_the_server_key(clients):
    refused(await clients.new("wrongkey").account.authenticate.device(unique("py-device-")), UNAUTHENTICATED)
    # The client keeps sending its session's bearer token once set: authenticate wants the key.
    c = await clients.device()
    refused(await c.account.authenticate.device(c.device_id), UNAUTHENTICATED)
    # And the API wants a session, not the key.
    refused(await clients.new().account.get(), UNAUTHENTICATED)


test_authentication_needs_the_server_key = scenario(_authentication_needs_the_server_key)


async def _session_logout(clients):
    c = await clients.device()
    ok(await c.account.get())
    # Body {"token", "refreshToken"}.
    ok(await c.session.logout())
    refused(await c.account.get(), UNAUTHENTICATED)


test_session_logout = scenario(_session_logout)


# Account


async def _account_get(clients):
    c = await clients.device()
    account = ok(await c.account.get())
    assert account["user"]["id"] == c.session.user_id
    assert account["user"]["username"] == c.session.username
    assert [d["id"] for d in account["devices"]] == [c.device_id]
    assert json.loads(account["wallet"]) == {}
    assert account["user"]["create_time"]


test_account_get = scenario(_account_get)


async def _account_update_profile(clients):
    c = await clients.device()
    # Body in lowerCamelCase: displayName, avatarUrl, langTag, location, timezone.
    ok(await c.account.update(display_name="Py Player", avatar_url="https://example.com/py.png",
                              lang_tag="fr", location="Lyon", timezone="Europe/Paris"))
    user = ok(await c.account.get())["user"]
    assert user["display_name"] == "Py Player"
    assert user["avatar_url"] == "https://example.com/py.png"
    assert user["lang_tag"] == "fr" and user["location"] == "Lyon" and user["timezone"] == "Europe/Paris"
    # Fields left out stay as they were.
    ok(await c.account.update(location="Paris"))
    user = ok(await c.account.get())["user"]
    assert user["location"] == "Paris" and user["display_name"] == "Py Player"


test_account_update_profile = scenario(_account_update_profile)


async def _account_update_username(clients):
    c = await clients.device()
    other = await clients.device()
    renamed = unique("py")[:24]
    ok(await c.account.update(username=renamed))
    assert ok(await c.account.get())["user"]["username"] == renamed
    found = ok(await other.users.get(usernames=[renamed]))["users"]
    assert [u["id"] for u in found] == [c.session.user_id]
    # Taken names are refused.
    assert "code" in await other.account.update(username=renamed)


test_account_update_username = scenario(_account_update_username)


# Storage


async def _storage_write_read_list_delete(clients):
    a, b = await clients.device(), await clients.device()
    me, col = a.session.user_id, unique("saves-")
    # The client passes objects through as given: proto names here.
    acks = ok(await a.storage.write([
        {"collection": col, "key": "private", "value": json.dumps({"hp": 3}), "permission_read": 1,
         "permission_write": 1},
        {"collection": col, "key": "public", "value": json.dumps({"hp": 7}), "permission_read": 2,
         "permission_write": 1},
    ]))["acks"]
    assert [(k["collection"], k["key"], k["user_id"]) for k in acks] == [(col, "private", me), (col, "public", me)]
    versions = {k["key"]: k["version"] for k in acks}
    assert all(versions.values())
    # Read: body {"objectIds": [...]}.
    objects = ok(await a.storage.read([{"collection": col, "key": k, "user_id": me} for k in ("private", "public")]))
    by_key = {o["key"]: o for o in objects["objects"]}
    assert set(by_key) == {"private", "public"}
    assert json.loads(by_key["private"]["value"]) == {"hp": 3} and json.loads(by_key["public"]["value"]) == {"hp": 7}
    assert {k: o["version"] for k, o in by_key.items()} == versions
    assert by_key["private"]["permission_read"] == 1 and by_key["public"]["permission_read"] == 2
    assert all(o["user_id"] == me and o["permission_write"] == 1 for o in by_key.values())
    # Another player sees the public object only.
    theirs = ok(await b.storage.read([{"collection": col, "key": k, "user_id": me} for k in ("private", "public")]))
    assert [o["key"] for o in theirs["objects"]] == ["public"]
    listed = ok(await a.storage.list(col, user_id=me, limit=10))
    assert sorted(o["key"] for o in listed["objects"]) == ["private", "public"]
    assert [o["key"] for o in ok(await b.storage.list(col, user_id=me, limit=10))["objects"]] == ["public"]
    # Delete: body {"objectIds": [...]}.
    ok(await a.storage.delete([{"collection": col, "key": "private"}]))
    left = ok(await a.storage.read([{"collection": col, "key": k, "user_id": me} for k in ("private", "public")]))
    assert [o["key"] for o in left["objects"]] == ["public"]
    assert [o["key"] for o in ok(await a.storage.list(col, user_id=me, limit=10))["objects"]] == ["public"]


test_storage_write_read_list_delete = scenario(_storage_write_read_list_delete)


async def _storage_write_in_lower_camel_case(clients):
    a, b = await clients.device(), await clients.device()
    me, col = a.session.user_id, unique("saves-")
    acks = ok(await a.storage.write([{"collection": col, "key": "k", "value": json.dumps({"n": 1}),
                                      "permissionRead": 2, "permissionWrite": 0}]))["acks"]
    assert len(acks) == 1 and acks[0]["key"] == "k"
    [obj] = ok(await b.storage.list(col, user_id=me, limit=10))["objects"]
    assert obj["permission_read"] == 2 and obj.get("permission_write", 0) == 0
    # Object ids in lowerCamelCase too.
    [obj] = ok(await b.storage.read([{"collection": col, "key": "k", "userId": me}]))["objects"]
    assert json.loads(obj["value"]) == {"n": 1}


test_storage_write_in_lower_camel_case = scenario(_storage_write_in_lower_camel_case)


async def _storage_versions(clients):
    a = await clients.device()
    col = unique("saves-")
    [first] = ok(await a.storage.write([{"collection": col, "key": "k", "value": '{"n": 1}', "version": "*"}]))["acks"]
    # "*": only if absent.
    assert "acks" not in await a.storage.write([{"collection": col, "key": "k", "value": '{"n": 2}', "version": "*"}])
    [second] = ok(await a.storage.write([{"collection": col, "key": "k", "value": '{"n": 2}',
                                          "version": first["version"]}]))["acks"]
    assert second["version"] != first["version"]
    # A stale version is refused and changes nothing.
    stale = await a.storage.write([{"collection": col, "key": "k", "value": '{"n": 3}', "version": first["version"]}])
    assert "acks" not in stale and stale.get("message"), stale
    [obj] = ok(await a.storage.list(col, user_id=a.session.user_id, limit=10))["objects"]
    assert json.loads(obj["value"]) == {"n": 2} and obj["version"] == second["version"]


test_storage_versions = scenario(_storage_versions)


async def _storage_list_without_user_id(clients):
    a = await clients.device()
    col = unique("saves-")
    ok(await a.storage.write([{"collection": col, "key": "k", "value": "{}"}]))
    # Without a user the client sends ?user_id=null, which Nakama refuses: not a UUID.
    refused(await a.storage.list(col), INVALID_ARGUMENT)


test_storage_list_without_user_id = scenario(_storage_list_without_user_id)


# Friends and users


async def _friends_add_list_delete(clients):
    a, b, c = await clients.device(), await clients.device(), await clients.device()
    # POST /v2/friend?ids=… and ?usernames=…, no body.
    ok(await a.friends.add(user_ids=[b.session.user_id]))
    ok(await a.friends.add(usernames=[c.session.username]))

    async def states(client):
        return {f["user"]["id"]: f["state"] for f in ok(await client.friends.list()).get("friends", [])}

    assert await states(a) == {b.session.user_id: INVITE_SENT, c.session.user_id: INVITE_SENT}
    assert await states(b) == {a.session.user_id: INVITE_RECEIVED}
    ok(await b.friends.add(user_ids=[a.session.user_id]))  # accepts
    assert await states(a) == {b.session.user_id: FRIEND, c.session.user_id: INVITE_SENT}
    assert await states(b) == {a.session.user_id: FRIEND}
    [entry] = ok(await b.friends.list())["friends"]
    assert entry["user"]["username"] == a.session.username
    ok(await a.friends.delete(user_ids=[b.session.user_id]))
    assert await states(a) == {c.session.user_id: INVITE_SENT}
    assert await states(b) == {}
    ok(await c.friends.delete(usernames=[a.session.username]))  # declines
    assert await states(a) == {}


test_friends_add_list_delete = scenario(_friends_add_list_delete)


async def _friends_list_ignores_unknown_parameters(clients):
    a, b = await clients.device(), await clients.device()
    ok(await a.friends.add(user_ids=[b.session.user_id]))
    # The client sends limit as ?create= and state as ?username=; Nakama ignores both.
    friends = ok(await a.friends.list(limit=10, state=0))["friends"]
    assert [(f["user"]["id"], f["state"]) for f in friends] == [(b.session.user_id, INVITE_SENT)]


test_friends_list_ignores_unknown_parameters = scenario(_friends_list_ignores_unknown_parameters)


async def _users_get(clients):
    a, b, c = await clients.device(), await clients.device(), await clients.device()
    users = ok(await a.users.get(ids=[b.session.user_id], usernames=[c.session.username]))["users"]
    assert sorted((u["id"], u["username"]) for u in users) == sorted(
        [(b.session.user_id, b.session.username), (c.session.user_id, c.session.username)])


test_users_get = scenario(_users_get)


# Groups


async def _groups_create_join_list_members(clients):
    a, b = await clients.device(), await clients.device()
    name = unique("py-group-")
    # Body: name, description, maxCount, open, langTag, avatarUrl.
    group = ok(await a.groups.create(name, description="pythonistas", max_member_count=10, is_open=True,
                                     lang_tag="en", avatar_url="https://example.com/g.png"))
    assert group["id"] and group["creator_id"] == a.session.user_id and group["name"] == name
    assert group["description"] == "pythonistas" and group["lang_tag"] == "en"
    assert group["avatar_url"] == "https://example.com/g.png"
    assert group["open"] is True and group["max_count"] == 10 and group["edge_count"] == 1
    gid = group["id"]
    # GET /v2/group?name=…&limit=…
    [listed] = ok(await b.groups.list(search_str=name, limit=10))["groups"]
    assert listed["id"] == gid and listed["edge_count"] == 1
    ok(await b.groups.join(gid))  # open: a member at once

    async def members(client, **kw):
        return {m["user"]["id"]: m["state"] for m in ok(await client.groups.get_users(gid, **kw))["group_users"]}

    assert await members(a) == {a.session.user_id: SUPERADMIN, b.session.user_id: MEMBER}
    assert await members(b, limit=10, state=MEMBER) == {b.session.user_id: MEMBER}
    [listed] = ok(await a.groups.list(search_str=name, limit=10))["groups"]
    assert listed["edge_count"] == 2
    [mine] = ok(await b.users.get_user_groups(b.session.user_id))["user_groups"]
    assert mine["group"]["id"] == gid and mine["state"] == MEMBER


test_groups_create_join_list_members = scenario(_groups_create_join_list_members)


async def _groups_closed_join_is_a_request(clients):
    a, b = await clients.device(), await clients.device()
    group = ok(await a.groups.create(unique("py-closed-"), is_open=False))
    assert group["open"] is False
    ok(await b.groups.join(group["id"]))
    users = ok(await a.groups.get_users(group["id"]))["group_users"]
    assert {m["user"]["id"]: m["state"] for m in users} == {a.session.user_id: SUPERADMIN,
                                                             b.session.user_id: JOIN_REQUEST}
    # A request is no member yet.
    [listed] = ok(await a.groups.list(search_str=group["name"], limit=10))["groups"]
    assert listed["edge_count"] == 1


test_groups_closed_join_is_a_request = scenario(_groups_closed_join_is_a_request)


# Realtime socket: ws://host:port/ws?token=… (JSON envelopes with a string cid).


async def _socket_chat_room(clients):
    a, b = await clients.device(), await clients.device()
    sa, sb = await clients.socket(a), await clients.socket(b)
    seen_a, seen_b, presence_a = [], [], []

    async def to(lst, ev):
        lst.append(ev)

    sa.handlers.set_channel_message_handler(lambda ev: to(seen_a, ev))
    sb.handlers.set_channel_message_handler(lambda ev: to(seen_b, ev))
    sa.handlers.set_channel_presence_handler(lambda ev: to(presence_a, ev))
    room = unique("py-room-")
    ja = ok(await sa.channel.join(room, ROOM, False, False))["channel"]
    assert ja["id"] and ja["room_name"] == room and ja["self"]["user_id"] == a.session.user_id
    assert ja.get("presences", []) == []
    jb = ok(await sb.channel.join(room, ROOM, False, False))["channel"]
    assert jb["id"] == ja["id"] and [p["user_id"] for p in jb["presences"]] == [a.session.user_id]
    await until(lambda: any(p["user_id"] == b.session.user_id for e in presence_a for p in e.get("joins", [])),
                "b's join on a's socket")
    ack = ok(await sa.channel.send_message(ja["id"], json.dumps({"text": "hello from python"})))
    ack = ack["channel_message_ack"]
    assert ack["channel_id"] == ja["id"] and ack["message_id"] and ack["username"] == a.session.username
    assert ack["persistent"] is False and ack["room_name"] == room
    await until(lambda: seen_b and seen_a, "the message on both sockets")
    for m in (seen_b[0], seen_a[0]):
        assert m["message_id"] == ack["message_id"] and m["channel_id"] == ja["id"]
        assert m["sender_id"] == a.session.user_id and m["username"] == a.session.username
        assert json.loads(m["content"]) == {"text": "hello from python"}
    ok(await sb.channel.leave(jb["id"]))
    await until(lambda: any(p["user_id"] == b.session.user_id for e in presence_a for p in e.get("leaves", [])),
                "b's leave on a's socket")


test_socket_chat_room = scenario(_socket_chat_room)


async def _socket_match_create_and_join(clients):
    a, b = await clients.device(), await clients.device()
    sa, sb = await clients.socket(a), await clients.socket(b)
    events = []

    async def on_presence(ev):
        events.append(ev)

    sa.handlers.set_match_presence_handler(on_presence)
    match = ok(await sa.match.create())["match"]
    mid = match["match_id"]
    # Nakama leaves false and empty fields out of socket answers.
    assert mid and match.get("authoritative", False) is False and match["self"]["user_id"] == a.session.user_id
    assert match["size"] == 1
    joined = ok(await sb.match.join(mid))["match"]
    assert joined["match_id"] == mid and joined["self"]["user_id"] == b.session.user_id
    assert [p["user_id"] for p in joined["presences"]] == [a.session.user_id]
    await until(lambda: any(p["user_id"] == b.session.user_id for e in events for p in e.get("joins", [])),
                "b's join on a's socket")
    ok(await sb.match.leave(mid))
    await until(lambda: any(p["user_id"] == b.session.user_id for e in events for p in e.get("leaves", [])),
                "b's leave on a's socket")
    refused((await sb.match.join("not-a-match"))["error"], INVALID_ARGUMENT)


test_socket_match_create_and_join = scenario(_socket_match_create_and_join)


async def _socket_status(clients):
    a, b = await clients.device(), await clients.device()
    sa, sb = await clients.socket(a), await clients.socket(b)
    events = []

    async def on_status(ev):
        events.append(ev)

    sa.handlers.set_status_presence_handler(on_status)
    # The client's socket URL has no ?status=true: b shares no status until it sets one.
    followed = ok(await sa.status.follow([b.session.user_id]))["status"]
    assert followed.get("presences", []) == []
    ok(await sb.status.update("playing python"))
    await until(lambda: any(p.get("status") == "playing python" and p["user_id"] == b.session.user_id
                            for e in events for p in e.get("joins", [])), "b's status on a's socket")


test_socket_status = scenario(_socket_status)
