//! Matches. Relayed ones (`match_create`, `match_join`, `match_leave`, `match_data_send`)
//! are streams the server relays between their members and keeps nothing else about;
//! ids look like `<uuid>.`. Authoritative ones (`<uuid>.kaos`) run server code: see
//! [`authoritative`].

pub mod authoritative;
pub mod listing;

pub use authoritative::{
    Dispatcher, MatchContext, MatchFactory, MatchHandler, MatchInfo, MatchInit, MatchMessage, MatchRegistry,
};

use serde_json::Value;

use crate::presence::router;
use crate::presence::tracker::{Presence, PresenceMeta, Stream, StreamMode};
use crate::presence::{Frame, SessionId};
use crate::protobuf::realtime::{self, envelope::Message, match_join};
use crate::socket::{Answer, DataSend, Failure, SocketError, SocketSession};
use crate::KaosNet;

/// Largest `data` a match message may carry, bytes (decoded).
pub const MAX_DATA: usize = 64 * 1024;

/// A match id, parsed: relayed `<uuid>.` or authoritative `<uuid>.kaos`.
fn stream_of(match_id: &str) -> Result<Stream, Failure> {
    let not_found = || Failure::new(SocketError::MatchNotFound, "Match not found");
    let (id, node) = match_id.split_once('.').ok_or_else(|| Failure::bad_input("Invalid match ID"))?;
    // Ids this server gave out are in canonical form already (lower case, hyphenated);
    // the uuid crate's reader takes the other forms.
    let id = if is_canonical(id) {
        id.to_string()
    } else {
        uuid::Uuid::parse_str(id).map_err(|_| Failure::bad_input("Invalid match ID"))?.hyphenated().to_string()
    };
    match node {
        "" => Ok(Stream::new(StreamMode::MatchRelayed, id)),
        authoritative::NODE => Ok(Stream {
            mode: StreamMode::MatchAuthoritative,
            subject: id,
            subcontext: String::new(),
            label: node.to_string(),
        }),
        _ => Err(not_found()),
    }
}

/// Whether `id` is a UUID as [`uuid::Uuid::hyphenated`] writes it.
fn is_canonical(id: &str) -> bool {
    let digit = |(i, b): (usize, u8)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
    };
    id.len() == 36 && id.bytes().enumerate().all(digit)
}

fn me(session: &SocketSession) -> Presence {
    Presence {
        session: session.id,
        user_id: session.user_id.clone(),
        username: session.username.clone(),
        meta: PresenceMeta::default(),
    }
}

/// The `match` answer: the match as `session` sees it after joining (`size` counts
/// everyone). As Nakama: a `new` joiner is left out of `presences`, a session that was in
/// the match already finds itself listed.
pub(crate) fn match_message(kaos: &KaosNet, stream: &Stream, session: SessionId, new: bool, label: &str) -> Message {
    let all = kaos.tracker().list(stream);
    Message::Match(realtime::Match {
        match_id: router::match_id(stream),
        authoritative: stream.mode == StreamMode::MatchAuthoritative,
        label: (!label.is_empty()).then(|| pbjson_types::StringValue { value: label.to_string() }),
        size: i32::try_from(all.len()).unwrap_or(i32::MAX),
        presences: all.iter().filter(|p| !(new && p.session == session)).map(Presence::to_proto).collect(),
        self_: all.iter().find(|p| p.session == session).map(Presence::to_proto),
    })
}

/// The stream of a new relayed match; a `name` gives the same match to everyone who
/// names it.
fn relayed_stream(name: Option<&str>) -> Stream {
    let id = match name.filter(|n| !n.is_empty()) {
        Some(n) => uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, n.as_bytes()),
        None => uuid::Uuid::new_v4(),
    };
    Stream::new(StreamMode::MatchRelayed, id.to_string())
}

/// Puts `session` in a relayed match and answers it: the match, then the presence event
/// of its own join if it is new (the others have had theirs).
fn join_relayed(kaos: &KaosNet, session: &SocketSession, stream: &Stream) -> Answer {
    let p = me(session);
    let new = kaos.tracker().track(stream, p.clone());
    let own_event = if new { kaos.notifier.announce_join(stream, &p) } else { None };
    Answer::ReplyThen(match_message(kaos, stream, session.id, new, ""), own_event.map(Box::new))
}

