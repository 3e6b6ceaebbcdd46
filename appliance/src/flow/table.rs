//! The per-worker flow table: a preallocated slab of flows, a `hashbrown::HashTable` of slab
//! indices keyed by the canonical flow key, a free list and the aging wheel. Nothing here
//! allocates after `FlowTable::new`.

use super::key::FlowKey;
use super::wheel::{HasLinks, Links, Wheel, NIL};
use super::{EndReason, Timeouts};
use hashbrown::HashTable;

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

/// One tracked session.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flow {
    pub key: FlowKey,
    pub id: u64,
    /// Worker clock (ms, wrapping at 2^32) when the first packet was seen; durations are
    /// exact for sessions younger than 49 days.
    pub start_ms: u32,
    pub dir: [DirState; 2],
    /// Milliseconds since `start_ms` of the last packet.
    pub last_ms: u32,
    pub links: Links,
    pub flags: u16,
    /// Window scale shift per direction (0xff: none announced).
    pub wscale: [u8; 2],
    pub state: TcpState,
    /// `EndReason` as u8, 0 while the session has not ended.
    pub end: u8,
}

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

/// Result of `FlowTable::lookup_or_insert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    Found(u32),
    Created(u32),
    /// The table is full.
    Full,
}

struct Slab(Vec<Flow>);

impl HasLinks for Slab {
    #[inline]
    fn links(&mut self, idx: u32) -> &mut Links {
        &mut self.0[idx as usize].links
    }
}

/// A worker's flows.
pub struct FlowTable {
    map: HashTable<u32>,
    slab: Slab,
    free: Vec<u32>,
    wheel: Wheel,
    pub timeouts: Timeouts,
    /// Timeouts in wheel ticks by `TcpState` (computed once: `touch` runs per packet).
    timeout_ticks: [u32; 6],
    next_id: u64,
    id_base: u64,
    /// Milliseconds of the worker clock at tick 0.
    pub capacity: u32,
}

