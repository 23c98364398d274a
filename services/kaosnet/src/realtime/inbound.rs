//! One inbound frame on a socket thread, on either transport: data messages
//! (`match_data_send`, `party_data_send`) go the typed way, straight from the frame's
//! bytes to the relayed event with no JSON tree; everything else becomes the JSON
//! envelope the dispatch table takes, on this thread or in the session's lane.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::envelope::{envelope, error};
use super::lanes::Lanes;
use super::protobuf::realtime::{envelope::Message, Envelope};
use crate::hooks::HookOperation;
use crate::socket::{DataPayload, DataSend, Failure, SocketError, SocketSession};
use crate::KaosNet;

/// What a socket thread does with one inbound frame from `session`: the replies to send
/// it now (none when the message went to the session's lane, whose worker answers it).
/// Without `lanes` every message runs here (benchmarks, tools).
pub(crate) fn receive(kaos: &KaosNet, lanes: Option<&Lanes>, session: &SocketSession, data: &[u8]) -> Vec<Value> {
    // Behind a busy lane (to keep the session's order), or with hooks to show it to, a
    // data message goes the JSON way too.
    let busy = lanes.is_some_and(|l| l.busy(session.id));
    let typed = !busy && !DATA_KINDS.iter().any(|k| kaos.hooks.has_any(k.name()));
    let json = match decode(session.format, data, typed) {
        Ok(Decoded::Data(kind, cid, message)) => return send_data(kaos, session, kind, cid, message),
        Ok(Decoded::Json(json)) => json,
        Err(refusal) => return vec![refusal],
    };
    if lanes.is_some_and(|l| l.offer(session, &json)) {
        return Vec::new();
    }
    envelope(kaos, session, &json)
}

/// The kinds taken typed.
const DATA_KINDS: [HookOperation; 2] = [HookOperation::MatchDataSend, HookOperation::PartyDataSend];

/// A frame as the socket thread takes it.
enum Decoded<'a> {
    /// A data message, typed.
    Data(HookOperation, Option<String>, DataSend),
    /// Any other message (or a data message the typed reading left to the JSON path,
    /// which answers its errors): the JSON envelope.
    Json(Cow<'a, [u8]>),
}

/// A frame in `format`, data messages typed if `typed`; the error envelope to answer for a
/// frame that does not decode.
fn decode(format: super::Format, data: &[u8], typed: bool) -> Result<Decoded<'_>, Value> {
    match format {
        super::Format::Json => match if typed { json_data(data) } else { None } {
            Some((kind, cid, message)) => Ok(Decoded::Data(kind, cid, message)),
            None => Ok(Decoded::Json(Cow::Borrowed(data))),
        },
        super::Format::Protobuf => {
            let unreadable = || error(None, SocketError::UnrecognizedPayload, "Could not parse message");
            let envelope = <Envelope as prost::Message>::decode(data).map_err(|_| unreadable())?;
            if !typed {
                return serde_json::to_vec(&envelope).map(|j| Decoded::Json(Cow::Owned(j))).map_err(|_| unreadable());
            }
            let cid = (!envelope.cid.is_empty()).then(|| envelope.cid.clone());
            match envelope.message {
                Some(Message::MatchDataSend(m)) => {
                    let presences = m.presences.into_iter().map(|p| p.session_id).collect();
                    let reliable = m.reliable.then_some(true);
                    let data = DataSend { to: m.match_id, op_code: m.op_code, data: m.data, presences, reliable };
                    Ok(Decoded::Data(HookOperation::MatchDataSend, cid, data))
                }
                Some(Message::PartyDataSend(m)) => {
                    let data = DataSend { to: m.party_id, op_code: m.op_code, data: m.data, ..DataSend::default() };
                    Ok(Decoded::Data(HookOperation::PartyDataSend, cid, data))
                }
                message => {
                    let envelope = Envelope { cid: envelope.cid, message };
                    serde_json::to_vec(&envelope).map(|j| Decoded::Json(Cow::Owned(j))).map_err(|_| unreadable())
                }
            }
        }
    }
}

/// A JSON envelope that is exactly one data message with a string cid or none, and whose
/// payload is valid; None sends anything else the JSON way, which answers its errors.
fn json_data(data: &[u8]) -> Option<(HookOperation, Option<String>, DataSend)> {
    let (kind, id) = match super::lanes::kind_of(data)? {
        b"match_data_send" | b"matchDataSend" => (HookOperation::MatchDataSend, "match_id"),
        b"party_data_send" | b"partyDataSend" => (HookOperation::PartyDataSend, "party_id"),
        _ => return None,
    };
    // Whole frame UTF-8, as the general path requires: fields skipped here are not read.
    let text = std::str::from_utf8(data).ok()?;
    let e: DataEnvelope<'_> = serde_json::from_str(text).ok()?;
    let (payload, other) = match kind {
        HookOperation::MatchDataSend => (e.match_data_send?, e.party_data_send),
        _ => (e.party_data_send?, e.match_data_send),
    };
    if other.is_some() {
        return None;
    }
    Some((kind, e.cid, payload.into_send(id).ok()?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataEnvelope<'a> {
    #[serde(default)]
    cid: Option<String>,
    #[serde(default, borrow, alias = "matchDataSend")]
    match_data_send: Option<DataPayload<'a>>,
    #[serde(default, borrow, alias = "partyDataSend")]
    party_data_send: Option<DataPayload<'a>>,
}

/// Counts, limits and runs a typed data message.
fn send_data(
    kaos: &KaosNet,
    session: &SocketSession,
    kind: HookOperation,
    cid: Option<String>,
    m: DataSend,
) -> Vec<Value> {
    kaos.metrics.socket_message(kind.name());
    let cid = cid.map(Value::String);
    if !kaos.limits.check_operation(&session.user_id, kind) {
        return vec![error(cid.as_ref(), SocketError::BadInput, "Too many requests, slow down.")];
    }
    let sent = match kind {
        HookOperation::MatchDataSend => crate::matches::send_data(kaos, session, m),
        _ => crate::parties::send_data(kaos, session, m),
    };
    match sent {
        Ok(()) => Vec::new(),
        Err(Failure { code, message }) => vec![error(cid.as_ref(), code, &message)],
    }
}
