//! Nakama's match dispatcher for Lua, made once per match: its functions queue what the
//! script asks (broadcasts, kicks, label changes) and the queue is applied to the match's
//! [`Dispatcher`] when the callback returns, in order, within the same tick.

use std::sync::{Arc, Mutex, PoisonError};

use kaosnet::matches::authoritative::MAX_LABEL;
use kaosnet::matches::Dispatcher;
use kaosnet::presence::tracker::Presence;
use mlua::{Lua, LuaString, Table};

/// What a script asked of the dispatcher; presences by session id.
pub(crate) enum Action {
    Broadcast { op_code: i64, data: Vec<u8>, targets: Option<Vec<String>>, sender: Option<String>, reliable: bool },
    Kick(Vec<String>),
    Label(String),
}

/// The queue the dispatcher's functions fill.
#[derive(Clone, Default)]
pub(crate) struct Actions(Arc<Mutex<Vec<Action>>>);

impl Actions {
    fn push(&self, a: Action) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(a);
    }

    /// Applies what was queued to `d` (presences not in the match are dropped).
    pub(crate) fn apply(&self, d: &mut Dispatcher<'_>) {
        let queued = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        if queued.is_empty() {
            return;
        }
        let present = d.presences();
        let find = |ids: &[String]| -> Vec<Presence> {
            present.iter().filter(|p| ids.iter().any(|id| *id == p.session.text())).cloned().collect()
        };
        for action in queued {
            match action {
                Action::Broadcast { op_code, data, targets, sender, reliable } => {
                    let targets = targets.map(|t| find(&t));
                    if targets.as_ref().is_some_and(Vec::is_empty) {
                        continue;
                    }
                    let from = sender.and_then(|s| find(std::slice::from_ref(&s)).pop());
                    d.broadcast(op_code, &data, targets.as_deref(), from.as_ref(), reliable);
                }
                Action::Kick(ids) => d.kick(&find(&ids)),
                Action::Label(label) => {
                    // Checked when queued; the length cannot fail here.
                    let _ = d.label_update(&label);
                }
            }
        }
    }

    /// Drops what a failed callback queued.
    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

/// The session ids of a list of presence tables.
fn sessions(list: &Table) -> mlua::Result<Vec<String>> {
    let mut out = Vec::new();
    for p in list.sequence_values::<Table>() {
        if let Some(s) = p?.get::<Option<String>>("session_id")? {
            out.push(s);
        }
    }
    Ok(out)
}

type BroadcastArgs = (i64, Option<LuaString>, Option<Table>, Option<Table>, Option<bool>);

/// The dispatcher table: `broadcast_message`, `broadcast_message_deferred`,
/// `match_kick`, `match_label_update`, called with a dot as in Nakama.
pub(crate) fn table(lua: &Lua, actions: &Actions, context: &Table) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let queue = actions.clone();
    let broadcast = lua.create_function(move |_, (op_code, data, presences, sender, reliable): BroadcastArgs| {
        let sender = match sender {
            Some(s) => s.get::<Option<String>>("session_id")?,
            None => None,
        };
        queue.push(Action::Broadcast {
            op_code,
            data: data.map(|s| s.as_bytes().to_vec()).unwrap_or_default(),
            targets: presences.map(|p| sessions(&p)).transpose()?,
            sender,
            reliable: reliable.unwrap_or(true),
        });
        Ok(())
    })?;
    t.set("broadcast_message", broadcast.clone())?;
    t.set("broadcast_message_deferred", broadcast)?;
    let queue = actions.clone();
    let kick = lua.create_function(move |_, list: Table| {
        queue.push(Action::Kick(sessions(&list)?));
        Ok(())
    })?;
    t.set("match_kick", kick)?;
    let queue = actions.clone();
    let context = context.clone();
    t.set(
        "match_label_update",
        lua.create_function(move |_, label: String| {
            if label.len() > MAX_LABEL {
                return Err(mlua::Error::RuntimeError(format!("labels are at most {MAX_LABEL} bytes")));
            }
            // As Nakama: the context shows the new label at once.
            context.raw_set("match_label", label.as_str())?;
            queue.push(Action::Label(label));
            Ok(())
        })?,
    )?;
    Ok(t)
}
