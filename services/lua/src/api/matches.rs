//! Matches from server code, in both modules: `match_create(module, params)`,
//! `match_list(limit, authoritative, label, min_size, max_size, query)`,
//! `match_get(id)` and `match_signal(id, data)`, with Nakama's shapes.

use kaosnet::matches::authoritative::MatchInfo;
use kaosnet::matches::listing::{list, MatchFilter};
use mlua::{Lua, Table, Value};

use super::{Module, Refused};
use crate::convert::lua_to_json;

fn info_table(lua: &Lua, m: &MatchInfo) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set("match_id", m.match_id.as_str())?;
    t.set("authoritative", m.authoritative)?;
    t.set("label", Some(m.label.as_str()).filter(|l| !l.is_empty()))?;
    t.set("size", m.size)?;
    t.set("tick_rate", Some(m.tick_rate).filter(|r| *r > 0))?;
    t.set("handler_name", Some(m.handler_name.as_str()).filter(|h| !h.is_empty()))?;
    Ok(t)
}

type ListArgs = (Option<i64>, Option<bool>, Option<String>, Option<i64>, Option<i64>, Option<String>);

pub(super) fn install(m: &Module<'_>, t: &Table) -> mlua::Result<()> {
    m.service(t, "match_create", |lua, kaos, (module, params): (String, Value)| {
        let params = match params {
            Value::Nil => serde_json::Value::Null,
            v @ Value::Table(_) => match lua_to_json(lua, v)? {
                o @ serde_json::Value::Object(_) => o,
                _ => {
                    let why = "expects params to be nil or a table of key-value pairs";
                    return Err(Refused::Api(kaosnet::ApiError::invalid(why)));
                }
            },
            _ => return Err(Refused::Api(kaosnet::ApiError::invalid("expects params to be nil or a table"))),
        };
        Ok(kaos.matches().create(kaos, &module, &params)?)
    })?;
    m.service(t, "match_list", |lua, kaos, (limit, authoritative, label, min, max, query): ListArgs| {
        let size = |n: Option<i64>, default: usize| n.map_or(default, |n| usize::try_from(n).unwrap_or(0));
        let filter = MatchFilter {
            limit: size(limit, 1),
            authoritative,
            label: label.filter(|l| !l.is_empty()),
            query: query.filter(|q| !q.is_empty()),
            min_size: size(min, 0),
            max_size: size(max, usize::MAX),
        };
        let out = lua.create_table()?;
        for info in list(kaos, &filter)? {
            out.push(info_table(lua, &info)?)?;
        }
        Ok(out)
    })?;
    m.service(t, "match_get", |lua, kaos, id: String| match kaos.matches().get(&id) {
        Some(info) => Ok(Value::Table(info_table(lua, &info)?)),
        None => Ok(Value::Nil),
    })?;
    m.service(t, "match_signal", |_, kaos, (id, data): (String, Option<String>)| {
        Ok(kaos.matches().signal(&id, &data.unwrap_or_default())?)
    })
}