/// `match_*` messages from the socket (an authoritative match answers a join itself,
/// with the request's `cid`).
pub(crate) fn socket(
    kaos: &KaosNet,
    session: &SocketSession,
    message: Message,
    cid: Option<&Value>,
) -> Result<Answer, Failure> {
    match message {
        Message::MatchCreate(m) => Ok(join_relayed(kaos, session, &relayed_stream(Some(&m.name)))),
        Message::MatchJoin(m) => {
            let id = match m.id {
                Some(match_join::Id::MatchId(id)) if !id.is_empty() => id,
                Some(match_join::Id::Token(token)) => {
                    // A matchmaker token: its relayed match, made by the first to come.
                    let uuid =
                        kaos.matchmaker.redeem(&token).ok_or_else(|| Failure::bad_input("Invalid match token"))?;
                    let stream = Stream::new(StreamMode::MatchRelayed, uuid);
                    return Ok(join_relayed(kaos, session, &stream));
                }
                _ => return Err(Failure::bad_input("Match ID or token must be set")),
            };
            let stream = stream_of(&id)?;
            if stream.mode == StreamMode::MatchAuthoritative {
                kaos.matches.join(&id, me(session), m.metadata, cid.cloned())?;
                return Ok(Answer::Silent);
            }
            // A relayed match exists while someone is in it.
            if kaos.tracker().count(&stream) == 0 {
                return Err(Failure::new(SocketError::MatchNotFound, "Match not found"));
            }
            Ok(join_relayed(kaos, session, &stream))
        }
        Message::MatchLeave(m) => {
            let stream = stream_of(&m.match_id)?;
            if stream.mode == StreamMode::MatchAuthoritative {
                kaos.matches.leave(&m.match_id, me(session));
                return Ok(Answer::Ack);
            }
            if let Some(gone) = kaos.tracker().untrack(&stream, session.id) {
                kaos.notifier.announce(&stream, &[], &[gone], Some(session.id));
            }
            Ok(Answer::Ack)
        }
        Message::MatchDataSend(m) => send_data(kaos, session, m.into()).map(|()| Answer::Silent),
        _ => Err(Failure::unrecognized()),
    }
}

/// `match_data_send`: data for the other members of a match (or those named), relayed
/// with the bytes encoded once per wire format, or handed to an authoritative match.
pub(crate) fn send_data(kaos: &KaosNet, session: &SocketSession, m: DataSend) -> Result<(), Failure> {
    if m.data.len() > MAX_DATA {
        return Err(Failure::bad_input(format!("data is larger than {MAX_DATA} bytes")));
    }
    let stream = stream_of(&m.to)?;
    let Some(others) = kaos.tracker().others(&stream, session.id) else {
        return Err(Failure::new(SocketError::MatchNotFound, "Match not found or not a member"));
    };
    if stream.mode == StreamMode::MatchAuthoritative {
        let reliable = m.reliable.unwrap_or(true);
        let message = MatchMessage { sender: me(session), op_code: m.op_code, data: m.data, reliable };
        return kaos.matches.data(&m.to, message);
    }
    let targets: Vec<SessionId> = if m.presences.is_empty() {
        others
    } else {
        let wanted: Vec<SessionId> = m
            .presences
            .iter()
            .map(|p| SessionId::parse(p))
            .collect::<Option<_>>()
            .ok_or_else(|| Failure::bad_input("Invalid presence session ID"))?;
        let mut named: Vec<SessionId> = others.into_iter().filter(|s| wanted.contains(s)).collect();
        // As in Nakama, a sender gets its own data only when it names itself.
        if wanted.contains(&session.id) {
            named.push(session.id);
        }
        named
    };
    let event = realtime::MatchData {
        match_id: m.to,
        presence: Some(session.presence()),
        op_code: m.op_code,
        data: m.data,
        reliable: m.reliable.unwrap_or(false),
    };
    kaos.notifier.deliver(&targets, Frame::from_message(realtime::envelope::Message::MatchData(event)));
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_ids_are_those_the_uuid_crate_writes() {
        let id = uuid::Uuid::new_v4();
        let text = id.hyphenated().to_string();
        assert!(super::is_canonical(&text));
        for other in [
            text.to_uppercase(),
            id.simple().to_string(),
            id.braced().to_string(),
            id.urn().to_string(),
            text.replacen('-', "0", 1),
            format!("{}g", &text[..35]),
            text[..35].to_string(),
        ] {
            assert!(!super::is_canonical(&other), "{other}");
            if let Ok(parsed) = uuid::Uuid::parse_str(&other) {
                assert_eq!(parsed.hyphenated().to_string(), text, "read the slow way, the same id");
            }
        }
    }
}
