//! Friends, groups and chat from server code, in both modules, with Nakama's names and
//! shapes: `friends_list`, `friends_add`, `group_create`, `group_user_join/leave`,
//! `group_users_list`, `user_groups_list`, `channel_id_build`, `channel_message_send`.

use kaosnet::groups::GroupSpec;
use kaosnet::store::Group;
use kaosnet::KaosNet;
use mlua::{Lua, Table, Value};

use super::nakama_data::user_table;
use super::Module;
use crate::convert::lua_to_json;
use crate::convert::stored;

/// `(id, limit, state, cursor)` of the listings.
type ListArgs = (String, Option<usize>, Option<i32>, Option<String>);
/// `(channel_id, content, sender_id, sender_username, persist)` of `channel_message_send`.
type SendArgs = (String, Value, Option<String>, Option<String>, Option<bool>);
/// `(user_id, username, ids, usernames)` of `friends_add`.
type AddArgs = (String, Option<String>, Option<Vec<String>>, Option<Vec<String>>);
/// `(user_id, name, creator_id, lang_tag, description, avatar_url, open, metadata, max_count)`.
type CreateArgs =
    (String, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<bool>, Value, Option<i64>);

fn group_table(lua: &Lua, g: &Group) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("id", g.id.as_str())?;
    t.set("creator_id", g.creator_id.as_str())?;
    t.set("name", g.name.as_str())?;
    t.set("description", g.description.as_str())?;
    t.set("avatar_url", g.avatar_url.as_str())?;
    t.set("lang_tag", g.lang_tag.as_str())?;
    t.set("metadata", stored(lua, &g.metadata)?)?;
    t.set("open", g.open)?;
    t.set("edge_count", g.edge_count)?;
    t.set("max_count", g.max_count)?;
    t.set("create_time", g.create_time)?;
    t.set("update_time", g.update_time)?;
    Ok(t)
}

/// `{ user = …, state = … }` rows and the next cursor, as Nakama's listings answer.
fn rows<T>(lua: &Lua, items: &[T], row: impl Fn(&T) -> mlua::Result<(Table, i32)>, key: &str) -> mlua::Result<Table> {
    let out = lua.create_table()?;
    for item in items {
        let (t, state) = row(item)?;
        let r = lua.create_table()?;
        r.set(key, t)?;
        r.set("state", state)?;
        out.push(r)?;
    }
    Ok(out)
}

pub(super) fn install(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "friends_list", |lua, kaos, (user_id, limit, state, cursor): ListArgs| {
        let page =
            kaos.friends().list(&user_id, state, limit.unwrap_or(100), cursor.as_deref().filter(|c| !c.is_empty()))?;
        let list = rows(lua, &page.friends, |(u, f)| Ok((user_table(lua, kaos, u)?, f.state)), "user")?;
        Ok((list, page.cursor))
    })?;
    m.service(t, "friends_add", |_, kaos, (user_id, _username, ids, names): AddArgs| {
        Ok(kaos.friends().add(&user_id, &ids.unwrap_or_default(), &names.unwrap_or_default())?)
    })?;
    m.service(t, "group_create", |lua, kaos, args: CreateArgs| {
        let (user_id, name, creator, lang_tag, description, avatar_url, open, metadata, max_count) = args;
        let defaults = GroupSpec::default();
        let spec = GroupSpec {
            name,
            description: description.unwrap_or_default(),
            avatar_url: avatar_url.unwrap_or_default(),
            lang_tag: lang_tag.unwrap_or_default(),
            metadata: if metadata.is_nil() { serde_json::json!({}) } else { lua_to_json(lua, metadata)? },
            open: open.unwrap_or(false),
            max_count: max_count.filter(|n| *n > 0).unwrap_or(defaults.max_count),
        };
        let creator = creator.filter(|c| !c.is_empty()).unwrap_or(user_id);
        let group = kaos.groups().create(&creator, spec)?;
        Ok(group_table(lua, &group)?)
    })?;
    m.service(t, "group_user_join", |_, kaos, (group_id, user_id, _name): (String, String, Option<String>)| {
        Ok(kaos.groups().join(&user_id, &group_id)?)
    })?;
    m.service(t, "group_user_leave", |_, kaos, (group_id, user_id, _name): (String, String, Option<String>)| {
        Ok(kaos.groups().leave(&user_id, &group_id)?)
    })?;
    m.service(t, "group_users_list", |lua, kaos, (group_id, limit, state, cursor): ListArgs| {
        let page =
            kaos.groups().users(&group_id, state, limit.unwrap_or(100), cursor.as_deref().filter(|c| !c.is_empty()))?;
        let list = rows(lua, &page.items, |(u, m)| Ok((user_table(lua, kaos, u)?, m.state)), "user")?;
        Ok((list, page.cursor))
    })?;
    m.service(t, "channel_id_build", |_, _, (sender, target, kind): (Option<String>, String, i32)| {
        Ok(kaosnet::chat::build_channel_id(&sender.unwrap_or_default(), &target, kind)?)
    })?;
    m.service(t, "channel_message_send", |lua, kaos, (channel_id, content, sender, username, persist): SendArgs| {
        let content = lua_to_json(lua, content)?.to_string();
        let sender = sender.filter(|s| !s.is_empty());
        let msg = kaos.chat().send_as_server(
            &channel_id,
            &content,
            sender.as_deref(),
            &username.unwrap_or_default(),
            persist.unwrap_or(true),
        )?;
        let ack = lua.create_table()?;
        ack.set("channel_id", msg.channel_id)?;
        ack.set("message_id", msg.id)?;
        ack.set("code", msg.code)?;
        ack.set("username", msg.username)?;
        ack.set("create_time", msg.create_time)?;
        ack.set("update_time", msg.update_time)?;
        ack.set("persistent", persist.unwrap_or(true))?;
        Ok(ack)
    })?;
    m.service(t, "user_groups_list", |lua, kaos: &KaosNet, (user_id, limit, state, cursor): ListArgs| {
        let page = kaos.groups().user_groups(
            &user_id,
            state,
            limit.unwrap_or(100),
            cursor.as_deref().filter(|c| !c.is_empty()),
        )?;
        let list = rows(lua, &page.items, |(g, m)| Ok((group_table(lua, g)?, m.state)), "group")?;
        Ok((list, page.cursor))
    })
}
