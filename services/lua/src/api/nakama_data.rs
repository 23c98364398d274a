//! Nakama's storage, account, user, leaderboard, tournament and notification functions,
//! with its argument orders and return shapes (`nk.storage_read{…}` and the rest).

use kaosnet::leaderboards::{LeaderboardConfig, RecordsRequest, SortOrder, Submission};
use kaosnet::leaderboards::{TournamentConfig, TournamentRules};
use kaosnet::notifications::Outgoing;
use kaosnet::storage::ops::{version, Delete, Write};
use kaosnet::store::{Caller, ObjectId, User};
use kaosnet::{ApiError, KaosNet};
use mlua::{Lua, Table, Value};

use super::kaos::{object_table, operator, record_table, records_table};
use super::{Module, Refused};
use crate::convert::lua_to_json;
use crate::convert::stored;

/// The owner of system objects, as Nakama names it.
const SYSTEM_USER: &str = "00000000-0000-0000-0000-000000000000";

pub(super) fn install(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    storage(m, t)?;
    users(m, t)?;
    wallets(m, t)?;
    leaderboards(m, t)?;
    tournaments(m, t)?;
    notifications(m, t)
}

fn invalid(message: &str) -> Refused {
    Refused::Api(ApiError::invalid(message))
}

fn owner(t: &Table) -> mlua::Result<String> {
    Ok(t.get::<Option<String>>("user_id")?.filter(|u| !u.is_empty()).unwrap_or_else(|| SYSTEM_USER.into()))
}

fn list(items: &Table) -> impl Iterator<Item = mlua::Result<Table>> + '_ {
    items.sequence_values::<Table>()
}

/// A list of objects grouped by owner, in first-seen order: one batch per owner, as the
/// storage operations apply a batch whole for one owner. `read` makes each item.
fn by_owner<T>(items: &Table, read: impl Fn(&Table) -> Result<T, Refused>) -> Result<Vec<(String, Vec<T>)>, Refused> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for item in list(items) {
        let item = item?;
        let (user, made) = (owner(&item)?, read(&item)?);
        match groups.iter_mut().find(|(o, _)| *o == user) {
            Some((_, batch)) => batch.push(made),
            None => groups.push((user, vec![made])),
        }
    }
    Ok(groups)
}

fn storage(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "storage_read", |lua, kaos, keys: Table| {
        let mut ids = Vec::new();
        for k in list(&keys) {
            let k = k?;
            ids.push(ObjectId { collection: k.get("collection")?, key: k.get("key")?, user_id: owner(&k)? });
        }
        let out = lua.create_table()?;
        if ids.is_empty() {
            return Ok(out);
        }
        for o in kaos.storage().read_objects(Caller::Server, ids)? {
            out.push(object_table(lua, &o)?)?;
        }
        Ok(out)
    })?;
    m.service(t, "storage_write", |lua, kaos, writes: Table| {
        let by_owner = by_owner(&writes, |w| {
            let value = match w.get::<Value>("value")? {
                v @ Value::Table(_) => lua_to_json(lua, v)?.to_string(),
                Value::Nil => return Err(invalid("expects value to be supplied")),
                _ => return Err(invalid("expects value to be table")),
            };
            Ok(Write {
                collection: w.get("collection")?,
                key: w.get("key")?,
                value,
                version: version(&w.get::<Option<String>>("version")?.unwrap_or_default()),
                permission_read: w.get::<Option<i64>>("permission_read")?.unwrap_or(1),
                permission_write: w.get::<Option<i64>>("permission_write")?.unwrap_or(1),
            })
        })?;
        let acks = lua.create_table()?;
        for (user, batch) in by_owner {
            for o in kaos.storage().write_objects(Caller::Server, &user, batch)? {
                let ack = lua.create_table()?;
                ack.set("collection", o.id.collection)?;
                ack.set("key", o.id.key)?;
                ack.set("user_id", o.id.user_id)?;
                ack.set("version", o.version)?;
                acks.push(ack)?;
            }
        }
        Ok(acks)
    })?;
    m.service(t, "storage_delete", |_, kaos, deletes: Table| {
        let by_owner = by_owner(&deletes, |d| {
            Ok(Delete { collection: d.get("collection")?, key: d.get("key")?, version: d.get("version")? })
        })?;
        for (user, batch) in by_owner {
            kaos.storage().delete_objects(Caller::Server, &user, batch)?;
        }
        Ok(())
    })?;
    m.service(
        t,
        "storage_list",
        |lua, kaos, (user, collection, limit, cursor): (Option<String>, String, i64, Option<String>)| {
            let limit = usize::try_from(limit).map_err(|_| invalid("limit must not be negative"))?;
            let owner = user.filter(|u| !u.is_empty());
            let cursor = cursor.filter(|c| !c.is_empty());
            let page = kaos.storage().list(owner.as_deref(), &collection, limit, cursor.as_deref())?;
            let objects = lua.create_table()?;
            for o in &page.objects {
                objects.push(object_table(lua, o)?)?;
            }
            Ok((objects, page.cursor))
        },
    )
}

