//! Nakama's stream functions on streams of custom modes (8 to 255):
//! `stream_user_join/leave`, `stream_user_list`, `stream_count`, `stream_send`,
//! `stream_close`. A stream is `{ mode =, subject =, subcontext =, label = }`.

use kaosnet::presence::tracker::{PresenceMeta, Stream};
use kaosnet::presence::SessionId;
use kaosnet::streams::custom_stream;
use mlua::{Lua, Table};

use super::{Module, Refused};

fn stream(t: &Table) -> Result<Stream, Refused> {
    let text = |k: &str| -> mlua::Result<String> { Ok(t.get::<Option<String>>(k)?.unwrap_or_default()) };
    let mode: i64 = t.get::<Option<i64>>("mode")?.unwrap_or(-1);
    Ok(custom_stream(mode, &text("subject")?, &text("subcontext")?, &text("label")?)?)
}

fn presence_table(lua: &Lua, p: &kaosnet::presence::tracker::Presence) -> mlua::Result<Table> {
    let t = crate::matches::presence_table(lua, p)?;
    t.set("hidden", p.meta.hidden)?;
    t.set("persistence", p.meta.persistence)?;
    t.set("status", p.meta.status.as_str())?;
    Ok(t)
}

type JoinArgs = (String, String, Table, Option<bool>, Option<bool>, Option<String>);

pub(super) fn install(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "stream_user_join", |_, kaos, (user_id, session_id, s, hidden, persistence, status): JoinArgs| {
        let meta = PresenceMeta {
            hidden: hidden.unwrap_or(false),
            persistence: persistence.unwrap_or(false),
            status: status.unwrap_or_default(),
        };
        Ok(kaos.streams().join(&user_id, &session_id, &stream(&s)?, meta)?)
    })?;
    m.service(t, "stream_user_leave", |_, kaos, (user_id, session_id, s): (String, String, Table)| {
        Ok(kaos.streams().leave(&user_id, &session_id, &stream(&s)?)?)
    })?;
    m.service(t, "stream_count", |_, kaos, s: Table| Ok(kaos.streams().count(&stream(&s)?)))?;
    m.service(t, "stream_user_list", |lua, kaos, (s, hidden, visible): (Table, Option<bool>, Option<bool>)| {
        let list = lua.create_table()?;
        for p in kaos.streams().list(&stream(&s)?, hidden.unwrap_or(true), visible.unwrap_or(true)) {
            list.push(presence_table(lua, &p)?)?;
        }
        Ok(list)
    })?;
    m.service(
        t,
        "stream_send",
        |_, kaos, (s, data, presences, reliable): (Table, String, Option<Table>, Option<bool>)| {
            let to = match presences {
                Some(list) => {
                    let mut ids = Vec::new();
                    for p in list.sequence_values::<Table>() {
                        if let Some(id) = p?.get::<Option<String>>("session_id")?.as_deref().and_then(SessionId::parse)
                        {
                            ids.push(id);
                        }
                    }
                    Some(ids)
                }
                None => None,
            };
            Ok(kaos.streams().send(&stream(&s)?, &data, to.as_deref(), reliable.unwrap_or(true))?)
        },
    )?;
    m.service(t, "stream_close", |_, kaos, s: Table| {
        kaos.streams().close(&stream(&s)?);
        Ok(())
    })
}
