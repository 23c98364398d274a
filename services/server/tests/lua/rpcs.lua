-- RPCs of the end-to-end suite (tests/e2e/lua.test.mjs), as a Nakama module writes them.
local nk = require("nakama")

nk.register_rpc(function(context, payload)
    return payload
end, "echo_lua")

nk.register_rpc(function(context, payload)
    return nk.json_encode({ user_id = context.user_id, mode = context.execution_mode })
end, "whoami_lua")

nk.register_rpc(function(context, payload)
    error({ "no such item", 5 })
end, "lua_not_found")

nk.register_rpc(function(context, payload)
    local t = nil
    return t.boom
end, "lua_broken")

nk.register_rpc(function(context, payload)
    local params = nk.json_decode(payload)
    local id = nk.match_create("lua_arena", { mode = params.mode })
    return nk.json_encode({ match_id = id })
end, "make_lua_arena")

nk.register_rpc(function(context, payload)
    return nk.json_encode({ reply = nk.match_signal(nk.json_decode(payload).match_id, "count") })
end, "signal_lua_arena")

-- Groups that asked for a Lua match get one; the others keep their relayed match.
nk.register_matchmaker_matched(function(context, entries)
    for _, e in ipairs(entries) do
        if e.properties.mode ~= "lua" then return nil end
    end
    return nk.match_create("lua_arena", { mode = entries[1].properties.region })
end)

-- A lobby on a stream of the module's own (mode 123), joined over the socket.
local function lobby(payload) return { mode = 123, subject = nk.json_decode(payload).subject } end

nk.register_rpc(function(context, payload)
    local stream = lobby(payload)
    local joined = nk.stream_user_join(context.user_id, context.session_id, stream)
    nk.stream_send(stream, "welcome " .. context.username)
    return nk.json_encode({ joined = joined, count = nk.stream_count(stream) })
end, "join_lobby")

nk.register_rpc(function(context, payload)
    local stream = lobby(payload)
    nk.stream_user_leave(context.user_id, context.session_id, stream)
    return nk.json_encode({ count = nk.stream_count(stream), members = #nk.stream_user_list(stream) })
end, "leave_lobby")
