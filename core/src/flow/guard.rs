//! The normaliser in front of accumulation: a client segment of a session whose ClientHello
//! has not been judged yet reaches the flow state and the accumulator only if the server's
//! TCP would accept it too. Anything the server would discard (a bad checksum, an MD5
//! option it has no key for, no ACK flag, an ACK of data never sent, a SYN inside the
//! session, a sequence number outside the window, a RST not at the exact next sequence
//! number) is dropped here and counted, because what the appliance judges must be what the
//! server receives: a segment the server discards but the appliance believed is how decoys,
//! desynchronisation and teardown attacks get a denied hello through (Ptacek & Newsham's
//! insertion attacks; Handley, Paxson & Kreibich's normaliser).
//!
//! Only client→server segments of flows to an accumulated port, picked up from their SYN,
//! whose hello is not yet decided, are screened: the established-flow path never comes
//! here, so the cost is paid per session, not per frame. A segment the server would accept
//! is never refused: the rules follow Linux's `tcp_validate_incoming` and `tcp_ack`.

use super::tcp::window_bytes;
use super::{flag, Dir, Flow, TcpState};
use crate::packet::{self, Headers, TcpInfo};

/// Why a client segment was refused, each a counter (`dropped_<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The IPv4 header or TCP checksum is wrong (the server drops it).
    BadChecksum,
    /// A TCP MD5 signature (kind 19) or TCP-AO (kind 29) option: a server without the key
    /// drops the segment.
    Md5Option,
    /// A SYN-ACK from the client's side.
    SynAckFromClient,
    /// A SYN carrying data (TCP Fast Open or a decoy): the data would reach the server
    /// before anything could be judged. A Linux TFO client retransmits the SYN without data.
    SynData,
    /// A SYN inside an established session (RFC 5961 §4: the server answers with a
    /// challenge ACK and discards it).
    SynInSession,
    /// Data or FIN without the ACK flag (discarded by the server).
    NoAck,
    /// Data starting beyond the server's receive window.
    OutOfWindow,
    /// An ACK of data the server never sent, or older than its window (discarded).
    BadAck,
    /// A RST not at the exact next sequence number (RFC 5961 §3.2: challenge ACK).
    RstNotExact,
    /// A FIN beyond the client's next sequence number (out of order).
    FinOutOfOrder,
}

impl Refusal {
    pub const ALL: [Refusal; 10] = [
        Refusal::BadChecksum,
        Refusal::Md5Option,
        Refusal::SynAckFromClient,
        Refusal::SynData,
        Refusal::SynInSession,
        Refusal::NoAck,
        Refusal::OutOfWindow,
        Refusal::BadAck,
        Refusal::RstNotExact,
        Refusal::FinOutOfOrder,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub const fn name(self) -> &'static str {
        match self {
            Refusal::BadChecksum => "bad_checksum",
            Refusal::Md5Option => "tcp_md5_option",
            Refusal::SynAckFromClient => "synack_from_client",
            Refusal::SynData => "syn_with_data",
            Refusal::SynInSession => "syn_in_session",
            Refusal::NoAck => "no_ack_flag",
            Refusal::OutOfWindow => "out_of_window",
            Refusal::BadAck => "bad_ack",
            Refusal::RstNotExact => "rst_not_exact",
            Refusal::FinOutOfOrder => "fin_out_of_order",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Whether the segment's TCP options carry an MD5 signature (19) or TCP-AO (29).
fn has_auth_option(frame: &[u8], h: &Headers, t: &TcpInfo) -> bool {
    let start = usize::from(h.l4_offset) + 20;
    let end = usize::from(h.l4_offset) + usize::from(t.header_len);
    let Some(mut opts) = frame.get(start..end) else {
        return false;
    };
    while let [kind, rest @ ..] = opts {
        match kind {
            0 => return false,
            1 => opts = rest,
            19 | 29 => return true,
            _ => {
                let len = rest.first().map_or(0, |&l| usize::from(l));
                if len < 2 {
                    return false;
                }
                opts = opts.get(len..).unwrap_or(&[]);
            }
        }
    }
    false
}

/// Screen a client→server segment of flow `f` (parsed from `frame` as `h`, TCP fields `t`)
/// whose ClientHello is not judged yet. None: the server would accept it; go on.
#[inline(never)]
pub fn screen(frame: &[u8], h: &Headers, t: &TcpInfo, f: &Flow) -> Option<Refusal> {
    if !packet::verify_ip_header(frame, h) || !packet::verify_tcp_checksum(frame, h) {
        return Some(Refusal::BadChecksum);
    }
    if has_auth_option(frame, h, t) {
        return Some(Refusal::Md5Option);
    }
    let flags = t.flags;
    if flags.syn() {
        if flags.ack() {
            return Some(Refusal::SynAckFromClient);
        }
        if t.payload_len > 0 {
            return Some(Refusal::SynData);
        }
        if matches!(f.state, TcpState::Established | TcpState::HalfClosed) {
            return Some(Refusal::SynInSession);
        }
        return None;
    }
    if !flags.ack() && !flags.rst() {
        return Some(Refusal::NoAck);
    }
    let client = &f.dir[Dir::FromClient.index()];
    let server = &f.dir[Dir::FromServer.index()];
    if f.has(flag::SEQ_VALID_CLIENT) {
        let d = t.seq.wrapping_sub(client.next_seq) as i32;
        if flags.rst() {
            // A RST ends the session only at exactly the next sequence number.
            return (d != 0).then_some(Refusal::RstNotExact);
        }
        let window = window_bytes(f, Dir::FromServer);
        if d > 0 && d as u32 >= window {
            return Some(Refusal::OutOfWindow);
        }
        if flags.fin() && d > 0 {
            return Some(Refusal::FinOutOfOrder);
        }
    }
    if flags.ack() && f.has(flag::SEQ_VALID_SERVER) {
        let a = t.ack.wrapping_sub(server.next_seq) as i32;
        let max_window = window_bytes(f, Dir::FromClient).max(65_535);
        if a > 0 || a.unsigned_abs() > max_window {
            return Some(Refusal::BadAck);
        }
    }
    None
}
