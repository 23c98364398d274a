//! Parties: a leader and members who stay together between matches. Open parties take
//! whoever joins; closed ones queue join requests for the leader to accept or remove.
//! Members exchange `party_data`, follow the leader (who can promote someone else,
//! remove members, close the party) and matchmake as one ticket. When the leader leaves,
//! the longest-standing member leads; when the last member leaves, the party ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::error::ApiError;
use crate::matches::authoritative::NODE;
use crate::matchmaker::{presence_of, TicketSpec};
use crate::presence::router;
use crate::presence::tracker::{Presence, Stream, StreamMode};
use crate::presence::{Frame, SessionId};
use crate::protobuf::realtime::{self, envelope::Message};
use crate::socket::{Answer, DataSend, Failure, SocketSession};
use crate::KaosNet;

/// Largest party.
pub const MAX_SIZE: usize = 256;

#[derive(Debug, Clone)]
struct Party {
    open: bool,
    max_size: usize,
    leader: Presence,
    /// Members in the order they joined (the leader among them).
    members: Vec<Presence>,
    requests: Vec<Presence>,
}

/// Every party.
#[derive(Debug, Default)]
pub struct Parties {
    parties: Mutex<HashMap<String, Party>>,
}

fn stream(uuid: &str) -> Stream {
    Stream { mode: StreamMode::Party, subject: uuid.into(), subcontext: String::new(), label: NODE.into() }
}

fn uuid_of(party_id: &str) -> Result<String, ApiError> {
    let bad = || ApiError::invalid("Invalid party ID.");
    let (uuid, node) = party_id.split_once('.').ok_or_else(bad)?;
    if node != NODE {
        return Err(bad());
    }
    Ok(uuid::Uuid::parse_str(uuid).map_err(|_| bad())?.to_string())
}

/// The party as `me` sees it.
fn party_message(id: &str, p: &Party, me: &Presence) -> Message {
    Message::Party(realtime::Party {
        party_id: id.to_string(),
        open: p.open,
        // At most MAX_SIZE.
        max_size: i32::try_from(p.max_size).unwrap_or(i32::MAX),
        self_: Some(me.to_proto()),
        leader: Some(p.leader.to_proto()),
        presences: p.members.iter().map(Presence::to_proto).collect(),
    })
}

/// The party's leader, as its members hear of it.
fn leader_message(id: &str, leader: &Presence) -> Message {
    Message::PartyLeader(realtime::PartyLeader { party_id: id.to_string(), presence: Some(leader.to_proto()) })
}

/// The presence a client names, found among `list` by session.
fn named(list: &[Presence], named: Option<&realtime::UserPresence>) -> Result<Presence, ApiError> {
    let session =
        named.and_then(|p| SessionId::parse(&p.session_id)).ok_or_else(|| ApiError::invalid("Invalid presence."))?;
    list.iter()
        .find(|p| p.session == session)
        .cloned()
        .ok_or_else(|| ApiError::invalid("No such presence in the party."))
}

/// The party a message names.
fn party_of(message: &Message) -> Option<&str> {
    Some(match message {
        Message::PartyJoin(m) => &m.party_id,
        Message::PartyLeave(m) => &m.party_id,
        Message::PartyPromote(m) => &m.party_id,
        Message::PartyAccept(m) => &m.party_id,
        Message::PartyRemove(m) => &m.party_id,
        Message::PartyClose(m) => &m.party_id,
        Message::PartyJoinRequestList(m) => &m.party_id,
        Message::PartyMatchmakerAdd(m) => &m.party_id,
        Message::PartyMatchmakerRemove(m) => &m.party_id,
        _ => return None,
    })
}

impl Parties {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Party>> {
        self.parties.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many parties exist.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// A member (or would-be member) left: out of the party, a new leader if needed, the
    /// party gone with its last member.
    pub(crate) fn left(&self, kaos: &KaosNet, uuid: &str, who: &Presence) {
        let mut parties = self.lock();
        let Some(p) = parties.get_mut(uuid) else { return };
        p.requests.retain(|r| r.session != who.session);
        let before = p.members.len();
        p.members.retain(|m| m.session != who.session);
        if p.members.len() == before {
            return;
        }
        // A closed session is off the stream (and announced) already.
        let was_on = kaos.tracker().untrack(&stream(uuid), who.session).is_some();
        let id = format!("{uuid}.{NODE}");
        // The party's tickets were made for its old line-up.
        kaos.matchmaker.remove_party(&id);
        if p.members.is_empty() {
            parties.remove(uuid);
            return;
        }
        if was_on {
            kaos.notifier.announce(&stream(uuid), &[], std::slice::from_ref(who), None);
        }
        if p.leader.session == who.session {
            p.leader = p.members[0].clone();
            kaos.notifier.to_stream(&stream(uuid), leader_message(&id, &p.leader), None);
        }
    }

