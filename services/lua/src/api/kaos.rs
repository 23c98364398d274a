//! `kaos`: the seed's Lua API (storage by owner, leaderboards, registration, JSON, logs).

use kaosnet::leaderboards::{LeaderboardConfig, Operator, Record, SortOrder, Submission};
use kaosnet::store::StorageObject;
use kaosnet::ApiError;
use mlua::{Function, Lua, MultiValue, Table, Value};

use super::{register, Module, Refused};
use crate::convert::{decode, encode, lua_to_json, stored};

pub(super) fn table(m: &Module<'_>) -> mlua::Result<Table> {
    let t = m.lua.create_table()?;
    // The other services under Nakama's names and shapes (accounts, users, tournaments,
    // notifications, friends, groups); the seed's own storage functions below replace
    // the ones of the same name.
    super::nakama_data::install(m, &t)?;
    super::social::install(m, &t)?;
    super::streams::install(m, &t)?;
    registration(m, &t)?;
    storage(m, &t)?;
    leaderboards(m, &t)?;
    super::matches::install(m, &t)?;
    m.function(&t, "json_encode", |lua, v: Value| encode(lua, v))?;
    m.function(&t, "json_decode", |lua, s: mlua::LuaString| decode(lua, &s.to_str()?))?;
    for (name, level) in [
        ("log_debug", tracing::Level::DEBUG),
        ("log_info", tracing::Level::INFO),
        ("log_warn", tracing::Level::WARN),
        ("log_error", tracing::Level::ERROR),
    ] {
        m.function(&t, name, move |_, args: MultiValue| {
            log(level, &super::strings(args));
            Ok(())
        })?;
    }
    Ok(t)
}

pub(super) fn log(level: tracing::Level, text: &str) {
    match level {
        tracing::Level::ERROR => tracing::error!(target: "kaos_lua", "{text}"),
        tracing::Level::WARN => tracing::warn!(target: "kaos_lua", "{text}"),
        tracing::Level::INFO => tracing::info!(target: "kaos_lua", "{text}"),
        _ => tracing::debug!(target: "kaos_lua", "{text}"),
    }
}

fn registration(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.function(t, "register_rpc", |lua, (id, f): (String, Function)| {
        register(lua, "register_rpc", |r| {
            r.rpcs.insert(id.to_lowercase(), f);
        })
    })?;
    m.function(t, "register_match", |lua, (name, handlers): (String, Table)| {
        register(lua, "register_match", |r| {
            r.matches.insert(name, handlers);
        })
    })?;
    m.function(t, "register_hook", |lua, (side, operation, f): (String, String, Function)| {
        let side = match side.as_str() {
            "before" => crate::hooks::Side::Before,
            "after" => crate::hooks::Side::After,
            other => {
                return Err(mlua::Error::RuntimeError(format!("a hook is \"before\" or \"after\", not {other:?}")))
            }
        };
        super::register_hook(lua, side, &operation, f)
    })?;
    m.function(t, "register_matchmaker_matched", |lua, f: Function| {
        register(lua, "register_matchmaker_matched", |r| r.matchmaker_matched = Some(f))
    })?;
    m.function(t, "run_once", |lua, f: Function| register(lua, "run_once", |r| r.run_once.push(f)))
}

fn storage(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "storage_get", |lua, kaos, (owner, collection, key): (String, String, String)| {
        match kaos.storage().get(&owner, &collection, &key)? {
            Some(o) => Ok(stored(lua, &o.value)?),
            None => Ok(Value::Nil),
        }
    })?;
    m.service(
        t,
        "storage_set",
        |lua, kaos, (owner, collection, key, value, read, write): (String, String, String, Value, Option<i64>, Option<i64>)| {
            let value = lua_to_json(lua, value)?;
            let w = kaosnet::storage::ops::Write {
                collection,
                key,
                value: value.to_string(),
                version: kaosnet::store::VersionCheck::Any,
                permission_read: read.unwrap_or(1),
                permission_write: write.unwrap_or(1),
            };
            let mut written = kaos.storage().write_objects(kaosnet::store::Caller::Server, &owner, vec![w])?;
            Ok(written.pop().map(|o| o.version))
        },
    )?;
    m.service(t, "storage_delete", |_, kaos, (owner, collection, key): (String, String, String)| {
        Ok(kaos.storage().delete(&owner, &collection, &key)?)
    })?;
    m.service(
        t,
        "storage_list",
        |lua, kaos, (owner, collection, limit, cursor): (Option<String>, String, Option<usize>, Option<String>)| {
            let page = kaos.storage().list(owner.as_deref(), &collection, limit.unwrap_or(100), cursor.as_deref())?;
            let items = lua.create_table()?;
            for o in &page.objects {
                items.push(object_table(lua, o)?)?;
            }
            Ok((items, page.cursor))
        },
    )
}