impl FlowTable {
    /// A table for `capacity` flows; session ids are `worker << 48 | n`.
    pub fn new(capacity: u32, worker: u16, timeouts: Timeouts) -> FlowTable {
        let cap = capacity.max(1);
        FlowTable {
            map: HashTable::with_capacity(cap as usize),
            slab: Slab(vec![Flow::default(); cap as usize]),
            free: (0..cap).rev().collect(),
            wheel: Wheel::new(0),
            timeout_ticks: [
                TcpState::NonTcp,
                TcpState::SynSent,
                TcpState::SynReceived,
                TcpState::Established,
                TcpState::HalfClosed,
                TcpState::Closed,
            ]
            .map(|st| timeouts.ticks(st)),
            timeouts,
            next_id: 1,
            id_base: (worker as u64) << 48,
            capacity: cap,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Memory the table holds, in bytes (slab + hash index + free list).
    pub fn memory_bytes(&self) -> usize {
        let slots = self.map.capacity() + self.map.capacity() / 7 + 16;
        self.slab.0.capacity() * std::mem::size_of::<Flow>()
            + slots * (std::mem::size_of::<u32>() + 1)
            + self.free.capacity() * 4
    }

    #[inline]
    pub fn get(&self, idx: u32) -> &Flow {
        &self.slab.0[idx as usize]
    }
    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Flow {
        &mut self.slab.0[idx as usize]
    }

    /// Find the flow of `key`.
    #[inline]
    pub fn lookup(&self, key: &FlowKey, hash: u64) -> Option<u32> {
        let slab = &self.slab.0;
        self.map
            .find(hash, |&i| slab[i as usize].key == *key)
            .copied()
    }

    /// Find the flow of `key`, or create it (zeroed but for key, id and start time).
    #[inline]
    pub fn lookup_or_insert(&mut self, key: &FlowKey, hash: u64, now_ms: u64) -> Insert {
        if let Some(i) = self.lookup(key, hash) {
            return Insert::Found(i);
        }
        let Some(idx) = self.free.pop() else {
            return Insert::Full;
        };
        let id = self.id_base | self.next_id;
        self.next_id += 1;
        self.slab.0[idx as usize] = Flow {
            key: *key,
            id,
            start_ms: now_ms as u32,
            wscale: [0xff; 2],
            ..Flow::default()
        };
        let slab = &self.slab.0;
        self.map
            .insert_unique(hash, idx, |&i| slab[i as usize].key.hash());
        Insert::Created(idx)
    }

    /// Note activity at `now_ms` and (re)arm the flow's timeout for its current state.
    #[inline]
    pub fn touch(&mut self, idx: u32, now_ms: u64) {
        let f = &mut self.slab.0[idx as usize];
        f.last_ms = (now_ms as u32).wrapping_sub(f.start_ms);
        let deadline = tick_of(now_ms).saturating_add(self.timeout_ticks[f.state as usize]);
        self.wheel.arm(&mut self.slab, idx, deadline);
    }

    /// Remove a flow, returning it (to build its record).
    pub fn remove(&mut self, idx: u32) -> Flow {
        self.wheel.unlink(&mut self.slab, idx);
        let f = self.slab.0[idx as usize];
        let hash = f.key.hash();
        if let Ok(e) = self.map.find_entry(hash, |&i| i == idx) {
            e.remove();
        }
        self.free.push(idx);
        f
    }

    /// Expire flows whose timeout has passed at `now_ms` (at most `budget`), handing each
    /// removed flow to `on_expired`. Cost: O(expired + re-armed).
    /// Flows with `ACCUMULATING` set are not removed but re-armed: the accumulator owns data
    /// of theirs (possibly acknowledged to the client already) and its own hold and
    /// retransmission timers end the session; the flow ages normally after that.
    pub fn expire(
        &mut self,
        now_ms: u64,
        budget: usize,
        mut on_expired: impl FnMut(u32, Flow),
    ) -> usize {
        let mut expired = [NIL; 64];
        let mut total = 0;
        loop {
            let mut n = 0;
            let cap = budget.saturating_sub(total).min(expired.len());
            if cap == 0 {
                break;
            }
            self.wheel
                .advance(&mut self.slab, tick_of(now_ms), cap, |_, idx| {
                    expired[n] = idx;
                    n += 1;
                });
            for &idx in &expired[..n] {
                if self.slab.0[idx as usize].has(flag::ACCUMULATING) {
                    self.touch(idx, now_ms);
                    continue;
                }
                let f = self.remove(idx);
                on_expired(idx, f);
            }
            total += n;
            if n < cap {
                break;
            }
        }
        total
    }

    /// Remove every flow (shutdown), handing each to `f`.
    pub fn drain(&mut self, mut f: impl FnMut(u32, Flow)) {
        let all: Vec<u32> = self.map.iter().copied().collect();
        for idx in all {
            let flow = self.remove(idx);
            f(idx, flow);
        }
    }

    /// Indices of live flows (shutdown, control requests).
    pub fn indices(&self) -> Vec<u32> {
        self.map.iter().copied().collect()
    }

    /// Visit live flows with their indices (control requests; bounded by the caller).
    pub fn iter_indexed(&self) -> impl Iterator<Item = (u32, &Flow)> {
        self.map.iter().map(|&i| (i, &self.slab.0[i as usize]))
    }

    /// Visit live flows (control requests; bounded by the caller).
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.map.iter().map(|&i| &self.slab.0[i as usize])
    }
}

#[inline]
pub fn tick_of(ms: u64) -> u32 {
    (ms / super::TICK_MS).min(u32::MAX as u64 - 1) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> FlowKey {
        let mut k = FlowKey::default();
        k.a[15] = 1;
        k.b[15] = 2;
        k.port_a = n;
        k.port_b = 443;
        k.proto = 6;
        k
    }

    #[test]
    fn insert_find_remove_and_full() {
        let mut t = FlowTable::new(3, 1, Timeouts::default());
        let ids: Vec<_> = (0..3)
            .map(|i| match t.lookup_or_insert(&key(i), key(i).hash(), 0) {
                Insert::Created(x) => x,
                o => panic!("{o:?}"),
            })
            .collect();
        assert_eq!(
            t.lookup_or_insert(&key(1), key(1).hash(), 0),
            Insert::Found(ids[1])
        );
        assert_eq!(t.lookup_or_insert(&key(9), key(9).hash(), 0), Insert::Full);
        assert_eq!(t.get(ids[0]).id >> 48, 1);
        t.remove(ids[1]);
        assert_eq!(t.lookup(&key(1), key(1).hash()), None);
        assert!(matches!(
            t.lookup_or_insert(&key(9), key(9).hash(), 0),
            Insert::Created(_)
        ));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn aging_by_state() {
        let to = Timeouts {
            handshake: 1.0,
            established: 5.0,
            ..Timeouts::default()
        };
        let mut t = FlowTable::new(16, 0, to);
        let Insert::Created(a) = t.lookup_or_insert(&key(1), key(1).hash(), 0) else {
            panic!()
        };
        t.get_mut(a).state = TcpState::SynSent;
        t.touch(a, 0);
        let Insert::Created(b) = t.lookup_or_insert(&key(2), key(2).hash(), 0) else {
            panic!()
        };
        t.get_mut(b).state = TcpState::Established;
        t.touch(b, 0);
        let mut gone = Vec::new();
        t.expire(900, 100, |_, f| gone.push(f.key.port_a));
        assert!(gone.is_empty());
        t.expire(1000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1]);
        t.touch(b, 4000); // activity pushes its deadline to 9 s
        t.expire(6000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1]);
        t.expire(9000, 100, |_, f| gone.push(f.key.port_a));
        assert_eq!(gone, vec![1, 2]);
        assert!(t.is_empty());
    }

    #[test]
    fn expiry_cost_is_bounded_by_budget() {
        let mut t = FlowTable::new(
            1000,
            0,
            Timeouts {
                non_tcp: 1.0,
                ..Timeouts::default()
            },
        );
        for i in 0..1000 {
            let Insert::Created(x) = t.lookup_or_insert(&key(i), key(i).hash(), 0) else {
                panic!()
            };
            t.touch(x, 0);
        }
        let mut n = 0;
        assert_eq!(t.expire(1000, 100, |_, _| n += 1), 100);
        assert_eq!(t.expire(1000, 10_000, |_, _| n += 1), 900);
        assert_eq!(n, 1000);
        assert!(t.is_empty());
    }

    #[test]
    fn flow_size() {
        // The benchmark target is ≤ 128 bytes per session of table memory, index included.
        let size = std::mem::size_of::<Flow>();
        assert!(size <= 128, "Flow is {size} bytes");
    }
}
