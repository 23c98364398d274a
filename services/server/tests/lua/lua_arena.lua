-- An authoritative match in Nakama's module form: each input is answered to its sender
-- (op 2, "lua:<data>"), and every join is announced to all (op 3, "joined:<username>").
local nk = require("nakama")

local M = {}

function M.match_init(context, params)
    local label = nk.json_encode({ mode = params.mode, engine = "lua" })
    return { players = 0 }, 10, label
end

function M.match_join_attempt(context, dispatcher, tick, state, presence, metadata)
    if metadata and metadata.banned == "yes" then
        return state, false, "banned players stay out"
    end
    return state, true
end

function M.match_join(context, dispatcher, tick, state, presences)
    for _, p in ipairs(presences) do
        state.players = state.players + 1
        dispatcher.broadcast_message(3, "joined:" .. p.username)
    end
    return state
end

function M.match_leave(context, dispatcher, tick, state, presences)
    state.players = state.players - #presences
    return state
end

function M.match_loop(context, dispatcher, tick, state, messages)
    for _, m in ipairs(messages) do
        dispatcher.broadcast_message(2, "lua:" .. m.data, { m.sender })
    end
    return state
end

function M.match_terminate(context, dispatcher, tick, state, grace_seconds)
    return state
end

function M.match_signal(context, dispatcher, tick, state, data)
    return state, "players:" .. state.players
end

return M
