//! The per-burst pipeline: the first pass over each frame of a burst (`Pre`: parse, flow key,
//! hash) and the software pipeline that overlaps the flow table's cache misses with the work
//! on other frames before each frame is processed.
//!
//! Owns: `Pre`, its filling, and the order of the parse / prefetch / process stages over one
//! received burst. Must not decide anything about a frame (that is `process`), touch flows
//! beyond prefetching them, or count anything but what the caller asks it to return.

use super::Worker;
use crate::flow::{FlowKey, HashKey};
use crate::io::{Frame, PacketIo, Side};
use crate::packet::fast::Lite;
use crate::packet::{self, ParseError};

/// Pipeline distance within a full burst (see `Worker::burst`): frames between parsing a
/// frame and requesting the first flow of its bucket's chain; as many again to the second
/// flow, and again to processing the frame. Shorter bursts use shorter distances (a third of
/// the burst), so a short burst costs no empty rounds.
const STAGE: usize = 8;

/// A frame's headers and flow key, from the first pass over a burst.
#[derive(Default)]
pub(super) struct Pre {
    /// The segment, for a frame of the common shapes (`packet::fast`): then `headers` is not
    /// filled, and only a frame that leaves the established-flow path builds them.
    pub(super) lite: Option<Lite>,
    /// The general parser's headers, when `lite` is None.
    pub(super) headers: packet::Headers,
    /// Why the frame did not parse (then `headers` is partial).
    pub(super) error: Option<ParseError>,
    /// The flow key and whether the frame's source is its `a` side (None: no flow: not IP, a
    /// fragment, malformed).
    pub(super) key: Option<(FlowKey, bool)>,
    pub(super) hash: u64,
    /// The flow table's bucket of `hash` (set when the pipeline first requests it).
    bucket: u32,
}

impl Pre {
    /// Fill in place (no `Headers` moved through the stack: the datapath's hottest copy).
    /// Without `lite`, every frame goes through the general parser (the tests' reference).
    #[inline]
    fn fill(&mut self, frame: &[u8], lite: bool, hk: &HashKey) {
        let fast = if lite {
            packet::fast::parse_lite(frame)
        } else {
            None
        };
        let keyed = match fast {
            // The common shapes (TCP over IPv4 or IPv6): the key from the addresses as
            // parsed, not loaded back from stored headers.
            Some((l, src, dst)) => {
                self.lite = Some(l);
                self.error = None;
                Some(FlowKey::from_parts_hashed(
                    hk,
                    src,
                    dst,
                    l.src_port,
                    l.dst_port,
                    l.vlan_outer,
                    packet::ip_proto::TCP,
                ))
            }
            None => {
                self.lite = None;
                self.error = packet::parse_into(frame, &mut self.headers).err();
                match self.error {
                    None => FlowKey::from_headers_hashed(&self.headers, hk),
                    Some(_) => None,
                }
            }
        };
        match keyed {
            Some((k, src_is_a, hash)) => {
                self.key = Some((k, src_is_a));
                self.hash = hash;
            }
            None => {
                self.key = None;
                self.hash = 0;
            }
        }
    }
}

/// The `BURST` pre-pass entries a worker reuses from burst to burst.
pub(super) fn pre_entries(n: usize) -> Box<[Pre]> {
    (0..n).map(|_| Pre::default()).collect()
}

impl<P: PacketIo> Worker<P> {
    /// Run the frames received from `side` (in `self.rx`, which this empties) through the
    /// pipeline and process each. Returns their bytes on the wire.
    ///
    /// A software pipeline over the burst, so that the flow lookups' cache misses overlap
    /// each other and the work on earlier frames instead of stalling each frame in turn:
    /// frame i is parsed and the first line of its bucket's slot requested (the chain head);
    /// the chain's first flow is requested `step` frames later, the second `2 * step` frames
    /// later; the frame is processed `3 * step` frames later.
    #[inline(always)]
    pub(super) fn burst(&mut self, side: Side, now_ms: u64) -> u64 {
        let n = self.rx.len();
        let mut bytes = 0u64;
        let step = (n / 3).clamp(1, STAGE);
        let hk = *self.flows.hash_key();
        let mut held = std::mem::take(&mut self.held);
        held.clear();
        held.extend(self.rx.drain(..).map(Some));
        let mut pre = std::mem::take(&mut self.pre);
        let pre_n = &mut pre[..n];
        // Round i parses frame i, requests the first flow of frame i - step's chain and the
        // second of frame i - 2 step's, and processes frame i - 3 step (a wrapped subtraction
        // is out of range too).
        for i in 0..n + 3 * step {
            if let (Some(Some(buf)), Some(p)) = (held.get(i), pre_n.get_mut(i)) {
                let data = buf.data();
                bytes += data.len() as u64;
                p.fill(data, self.lite, &hk);
                if p.key.is_some() {
                    p.bucket = self.flows.prefetch_bucket(p.hash);
                }
            }
            if let Some(p) = pre_n.get(i.wrapping_sub(step)) {
                if p.key.is_some() {
                    self.flows.prefetch_flow(p.bucket);
                }
            }
            if let Some(p) = pre_n.get(i.wrapping_sub(2 * step)) {
                if p.key.is_some() {
                    self.flows.prefetch_next(p.bucket);
                }
            }
            let j = i.wrapping_sub(3 * step);
            if let (Some(slot), Some(p)) = (held.get_mut(j), pre_n.get(j)) {
                if let Some(buf) = slot.take() {
                    self.process(side, buf, p, now_ms);
                }
            }
        }
        self.held = held;
        self.pre = pre;
        bytes
    }
}
