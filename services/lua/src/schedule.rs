//! Board resets and tournament ends for Lua (`register_leaderboard_reset`,
//! `register_tournament_reset`, `register_tournament_end`): a thread asks the
//! leaderboards what happened each second and hands it to the registered functions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use kaosnet::leaderboards::{BoardEvent, BoardEventKind, SortOrder};
use kaosnet::{ApiError, Code, KaosNet};
use mlua::{Lua, Table};

use crate::LuaRuntime;

/// Which board function a module registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BoardHook {
    LeaderboardReset,
    TournamentReset,
    TournamentEnd,
}

impl BoardHook {
    fn of(event: &BoardEvent) -> BoardHook {
        match (event.kind, event.tournament.is_some()) {
            (BoardEventKind::TournamentEnd, _) => BoardHook::TournamentEnd,
            (BoardEventKind::Reset, true) => BoardHook::TournamentReset,
            (BoardEventKind::Reset, false) => BoardHook::LeaderboardReset,
        }
    }

    fn mode(self) -> &'static str {
        match self {
            BoardHook::LeaderboardReset => "leaderboard_reset",
            BoardHook::TournamentReset => "tournament_reset",
            BoardHook::TournamentEnd => "tournament_end",
        }
    }
}

/// The board as Nakama's Lua runtime shows it to these functions.
fn board_table(lua: &Lua, e: &BoardEvent) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let b = &e.board;
    t.set("id", b.id.as_str())?;
    t.set("authoritative", b.authoritative)?;
    t.set("sort_order", if b.sort_order == SortOrder::Ascending { "asc" } else { "desc" })?;
    t.set("operator", format!("{:?}", b.operator).to_lowercase())?;
    t.set("reset", b.reset_schedule.as_deref().unwrap_or(""))?;
    t.set("metadata", crate::convert::stored(lua, &b.metadata)?)?;
    if let Some(r) = &e.tournament {
        t.set("title", r.title.as_str())?;
        t.set("description", r.description.as_str())?;
        t.set("category", r.category)?;
        t.set("start_time", r.start_time)?;
        t.set("end_time", r.end_time)?;
        t.set("duration", r.duration)?;
        t.set("max_size", r.max_size)?;
        t.set("max_num_score", r.max_num_score)?;
        t.set("join_required", r.join_required)?;
    }
    Ok(t)
}

impl LuaRuntime {
    /// Hands board events to the functions the modules registered for them, in order;
    /// a function that fails is logged and the others still run.
    pub fn dispatch_board_events(&self, events: &[BoardEvent]) {
        let outcome = self.pool.with_state(|state| {
            for e in events {
                let hook = BoardHook::of(e);
                let functions: Vec<_> =
                    state.registered.board_hooks.iter().filter(|(h, _)| *h == hook).map(|(_, f)| f.clone()).collect();
                for f in functions {
                    let lua = &state.lua;
                    let made = || -> mlua::Result<mlua::MultiValue> {
                        let ctx = crate::convert::rpc_context(lua, &Default::default(), hook.mode())?;
                        let board = board_table(lua, e)?;
                        match &e.tournament {
                            None => mlua::IntoLuaMulti::into_lua_multi((ctx, board, e.at), lua),
                            Some(r) => mlua::IntoLuaMulti::into_lua_multi((ctx, board, r.end_time, e.at), lua),
                        }
                    };
                    let args = made().map_err(|err| ApiError::new(Code::Internal, err.to_string()))?;
                    if let Err(failure) = state.call(&f, args) {
                        tracing::warn!(target: "kaos_lua", "{} of {} failed: {}", hook.mode(), e.board.id, failure.describe());
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = outcome {
            tracing::warn!(target: "kaos_lua", "board events were not handed to Lua: {}", e.message);
        }
    }
}

/// Starts the thread that asks for board events, once, when the modules registered a
/// function for them; it ends with the runtime or the services.
pub(crate) fn start(runtime: &Arc<LuaRuntime>, kaos: &Arc<KaosNet>, started: &AtomicBool) {
    if !runtime.pool.has_board_hooks() || started.swap(true, Ordering::AcqRel) {
        return;
    }
    let (runtime, kaos): (Weak<LuaRuntime>, Weak<KaosNet>) = (Arc::downgrade(runtime), Arc::downgrade(kaos));
    let spawned = std::thread::Builder::new().name("kaos-lua-schedule".into()).spawn(move || {
        let now = || kaos.upgrade().map(|k| k.accounts().now());
        let Some(mut last) = now() else { return };
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let (Some(r), Some(k)) = (runtime.upgrade(), kaos.upgrade()) else { return };
            let until = k.accounts().now();
            match k.leaderboards().events_between(last, until) {
                Ok(events) if !events.is_empty() => r.dispatch_board_events(&events),
                Ok(_) => {}
                Err(e) => tracing::warn!(target: "kaos_lua", "board events: {}", e.message),
            }
            last = until;
        }
    });
    if let Err(e) = spawned {
        tracing::error!(target: "kaos_lua", "cannot start the board schedule: {e}");
    }
}
