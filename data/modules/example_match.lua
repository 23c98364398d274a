-- A small authoritative match (Nakama's module form): the server owns the state and
-- runs match_loop 5 times a second. Players send op 1 with a number; the match adds it
-- to their score and broadcasts the scores as JSON on op 2. Create one with the
-- `example_match_create` RPC (example.lua), then join it from a client socket.
local nk = require("nakama")

local M = {}

function M.match_init(context, params)
    local state = { scores = {}, rounds = params and params.rounds or 1 }
    local tick_rate = 5
    local label = nk.json_encode({ kind = "example" }) -- searchable: +label.kind:example
    return state, tick_rate, label
end

function M.match_join_attempt(context, dispatcher, tick, state, presence, metadata)
    return state, true -- return state, false, "why" to refuse
end

function M.match_join(context, dispatcher, tick, state, presences)
    for _, p in ipairs(presences) do
        state.scores[p.user_id] = state.scores[p.user_id] or 0
    end
    return state
end

function M.match_leave(context, dispatcher, tick, state, presences)
    for _, p in ipairs(presences) do
        state.scores[p.user_id] = nil
    end
    return state
end

function M.match_loop(context, dispatcher, tick, state, messages)
    local changed = false
    for _, m in ipairs(messages) do
        local points = tonumber(m.data)
        if m.op_code == 1 and points and state.scores[m.sender.user_id] then
            state.scores[m.sender.user_id] = state.scores[m.sender.user_id] + points
            changed = true
        end
    end
    if changed then
        dispatcher.broadcast_message(2, nk.json_encode(state.scores))
    end
    return state -- return nil to end the match
end

function M.match_terminate(context, dispatcher, tick, state, grace_seconds)
    return state
end

function M.match_signal(context, dispatcher, tick, state, data)
    return state, nk.json_encode(state.scores)
end

return M