/// A user as Nakama's Lua runtime shapes it.
pub(super) fn user_table(lua: &Lua, kaos: &KaosNet, u: &User) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("user_id", u.id.as_str())?;
    t.set("username", u.username.as_str())?;
    t.set("display_name", u.display_name.as_str())?;
    t.set("avatar_url", u.avatar_url.as_str())?;
    t.set("lang_tag", u.lang_tag.as_str())?;
    t.set("location", u.location.as_str())?;
    t.set("timezone", u.timezone.as_str())?;
    t.set("online", !kaos.sessions().sessions_of(&u.id).is_empty())?;
    t.set("edge_count", 0)?;
    t.set("create_time", u.create_time)?;
    t.set("update_time", u.update_time)?;
    t.set("metadata", stored(lua, &u.metadata)?)?;
    Ok(t)
}

fn users(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "account_get_id", |lua, kaos, user_id: String| {
        if user_id.is_empty() {
            return Err(invalid("expects user id"));
        }
        let u = kaos.accounts().account(&user_id)?;
        let account = user_table(lua, kaos, &u)?;
        account.set("user", user_table(lua, kaos, &u)?)?;
        account.set("wallet", stored(lua, &u.wallet)?)?;
        account.set("email", u.email.as_deref())?;
        account.set("custom_id", u.custom_id.as_deref())?;
        let devices = lua.create_table()?;
        for d in &u.devices {
            let device = lua.create_table()?;
            device.set("id", d.as_str())?;
            devices.push(device)?;
        }
        account.set("devices", devices)?;
        Ok(account)
    })?;
    m.service(t, "account_update_id", |lua, kaos, args: AccountArgs| {
        let (user_id, metadata, username, display_name, timezone, location, lang_tag, avatar_url) = args;
        let given = |s: Option<String>| s.filter(|s| !s.is_empty());
        let update = kaosnet::accounts::AccountUpdate {
            username: given(username),
            display_name: given(display_name),
            avatar_url: given(avatar_url),
            lang_tag: given(lang_tag),
            location: given(location),
            timezone: given(timezone),
            metadata: if metadata.is_nil() { None } else { Some(lua_to_json(lua, metadata)?) },
        };
        Ok(kaos.accounts().update_account(&user_id, update)?)
    })?;
    m.service(t, "users_get_id", |lua, kaos, (ids, _facebook): (Option<Vec<String>>, Value)| {
        let out = lua.create_table()?;
        for u in kaos.accounts().users(&ids.unwrap_or_default(), &[])? {
            out.push(user_table(lua, kaos, &u)?)?;
        }
        Ok(out)
    })?;
    m.service(t, "users_get_username", |lua, kaos, names: Option<Vec<String>>| {
        let names = names.ok_or_else(|| invalid("invalid username list"))?;
        let out = lua.create_table()?;
        for u in kaos.accounts().users(&[], &names)? {
            out.push(user_table(lua, kaos, &u)?)?;
        }
        Ok(out)
    })
}

fn wallets(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(
        t,
        "wallet_update",
        |lua, kaos, (user_id, changeset, metadata, ledger): (String, Table, Value, Option<bool>)| {
            let mut changes = std::collections::BTreeMap::new();
            for pair in changeset.pairs::<String, Value>() {
                let (name, amount) = pair?;
                let amount = match amount {
                    Value::Integer(n) => n,
                    Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => n as i64,
                    _ => return Err(invalid(&format!("wallet changeset value for '{name}' must be a whole number"))),
                };
                changes.insert(name, amount);
            }
            let metadata = if metadata.is_nil() { serde_json::Value::Null } else { lua_to_json(lua, metadata)? };
            let change = kaos.accounts().update_wallet(&user_id, &changes, &metadata, ledger.unwrap_or(false))?;
            Ok((stored(lua, &change.updated)?, stored(lua, &change.previous)?))
        },
    )?;
    m.service(t, "wallet_ledger_list", |lua, kaos, (user_id, limit): (String, Option<usize>)| {
        let items = lua.create_table()?;
        for e in kaos.accounts().wallet_ledger(&user_id, limit.unwrap_or(100))? {
            let item = lua.create_table()?;
            item.set("id", e.id)?;
            item.set("user_id", e.user_id)?;
            item.set("create_time", e.create_time)?;
            item.set("update_time", e.create_time)?;
            item.set("changeset", stored(lua, &e.changeset)?)?;
            item.set("metadata", stored(lua, &e.metadata)?)?;
            items.push(item)?;
        }
        Ok(items)
    })
}

