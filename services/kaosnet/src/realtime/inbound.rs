//! One inbound frame on a socket thread, on either transport: decoded into its typed
//! message ([`super::request`]), then handled here, or queued in the session's lane when
//! it may block or the lane is busy (replies keep the order of requests).

use super::envelope::handle;
use super::lanes::Lanes;
use super::request::decode;
use super::Frame;
use crate::socket::SocketSession;
use crate::KaosNet;

/// What a socket thread does with one inbound frame from `session`: the replies to send
/// it now (none when the message went to the session's lane, whose worker answers it).
/// Without `lanes` every message runs here (benchmarks, tools).
pub(crate) fn receive(kaos: &KaosNet, lanes: Option<&Lanes>, session: &SocketSession, data: &[u8]) -> Vec<Frame> {
    let request = decode(&kaos.hooks, session.format, data);
    let request = match lanes {
        Some(lanes) => match lanes.offer(session, request) {
            Some(here) => here,
            None => return Vec::new(),
        },
        None => request,
    };
    handle(kaos, session, request)
}