    fn leader_only(p: &Party, session: &SocketSession) -> Result<(), ApiError> {
        if p.leader.session != session.id {
            return Err(ApiError::invalid("Only the party leader may do that."));
        }
        Ok(())
    }

    /// Puts `who` in the party; the presence event of its join, for `who` after its
    /// answer (the other members have had theirs).
    fn admit(kaos: &KaosNet, uuid: &str, p: &mut Party, who: Presence) -> Result<Option<Message>, ApiError> {
        if p.members.len() >= p.max_size {
            return Err(ApiError::invalid("The party is full."));
        }
        p.requests.retain(|r| r.session != who.session);
        if !kaos.tracker().track(&stream(uuid), who.clone()) {
            return Ok(None);
        }
        kaos.matchmaker.remove_party(&format!("{uuid}.{NODE}"));
        p.members.push(who.clone());
        Ok(kaos.notifier.announce_join(&stream(uuid), &who))
    }
}

/// `party_create`: a party led by its creator.
fn create(kaos: &KaosNet, me: Presence, open: bool, max_size: i32) -> Result<Answer, Failure> {
    let max_size = usize::try_from(max_size).unwrap_or(0);
    if !(1..=MAX_SIZE).contains(&max_size) {
        return Err(Failure::bad_input(format!("max_size must be 1 to {MAX_SIZE}.")));
    }
    let uuid = uuid::Uuid::new_v4().to_string();
    let party = Party { open, max_size, leader: me.clone(), members: vec![me.clone()], requests: vec![] };
    kaos.tracker().track(&stream(&uuid), me.clone());
    let answer = party_message(&format!("{uuid}.{NODE}"), &party, &me);
    kaos.parties.lock().insert(uuid.clone(), party);
    // The creator hears of its own join, as every joiner does.
    let own_event = router::presence_event(&stream(&uuid), std::slice::from_ref(&me), &[]);
    Ok(Answer::ReplyThen(answer, own_event.map(Box::new)))
}

/// `party_*` messages from the socket.
pub(crate) fn socket(kaos: &KaosNet, session: &SocketSession, message: Message) -> Result<Answer, Failure> {
    let me = presence_of(session);
    let party_id = match message {
        Message::PartyCreate(m) => return create(kaos, me, m.open, m.max_size),
        Message::PartyDataSend(m) => return send_data(kaos, session, m.into()).map(|()| Answer::Silent),
        ref message => party_of(message).ok_or_else(Failure::unrecognized)?.to_string(),
    };
    let uuid = uuid_of(&party_id)?;
    let mut parties = kaos.parties.lock();
    let Some(p) = parties.get_mut(&uuid) else { return Err(Failure::bad_input("Party not found.")) };
    let member = p.members.iter().any(|m| m.session == session.id);
    match message {
        Message::PartyJoin(_) => {
            if member {
                return Ok(Answer::Reply(party_message(&party_id, p, &me)));
            }
            if p.open {
                let own_event = Parties::admit(kaos, &uuid, p, me.clone())?;
                return Ok(Answer::ReplyThen(party_message(&party_id, p, &me), own_event.map(Box::new)));
            }
            if p.requests.len() >= MAX_SIZE {
                return Err(Failure::bad_input("Too many join requests."));
            }
            if !p.requests.iter().any(|r| r.session == session.id) {
                p.requests.push(me.clone());
            }
            let request = realtime::PartyJoinRequest { party_id, presences: vec![me.to_proto()] };
            kaos.notifier.to_sessions([p.leader.session], Message::PartyJoinRequest(request));
            Ok(Answer::Ack)
        }
        Message::PartyLeave(_) => {
            drop(parties);
            kaos.parties.left(kaos, &uuid, &me);
            Ok(Answer::Ack)
        }
        _ if !member => Err(Failure::bad_input("Not a member of this party.")),
        Message::PartyJoinRequestList(_) => {
            Parties::leader_only(p, session)?;
            let presences = p.requests.iter().map(Presence::to_proto).collect();
            Ok(Answer::Reply(Message::PartyJoinRequest(realtime::PartyJoinRequest { party_id, presences })))
        }
        Message::PartyAccept(m) => {
            Parties::leader_only(p, session)?;
            let who = named(&p.requests, m.presence.as_ref())?;
            let own_event = Parties::admit(kaos, &uuid, p, who.clone())?;
            // The party and the own join's event together, in that order.
            let party = Frame::from_message(party_message(&party_id, p, &who));
            let frames = std::iter::once(party).chain(own_event.map(Frame::from_message));
            kaos.sessions().send_all(who.session, frames.map(Arc::new));
            Ok(Answer::Ack)
        }
        Message::PartyPromote(m) => {
            Parties::leader_only(p, session)?;
            p.leader = named(&p.members, m.presence.as_ref())?;
            let leader = leader_message(&party_id, &p.leader);
            kaos.notifier.to_stream(&stream(&uuid), leader.clone(), Some(session.id));
            Ok(Answer::Reply(leader))
        }
        Message::PartyRemove(m) => {
            Parties::leader_only(p, session)?;
            if let Ok(requester) = named(&p.requests, m.presence.as_ref()) {
                p.requests.retain(|r| r.session != requester.session);
                return Ok(Answer::Ack);
            }
            let who = named(&p.members, m.presence.as_ref())?;
            if who.session == session.id {
                return Err(Failure::bad_input("The leader leaves with party_leave."));
            }
            drop(parties);
            // The removed member hears it too, before they are off the stream.
            let event = realtime::PartyPresenceEvent {
                party_id: party_id.clone(),
                joins: vec![],
                leaves: vec![who.to_proto()],
            };
            kaos.notifier.to_sessions([who.session], Message::PartyPresenceEvent(event));
            kaos.parties.left(kaos, &uuid, &who);
            Ok(Answer::Ack)
        }
        Message::PartyClose(_) => {
            Parties::leader_only(p, session)?;
            let gone = parties.remove(&uuid);
            drop(parties);
            let close = Message::PartyClose(realtime::PartyClose { party_id: party_id.clone() });
            kaos.notifier.to_stream(&stream(&uuid), close, Some(session.id));
            for m in gone.map(|p| p.members).unwrap_or_default() {
                kaos.tracker().untrack(&stream(&uuid), m.session);
            }
            kaos.matchmaker.remove_party(&party_id);
            Ok(Answer::Ack)
        }
        Message::PartyMatchmakerAdd(m) => {
            Parties::leader_only(p, session)?;
            let members = p.members.clone();
            drop(parties);
            let spec = TicketSpec::from_message(realtime::MatchmakerAdd {
                min_count: m.min_count,
                max_count: m.max_count,
                query: m.query,
                string_properties: m.string_properties,
                numeric_properties: m.numeric_properties,
                count_multiple: m.count_multiple,
            })?;
            let ticket = kaos.matchmaker.add_ticket(members, Some(party_id.clone()), spec)?;
            let answer = Message::PartyMatchmakerTicket(realtime::PartyMatchmakerTicket { party_id, ticket });
            kaos.notifier.to_stream(&stream(&uuid), answer.clone(), Some(session.id));
            Ok(Answer::Reply(answer))
        }
        Message::PartyMatchmakerRemove(m) => {
            Parties::leader_only(p, session)?;
            drop(parties);
            kaos.matchmaker.remove(&m.ticket, |t| t.party_id.as_deref() == Some(m.party_id.as_str()))?;
            Ok(Answer::Ack)
        }
        _ => Err(Failure::unrecognized()),
    }
}

/// `party_data_send`: data for the other members, relayed with the bytes encoded once
/// per wire format.
pub(crate) fn send_data(kaos: &KaosNet, session: &SocketSession, m: DataSend) -> Result<(), Failure> {
    let uuid = uuid_of(&m.to)?;
    let parties = kaos.parties.lock();
    let Some(p) = parties.get(&uuid) else { return Err(Failure::bad_input("Party not found.")) };
    if !p.members.iter().any(|m| m.session == session.id) {
        return Err(Failure::bad_input("Not a member of this party."));
    }
    if m.data.len() > crate::matches::MAX_DATA {
        return Err(Failure::bad_input("data is too large"));
    }
    let others = kaos.tracker().others(&stream(&uuid), session.id).unwrap_or_default();
    let event =
        realtime::PartyData { party_id: m.to, presence: Some(session.presence()), op_code: m.op_code, data: m.data };
    kaos.notifier.deliver(&others, Frame::from_message(realtime::envelope::Message::PartyData(event)));
    Ok(())
}