fn sort_order(name: Option<&str>) -> Result<SortOrder, Refused> {
    match name {
        None | Some("" | "desc" | "descending") => Ok(SortOrder::Descending),
        Some("asc" | "ascending") => Ok(SortOrder::Ascending),
        Some(other) => Err(invalid(&format!("expects sort order to be 'asc' or 'desc', got {other:?}"))),
    }
}

fn metadata_text(lua: &Lua, v: Value) -> Result<String, Refused> {
    Ok(match v {
        Value::Nil => String::new(),
        v => lua_to_json(lua, v)?.to_string(),
    })
}

/// `(id, owner_ids, limit, cursor, expiry)` of the record listings.
type ListArgs = (String, Option<Vec<String>>, Option<i64>, Option<String>, Option<i64>);
/// `(id, owner_id, username, score, subscore, metadata, operator)` of the record writes.
type RecordWrite = (String, String, Option<String>, Option<i64>, Option<i64>, Value, Option<String>);
/// `(user_id, metadata, username, display_name, timezone, location, lang_tag, avatar_url)`.
type AccountArgs =
    (String, Value, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);

fn records_request(
    (owners, limit, cursor, expiry): (Option<Vec<String>>, Option<usize>, Option<String>, Option<i64>),
) -> RecordsRequest {
    RecordsRequest { owner_ids: owners.unwrap_or_default(), limit, cursor: cursor.filter(|c| !c.is_empty()), expiry }
}

type BoardArgs = (String, Option<bool>, Option<String>, Option<String>, Option<String>, Value);

fn leaderboards(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "leaderboard_create", |lua, kaos, (id, authoritative, sort, op, reset, metadata): BoardArgs| {
        let config = LeaderboardConfig {
            id,
            authoritative: authoritative.unwrap_or(false),
            sort_order: sort_order(sort.as_deref())?,
            operator: operator(op.as_deref())?.unwrap_or_default(),
            reset_schedule: reset.filter(|r| !r.is_empty()),
            metadata: metadata_text(lua, metadata)?,
        };
        kaos.leaderboards().create(config)?;
        Ok(())
    })?;
    m.service(t, "leaderboard_delete", |_, kaos, id: String| {
        kaos.leaderboards().delete(&id)?;
        Ok(())
    })?;
    m.service(t, "leaderboard_record_write", |lua, kaos, (id, owner, name, score, sub, meta, op): RecordWrite| {
        let (score, subscore) = (score.unwrap_or(0), sub.unwrap_or(0));
        if score < 0 || subscore < 0 {
            return Err(invalid("expects score and subscore to be non-negative"));
        }
        let metadata = Some(metadata_text(lua, meta)?).filter(|m| !m.is_empty());
        let s = Submission { score, subscore, metadata, operator: operator(op.as_deref())? };
        let record = kaos.leaderboards().submit(&id, &owner, &name.unwrap_or_default(), s)?;
        Ok(record_table(lua, &record)?)
    })?;
    m.service(t, "leaderboard_records_list", |lua, kaos, args: ListArgs| {
        let (id, owners, limit, cursor, expiry) = args;
        if owners.as_ref().is_some_and(Vec::is_empty) {
            return Ok(mlua::MultiValue::from_iter([Value::Table(lua.create_table()?)]));
        }
        let limit = match limit.unwrap_or(0) {
            0 => None,
            n @ 1..=10_000 => Some(n as usize),
            _ => return Err(invalid("limit must be 0-10000")),
        };
        let page = kaos.leaderboards().list_records(&id, records_request((owners, limit, cursor, expiry)))?;
        mlua::IntoLuaMulti::into_lua_multi(
            (
                records_table(lua, &page.records)?,
                records_table(lua, &page.owner_records)?,
                page.next_cursor,
                page.prev_cursor,
                page.rank_count,
            ),
            lua,
        )
        .map_err(Refused::Lua)
    })
}

