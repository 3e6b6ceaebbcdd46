//! Every counter a worker keeps, in one file: the single-writer [`Counter`], the
//! [`counters!`](crate::counters) macro that names them, the worker's [`BaseCounters`] and
//! [`WorkerCounters`], the accumulator's [`AccCounters`] and [`Histograms`], and
//! [`Snapshot`]s for the control thread. Written by one thread (a worker) and read by
//! another (control), without locks.

use crate::flow::EndReason;
use crate::flow::Refusal;
use crate::mss::MssOutcome;
use crate::packet::{self, ParseError};
use std::sync::atomic::{AtomicU64, Ordering};

/// A counter with a single writer: `add` is a plain load and store (no locked instruction),
/// readers see a value at most one update old.
#[derive(Default, Debug)]
#[repr(transparent)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Add `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    #[inline]
    pub fn inc(&self) {
        self.add(1)
    }

    /// Overwrite (gauges).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed)
    }

    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Declare a struct of named counters with a `snapshot` listing (name, value) pairs, so the
/// control thread can print, sum and serialise them without knowing each field.
#[macro_export]
macro_rules! counters {
    ($(#[$m:meta])* pub struct $name:ident { $($(#[$fm:meta])* $field:ident,)* }) => {
        $(#[$m])*
        #[derive(Default, Debug)]
        pub struct $name { $($(#[$fm])* pub $field: $crate::counters::Counter,)* }
        impl $name {
            /// Every counter with its name, in declaration order.
            pub fn snapshot(&self) -> $crate::counters::Snapshot {
                vec![$((stringify!($field).to_string(), self.$field.get()),)*]
            }
        }
    };
}

/// A named counter value in a snapshot.
pub type Snapshot = Vec<(String, u64)>;

/// Aggregate snapshots by name across workers, keeping the first snapshot's order: counters
/// and gauges add up; a maximum (a name ending in `_max`) is the largest of them.
pub fn sum(snapshots: &[Snapshot]) -> Snapshot {
    let mut out: Snapshot = Vec::new();
    let merge = |slot: &mut (String, u64), v: u64| {
        if slot.0.ends_with("_max") {
            slot.1 = slot.1.max(v);
        } else {
            slot.1 += v;
        }
    };
    for s in snapshots {
        for (i, (name, v)) in s.iter().enumerate() {
            match out.get_mut(i) {
                Some(slot) if slot.0 == *name => merge(slot, *v),
                _ => match out.iter_mut().find(|(n, _)| n == name) {
                    Some(slot) => merge(slot, *v),
                    None => out.push((name.clone(), *v)),
                },
            }
        }
    }
    out
}

counters! {
    /// Accumulation counters of one worker.
    pub struct AccCounters {
        started,
        completed,
        limit_packets,
        limit_bytes,
        hold_timeouts,
        capacity_bypassed,
        capacity_reset,
        per_source_refused,
        one_sided,
        non_tls,
        parse_errors,
        unparsable_reset,
        released,
        released_uninspected,
        reset,
        acks_sent,
        ttl_raised,
        retransmits,
        release_timeouts,
        duplicates_freed,
        overlap_mismatch,
        policy_allowed,
        policy_denied,
        alloc_failed,
        tls_info_dropped,
        captures,
        captures_dropped,
        held_packets,
        sessions,
        hello_bytes_max,
    }
}

/// Histogram buckets: ClientHello segment counts 0..=64 and one for more.
pub const SEG_BUCKETS: usize = 66;
/// Histogram buckets of ClientHello wire size, 512 bytes each, the last one open.
pub const SIZE_BUCKET: u32 = 512;
pub const SIZE_BUCKETS: usize = 130;

/// Per-worker histograms for `advise packetlimit`.
#[derive(Debug)]
pub struct Histograms {
    /// Sessions by ClientHello TCP segments (seen, or estimated for over-budget ones).
    pub segments: [Counter; SEG_BUCKETS],
    /// Sessions by ClientHello wire bytes (records included).
    pub sizes: [Counter; SIZE_BUCKETS],
}

impl Default for Histograms {
    fn default() -> Self {
        Histograms {
            segments: std::array::from_fn(|_| Counter::default()),
            sizes: std::array::from_fn(|_| Counter::default()),
        }
    }
}

impl Histograms {
    pub(crate) fn record(&self, segments: u32, wire_bytes: u32) {
        self.segments[(segments as usize).min(SEG_BUCKETS - 1)].inc();
        self.sizes[((wire_bytes / SIZE_BUCKET) as usize).min(SIZE_BUCKETS - 1)].inc();
    }
}

counters! {
    /// Per-worker datapath counters (written by the worker only).
    pub struct BaseCounters {
        rx_from_client,
        rx_from_server,
        rx_bytes_from_client,
        rx_bytes_from_server,
        tx_to_client,
        tx_to_server,
        tx_dropped_to_client,
        tx_dropped_to_server,
        polls,
        busy_polls,
        non_ip,
        ipv4,
        ipv6,
        vlan_tagged,
        tcp,
        udp,
        icmp,
        other_l4,
        fragments,
        fragments_dropped,
        malformed_dropped,
        malformed_passed,
        multi_segment_passed,
        multi_segment_dropped,
        flows_created,
        flows_active,
        flows_peak,
        flow_table_full_passed,
        flow_table_full_dropped,
        midstream_pickups,
        rst_without_flow,
        rst_out_of_window,
        port_reuse,
        dropped_after_reset,
        log_records,
        log_queue_full,
    }
}

impl BaseCounters {
    /// Count a frame's VLAN tag and network layer (both datapaths count the same way).
    #[inline(always)]
    pub(crate) fn count_l3(&self, vlan_count: u8, l3: packet::L3) {
        if vlan_count > 0 {
            self.vlan_tagged.inc();
        }
        match l3 {
            packet::L3::NotIp => self.non_ip.inc(),
            packet::L3::Ipv4 => self.ipv4.inc(),
            packet::L3::Ipv6 => self.ipv6.inc(),
        }
    }
}

/// All counters of one worker: the fixed ones plus arrays by reason.
#[derive(Default, Debug)]
pub struct WorkerCounters {
    pub base: BaseCounters,
    /// Malformed frames by parse error.
    pub malformed: [Counter; ParseError::COUNT],
    /// Client segments of sessions not yet judged that the server would discard, dropped by
    /// the worker's guard, by reason.
    pub refused: [Counter; Refusal::COUNT],
    /// Sessions ended, by end reason.
    pub ended: [Counter; EndReason::ALL.len()],
    /// MSS fixup outcomes on SYN (from client) and SYN-ACK (from server).
    pub mss: [[Counter; MssOutcome::COUNT]; 2],
    /// ClientHello accumulation.
    pub acc: AccCounters,
    /// ClientHello segment counts and sizes (for `advise packetlimit`).
    pub hist: Histograms,
}

impl WorkerCounters {
    /// Every counter with a stable name.
    pub fn snapshot(&self) -> Snapshot {
        let mut v = self.base.snapshot();
        for e in ParseError::ALL {
            v.push((
                format!("malformed_{}", e.name()),
                self.malformed[e.index()].get(),
            ));
        }
        for r in Refusal::ALL {
            v.push((
                format!("dropped_{}", r.name()),
                self.refused[r.index()].get(),
            ));
        }
        for r in EndReason::ALL {
            v.push((
                format!("ended_{}", r.name().replace('-', "_")),
                self.ended[r.index()].get(),
            ));
        }
        for (d, dir) in ["from_client", "from_server"].iter().enumerate() {
            for (i, name) in MssOutcome::NAMES.iter().enumerate() {
                v.push((format!("mss_{name}_{dir}"), self.mss[d][i].get()));
            }
        }
        for (n, x) in self.acc.snapshot() {
            v.push((format!("acc_{n}"), x));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    counters! {
        pub struct Demo { a, b, size_max, }
    }

    #[test]
    fn snapshot_and_sum() {
        let x = Demo::default();
        x.a.add(3);
        x.b.inc();
        let y = Demo::default();
        y.a.add(4);
        x.size_max.set(9);
        y.size_max.set(5);
        let v = |s: &[(&str, u64)]| {
            s.iter()
                .map(|(n, v)| (n.to_string(), *v))
                .collect::<Snapshot>()
        };
        assert_eq!(x.snapshot(), v(&[("a", 3), ("b", 1), ("size_max", 9)]));
        assert_eq!(
            sum(&[x.snapshot(), y.snapshot()]),
            v(&[("a", 7), ("b", 1), ("size_max", 9)])
        );
    }
}
