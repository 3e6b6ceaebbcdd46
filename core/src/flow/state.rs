//! What the table stores per session: [`Flow`] (key, flags, TCP state, ids, times, and a
//! [`DirState`] per [`Dir`]ection), its [`flag`] bits and [`TcpState`]. The layout is part of
//! the per-packet cost: a `Flow` is 120 bytes, so that with its table links a slot is two
//! cache lines.

use super::key::FlowKey;
use super::wheel::Links;
use super::EndReason;

/// Direction within a flow: from the client (who sent the SYN) or from the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    FromClient = 0,
    FromServer = 1,
}

impl Dir {
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }
    #[inline]
    pub fn other(self) -> Dir {
        match self {
            Dir::FromClient => Dir::FromServer,
            Dir::FromServer => Dir::FromClient,
        }
    }
}

/// TCP connection state as the appliance tracks it (one enum for the whole session).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TcpState {
    /// UDP, ICMP, other IP protocols: no state, one timeout.
    #[default]
    NonTcp,
    /// The client's SYN was seen.
    SynSent,
    /// The server's SYN-ACK was seen.
    SynReceived,
    /// Handshake done (or a mid-stream pick-up).
    Established,
    /// One side sent FIN.
    HalfClosed,
    /// Both sides sent FIN, or a RST was seen: kept briefly to absorb stragglers.
    Closed,
}

/// Per-direction state and counters. 24 bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct DirState {
    pub bytes: u64,
    pub pkts: u32,
    /// Highest sequence number sent + 1 (covers SYN/FIN), valid once `SEQ_VALID` is set.
    pub next_seq: u32,
    /// Last TSval sent in this direction (0: none seen).
    pub ts_val: u32,
    /// Last window advertised (unscaled).
    pub window: u16,
    /// MSS announced in this direction's SYN, as it left the appliance (0: none).
    pub mss: u16,
}

/// Flag bits of `Flow::flags`.
pub mod flag {
    /// The client's address/port is the key's `a` side.
    pub const CLIENT_IS_A: u16 = 1 << 0;
    pub const SYN_SEEN: u16 = 1 << 1;
    pub const SYNACK_SEEN: u16 = 1 << 2;
    /// Flow picked up mid-stream (no SYN seen): roles from the ports it arrived on.
    pub const MIDSTREAM: u16 = 1 << 3;
    pub const FIN_FROM_CLIENT: u16 = 1 << 4;
    pub const FIN_FROM_SERVER: u16 = 1 << 5;
    pub const SEQ_VALID_CLIENT: u16 = 1 << 6;
    pub const SEQ_VALID_SERVER: u16 = 1 << 7;
    pub const MSS_INSERTED_CLIENT: u16 = 1 << 8;
    pub const MSS_INSERTED_SERVER: u16 = 1 << 9;
    pub const MSS_CLAMPED_CLIENT: u16 = 1 << 10;
    pub const MSS_CLAMPED_SERVER: u16 = 1 << 11;
    /// The session's record has been emitted (or must not be).
    pub const LOGGED: u16 = 1 << 12;
    /// Accumulation reached its decision for this session (inspected and released, passed as
    /// non-TLS, bypassed, released or reset over budget): later client data is never held.
    pub const ACC_DONE: u16 = 1 << 13;
    /// The three-way handshake was seen in both directions (ACK of the SYN-ACK seen).
    pub const HANDSHAKE_BOTH: u16 = 1 << 14;
    /// The accumulator holds state for this session (keyed by the flow's index).
    pub const ACCUMULATING: u16 = 1 << 15;
}

/// One tracked session. 120 bytes: with its table links a slot is two cache lines.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Flow {
    pub key: FlowKey,
    pub flags: u16,
    pub state: TcpState,
    /// `EndReason` as u8, 0 while the session has not ended.
    pub(super) end: u8,
    /// Window scale shift per direction (0xff: none announced).
    pub wscale: [u8; 2],
    /// The per-worker session number (48 bits; the session id adds the worker's number).
    pub(super) seq_hi: u16,
    pub(super) seq_lo: u32,
    /// Worker clock (ms, wrapping at 2^32) when the first packet was seen; durations are
    /// exact for sessions younger than 49 days.
    pub start_ms: u32,
    /// Milliseconds since `start_ms` of the last packet.
    pub last_ms: u32,
    pub links: Links,
    pub dir: [DirState; 2],
}

const _: () = assert!(std::mem::size_of::<Flow>() == 120);

impl Flow {
    #[inline]
    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }
    #[inline]
    pub fn set(&mut self, f: u16) {
        self.flags |= f;
    }
    /// Direction of a packet whose source is the key's `a` side when `src_is_a`.
    #[inline]
    pub fn dir_of(&self, src_is_a: bool) -> Dir {
        if src_is_a == self.has(flag::CLIENT_IS_A) {
            Dir::FromClient
        } else {
            Dir::FromServer
        }
    }
    pub fn end_reason(&self) -> Option<EndReason> {
        EndReason::from_u8(self.end)
    }
    /// Record the first reason the session ended; later ones do not overwrite it.
    #[inline]
    pub fn end_with(&mut self, r: EndReason) {
        if self.end == 0 {
            self.end = r as u8;
        }
    }
    /// The session's number within its worker.
    pub fn seq(&self) -> u64 {
        (self.seq_hi as u64) << 32 | self.seq_lo as u64
    }
    /// The session id operators see: `worker << 48 | number`.
    pub fn session_id(&self, worker: u16) -> u64 {
        (worker as u64) << 48 | self.seq()
    }
    /// (client address, client port, server address, server port).
    pub fn endpoints(&self) -> ([u8; 16], u16, [u8; 16], u16) {
        let k = &self.key;
        if self.has(flag::CLIENT_IS_A) {
            (k.a, k.port_a, k.b, k.port_b)
        } else {
            (k.b, k.port_b, k.a, k.port_a)
        }
    }
}