fn leaderboards(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "leaderboard_create", |_, kaos, (id, options): (String, Option<Table>)| {
        let mut config = LeaderboardConfig { id, ..LeaderboardConfig::default() };
        if let Some(o) = options {
            config.authoritative = o.get::<Option<bool>>("authoritative")?.unwrap_or(false);
            config.sort_order = match o.get::<Option<String>>("sort_order")?.as_deref() {
                None | Some("desc" | "descending") => SortOrder::Descending,
                Some("asc" | "ascending") => SortOrder::Ascending,
                Some(other) => return Err(ApiError::invalid(format!("Invalid sort order {other:?}.")).into()),
            };
            config.operator = operator(o.get::<Option<String>>("operator")?.as_deref())?.unwrap_or_default();
            config.reset_schedule = o.get::<Option<String>>("reset_schedule")?;
        }
        Ok(kaos.leaderboards().create(config)?)
    })?;
    m.service(
        t,
        "leaderboard_submit",
        |lua,
         kaos,
         (id, owner, username, score, metadata, subscore): (String, String, String, i64, Value, Option<i64>)| {
            let metadata = match metadata {
                Value::Nil => None,
                v => Some(lua_to_json(lua, v)?.to_string()),
            };
            let s = Submission { score, subscore: subscore.unwrap_or(0), metadata, operator: None };
            let record = kaos.leaderboards().submit(&id, &owner, &username, s)?;
            Ok(record_table(lua, &record)?)
        },
    )?;
    m.service(t, "leaderboard_get_top", |lua, kaos, (id, limit): (String, Option<usize>)| {
        Ok(records_table(lua, &kaos.leaderboards().get_top(&id, limit.unwrap_or(10))?)?)
    })?;
    m.service(t, "leaderboard_get_around", |lua, kaos, (id, owner, limit): (String, String, Option<usize>)| {
        Ok(records_table(lua, &kaos.leaderboards().get_around(&id, &owner, limit.unwrap_or(10))?)?)
    })?;
    m.service(t, "leaderboard_get_record", |lua, kaos, (id, owner): (String, String)| {
        match kaos.leaderboards().get_record(&id, &owner)? {
            Some(r) => Ok(Value::Table(record_table(lua, &r)?)),
            None => Ok(Value::Nil),
        }
    })
}

/// An operator by name (`best`, `set`, `incr`/`increment`, `decr`/`decrement`).
pub(super) fn operator(name: Option<&str>) -> Result<Option<Operator>, Refused> {
    Ok(match name {
        None | Some("") => None,
        Some("best") => Some(Operator::Best),
        Some("set") => Some(Operator::Set),
        Some("incr" | "increment") => Some(Operator::Increment),
        Some("decr" | "decrement") => Some(Operator::Decrement),
        Some(other) => return Err(ApiError::invalid(format!("Invalid operator {other:?}.")).into()),
    })
}

/// A storage object as Nakama's Lua runtime shapes it.
pub(super) fn object_table(lua: &Lua, o: &StorageObject) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("collection", o.id.collection.as_str())?;
    t.set("key", o.id.key.as_str())?;
    t.set("user_id", o.id.user_id.as_str())?;
    t.set("value", stored(lua, &o.value)?)?;
    t.set("version", o.version.as_str())?;
    t.set("permission_read", o.permission_read)?;
    t.set("permission_write", o.permission_write)?;
    t.set("create_time", o.create_time)?;
    t.set("update_time", o.update_time)?;
    Ok(t)
}

/// A leaderboard record as Nakama's Lua runtime shapes it.
pub(super) fn record_table(lua: &Lua, r: &Record) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("leaderboard_id", r.leaderboard_id.as_str())?;
    t.set("owner_id", r.owner_id.as_str())?;
    t.set("username", r.username.as_str())?;
    t.set("score", r.score)?;
    t.set("subscore", r.subscore)?;
    t.set("num_score", r.num_score)?;
    t.set("max_num_score", r.max_num_score)?;
    t.set("metadata", stored(lua, &r.metadata)?)?;
    t.set("create_time", r.create_time)?;
    t.set("update_time", r.update_time)?;
    t.set("expiry_time", r.expiry_time)?;
    t.set("rank", r.rank)?;
    Ok(t)
}

pub(super) fn records_table(lua: &Lua, records: &[Record]) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for r in records {
        t.push(record_table(lua, r)?)?;
    }
    Ok(t)
}
