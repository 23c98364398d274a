-- An example module: kaos-server loads every .lua file under ./data/modules at start
-- (`--runtime-path` to change it) and again on SIGHUP (`kill -HUP <pid>`). Edit it and
-- reload: no compiling. docs/lua.md lists what modules can call.
local nk = require("nakama")

-- An RPC: clients call it over REST (POST /v2/rpc/greet) or the socket; server code
-- with ?http_key=. The payload is the client's JSON as text; the answer is text too.
nk.register_rpc(function(context, payload)
    local input = payload ~= "" and nk.json_decode(payload) or {}
    local name = input.name or context.username or "stranger"
    -- Keep a count per user in storage (the same storage the REST API reads).
    local count = 1
    if context.user_id then
        local seen = nk.storage_read({ { collection = "example", key = "greetings", user_id = context.user_id } })
        if #seen > 0 then count = seen[1].value.count + 1 end
        nk.storage_write({ { collection = "example", key = "greetings", user_id = context.user_id,
            value = { count = count }, permission_read = 1, permission_write = 0 } })
    end
    return nk.json_encode({ greeting = "hello, " .. name, times = count })
end, "greet")

-- A before hook: runs before every storage write from a client, and may change the
-- request or refuse it (return nil: the client gets 404, as in Nakama).
nk.register_req_before(function(context, payload)
    for _, object in ipairs(payload.objects or {}) do
        if object.collection == "server_only" then
            return nil
        end
    end
    return payload
end, "WriteStorageObjects")

-- An after hook: sees each successful device sign-in (errors here are only logged).
nk.register_req_after(function(context, outgoing, incoming)
    nk.logger_debug("device sign-in for " .. tostring(outgoing and outgoing.username))
end, "AuthenticateDevice")

-- Creates a match of example_match.lua and answers its id.
nk.register_rpc(function(context, payload)
    local match_id = nk.match_create("example_match", { rounds = 3 })
    return nk.json_encode({ match_id = match_id })
end, "example_match_create")