fn tournaments(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "tournament_create", |lua, kaos, args: mlua::Variadic<Value>| {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Value::Nil);
        let text = |i: usize| -> Result<Option<String>, Refused> {
            Ok(match arg(i) {
                Value::Nil => None,
                v => Some(lua.unpack::<String>(v)?),
            })
        };
        let int = |i: usize| -> Result<i64, Refused> {
            Ok(match arg(i) {
                Value::Nil => 0,
                v => lua.unpack::<i64>(v)?,
            })
        };
        let duration = int(4)?;
        if duration <= 0 {
            return Err(invalid("duration must be > 0"));
        }
        let board = LeaderboardConfig {
            id: text(0)?.unwrap_or_default(),
            authoritative: !matches!(arg(1), Value::Boolean(false)),
            sort_order: sort_order(text(2)?.as_deref())?,
            operator: operator(text(3)?.as_deref())?.unwrap_or_default(),
            reset_schedule: text(5)?.filter(|r| !r.is_empty()),
            metadata: metadata_text(lua, arg(6))?,
        };
        let category =
            u32::try_from(int(9)?).ok().filter(|c| *c <= 127).ok_or_else(|| invalid("category must be 0-127"))?;
        let rules = TournamentRules {
            title: text(7)?.unwrap_or_default(),
            description: text(8)?.unwrap_or_default(),
            category,
            start_time: int(10)?,
            end_time: int(11)?,
            duration,
            max_size: u32::try_from(int(12)?).map_err(|_| invalid("max_size must be >= 0"))?,
            max_num_score: i32::try_from(int(13)?).map_err(|_| invalid("max_num_score is out of range"))?,
            join_required: matches!(arg(14), Value::Boolean(true)),
        };
        kaos.leaderboards().create_tournament(TournamentConfig { board, rules })?;
        Ok(())
    })?;
    m.service(t, "tournament_delete", |_, kaos, id: String| {
        kaos.leaderboards().delete(&id)?;
        Ok(())
    })?;
    m.service(t, "tournament_add_attempt", |_, kaos, (id, owner, count): (String, String, i32)| {
        kaos.leaderboards().add_tournament_attempts(&id, &owner, count)?;
        Ok(())
    })?;
    m.service(t, "tournament_join", |_, kaos, (id, user, name): (String, String, String)| {
        if name.is_empty() {
            return Err(invalid("expects a username"));
        }
        kaos.leaderboards().join_tournament(&id, &user, &name)?;
        Ok(())
    })?;
    m.service(t, "tournament_record_write", |lua, kaos, (id, owner, name, score, sub, meta, op): RecordWrite| {
        let metadata = Some(metadata_text(lua, meta)?).filter(|m| !m.is_empty());
        let op = op.map(|o| o.to_lowercase()).filter(|o| o != "no_override");
        let s = Submission {
            score: score.unwrap_or(0),
            subscore: sub.unwrap_or(0),
            metadata,
            operator: operator(op.as_deref())?,
        };
        let record = kaos.leaderboards().submit_tournament(&id, &owner, &name.unwrap_or_default(), s)?;
        Ok(record_table(lua, &record)?)
    })?;
    m.service(t, "tournament_records_list", |lua, kaos, args: ListArgs| {
        let (id, owners, limit, cursor, expiry) = args;
        let limit = limit.filter(|n| *n > 0).map(|n| n as usize);
        let page = kaos.leaderboards().list_records(&id, records_request((owners, limit, cursor, expiry)))?;
        mlua::IntoLuaMulti::into_lua_multi(
            (
                records_table(lua, &page.records)?,
                records_table(lua, &page.owner_records)?,
                page.next_cursor,
                page.prev_cursor,
            ),
            lua,
        )
        .map_err(Refused::Lua)
    })
}

fn outgoing(
    lua: &Lua,
    user_id: String,
    subject: String,
    content: Value,
    code: i64,
    sender: Option<String>,
    persistent: bool,
) -> Result<Outgoing, Refused> {
    if uuid::Uuid::parse_str(&user_id).is_err() {
        return Err(invalid("expects user_id to be a valid UUID"));
    }
    if !(code > 0 || (-2000..=-1000).contains(&code)) {
        return Err(invalid("expects code to be > 0 or in the reserved range -2000 to -1000"));
    }
    let content = match content {
        Value::Nil => serde_json::json!({}),
        v => lua_to_json(lua, v)?,
    };
    Ok(Outgoing {
        user_id,
        subject,
        content,
        code: i32::try_from(code).map_err(|_| invalid("code is out of range"))?,
        sender_id: sender.filter(|s| !s.is_empty() && s != SYSTEM_USER),
        persistent,
    })
}

fn notifications(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    type Send = (String, String, Value, i64, Option<String>, Option<bool>);
    m.service(t, "notification_send", |lua, kaos, (user, subject, content, code, sender, persistent): Send| {
        let n = outgoing(lua, user, subject, content, code, sender, persistent.unwrap_or(false))?;
        kaos.notifications().send(n)?;
        Ok(())
    })?;
    m.service(t, "notifications_send", |lua, kaos, list_table: Table| {
        let mut all = Vec::new();
        for n in list(&list_table) {
            let n = n?;
            all.push(outgoing(
                lua,
                n.get("user_id")?,
                n.get("subject")?,
                n.get("content")?,
                n.get("code")?,
                n.get("sender_id")?,
                n.get::<Option<bool>>("persistent")?.unwrap_or(false),
            )?);
        }
        kaos.notifications().send_all(all)?;
        Ok(())
    })
}
