//! The arithmetic behind `advise packetlimit`, `what-if packetlimit` and the capacity figures
//! of the other replies: which packet limit covers a percentile of the ClientHellos seen, how
//! many sessions a limit leaves room for, what the held packets cost in memory.
//!
//! Owns: pure functions of histograms and capacity figures. Must not read or change the
//! control state, the configuration or the ports (the caller hands in what it needs), so
//! everything here can be unit-tested without DPDK or workers.

use crate::accumulate::Capacity;
use crate::config::OnCapacity;
use crate::counters::{WorkerCounters, SEG_BUCKETS, SIZE_BUCKET, SIZE_BUCKETS};
use crate::port;
use serde_json::{json, Value};
use std::sync::Arc;

/// Memory one held packet costs: the mbuf's data room plus its 128-byte header and the
/// mempool's per-object header.
pub const MBUF_MEMORY: u64 = port::MBUF_DATA_ROOM as u64 + 128 + 64;

/// The field document's rule: one packet per 590 bytes (a 536-byte MSS segment on the wire).
pub const RULE_BYTES_PER_PACKET: u32 = 590;

/// The last segments bucket: more than 64 packets.
const OVER: usize = SEG_BUCKETS - 1;

/// Memory `packets` held packets cost.
pub fn memory_bytes(packets: u64) -> u64 {
    packets * MBUF_MEMORY
}

/// `a` as a percentage of `b`, to one decimal (0 when `b` is 0).
pub fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 1000.0 / b as f64).round() / 10.0
    }
}

/// All workers' ClientHello histograms, summed.
#[derive(Clone, Debug, PartialEq)]
pub struct Histograms {
    /// Sessions by ClientHello TCP segments (`SEG_BUCKETS`, the last one open).
    pub segments: Vec<u64>,
    /// Sessions by ClientHello wire bytes (`SIZE_BUCKETS` of `SIZE_BUCKET` bytes).
    pub sizes: Vec<u64>,
    /// The largest ClientHello seen (wire bytes).
    pub hello_bytes_max: u64,
}

impl Histograms {
    pub fn merged(counters: &[Arc<WorkerCounters>]) -> Histograms {
        let mut h = Histograms {
            segments: vec![0; SEG_BUCKETS],
            sizes: vec![0; SIZE_BUCKETS],
            hello_bytes_max: 0,
        };
        for c in counters {
            for (i, x) in c.hist.segments.iter().enumerate() {
                h.segments[i] += x.get();
            }
            for (i, x) in c.hist.sizes.iter().enumerate() {
                h.sizes[i] += x.get();
            }
            h.hello_bytes_max = h.hello_bytes_max.max(c.acc.hello_bytes_max.get());
        }
        h
    }
}

/// The smallest packet limit (at least 1) under which `p` percent of the `n` sessions in
/// `seg` fit; `SEG_BUCKETS - 1` when none does (they needed more than 64 packets).
pub fn recommended(seg: &[u64], n: u64, p: f64) -> usize {
    let need = (p / 100.0 * n as f64).ceil() as u64;
    let mut cum = 0;
    for (i, c) in seg.iter().enumerate() {
        cum += c;
        if cum >= need {
            return i.max(1);
        }
    }
    OVER
}

/// The percentage of the `n` sessions in `seg` that fit under packet limit `limit`.
pub fn covers_percent(seg: &[u64], n: u64, limit: usize) -> f64 {
    let c: u64 = seg[..=limit.min(OVER)].iter().sum();
    pct(c, n)
}

/// The packet limit the `<size>/590` rule gives for the largest ClientHello (at least 1).
pub fn rule_590(hello_bytes_max: u64) -> u64 {
    hello_bytes_max
        .div_ceil(RULE_BYTES_PER_PACKET as u64)
        .max(1)
}

/// The reply to `advise packetlimit <p>` for histograms `h`, the current packet limit and the
/// hold-slot capacity.
pub fn advice(h: &Histograms, p: f64, current: u16, cap: &Capacity) -> Value {
    let seg = &h.segments;
    let n: u64 = seg.iter().sum();
    if n == 0 {
        return json!({
            "client_hellos_seen": 0,
            "current_packetlimit": current,
            "warning": "no ClientHello seen yet: no advice",
        });
    }
    let rec = recommended(seg, n, p);
    let over = seg[OVER];
    let rec_v = if rec >= OVER { json!(null) } else { json!(rec) };
    let rule = rule_590(h.hello_bytes_max);
    let mut v = json!({
        "client_hellos_seen": n,
        "target_percentile": p,
        "recommended_packetlimit": rec_v,
        "recommended_covers_percent": covers_percent(seg, n, rec),
        "recommended_capacity_sessions": cap.sessions_at(rec.min(64) as u16),
        "largest_client_hello_bytes": h.hello_bytes_max,
        "rule_590_packetlimit": rule,
        "rule_590_capacity_sessions": cap.sessions_at(rule.min(64) as u16),
        "current_packetlimit": current,
        "current_covers_percent": covers_percent(seg, n, current as usize),
        "current_capacity_sessions": cap.sessions_at(current),
        "segments_histogram": segments_json(seg),
        "size_histogram": sizes_json(&h.sizes),
    });
    if (rule as usize) < rec {
        v["note"] = json!(format!(
            "the <size>/590 rule gives {rule}, fewer than the {rec} segments seen: a 590-byte frame carries 536 bytes of ClientHello (524 with TCP timestamps), so use the observed limit"
        ));
    }
    if over > 0 || rec >= OVER {
        v["warning"] = json!(format!(
            "{over} ClientHello(s) needed more than 64 packets: no packet limit covers them; insert the missing MSS instead (set mss insert-missing 1460)"
        ));
    }
    v
}

/// The non-empty segments buckets, the last one labelled `more`.
fn segments_json(seg: &[u64]) -> Vec<Value> {
    seg.iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let label = if i == OVER {
                "more".to_string()
            } else {
                i.to_string()
            };
            json!({"segments": label, "sessions": c})
        })
        .collect()
}

/// The non-empty size buckets, labelled `lo-hi` (the last one `lo+`).
fn sizes_json(size: &[u64]) -> Vec<Value> {
    size.iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(i, c)| {
            let lo = i as u32 * SIZE_BUCKET;
            let label = if i == SIZE_BUCKETS - 1 {
                format!("{lo}+")
            } else {
                format!("{lo}-{}", lo + SIZE_BUCKET - 1)
            };
            json!({"bytes": label, "sessions": c})
        })
        .collect()
}

/// The reply to `what-if packetlimit <n>` at the current packet limit `current`.
pub fn what_if(cap: &Capacity, current: u16, n: u16) -> Value {
    json!({
        "packetlimit": n,
        "capacity_sessions": cap.sessions_at(n),
        "current_packetlimit": current,
        "current_capacity_sessions": cap.sessions_at(current),
        "peak_sessions": cap.peak_sessions(),
        "active_sessions": cap.active_sessions(),
        "memory_bytes": memory_bytes(cap.pool_packets as u64),
        "memory_per_session_bytes": memory_bytes(n as u64),
        "fits_peak": cap.sessions_at(n) >= cap.peak_sessions(),
    })
}

/// The warning for a packet limit whose capacity (`after` sessions) is below the `peak` of
/// sessions accumulating at once.
pub fn below_peak_warning(after: u32, peak: u32, on_capacity: OnCapacity) -> Option<String> {
    (after < peak).then(|| {
        format!(
            "new capacity {after} sessions is below the peak of {peak} accumulating sessions: expect {} at busy times",
            match on_capacity {
                OnCapacity::Bypass => "uninspected sessions (on-capacity bypass)",
                OnCapacity::Reset => "resets (on-capacity reset)",
            }
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(entries: &[(usize, u64)]) -> Vec<u64> {
        let mut s = vec![0; SEG_BUCKETS];
        for &(i, c) in entries {
            s[i] = c;
        }
        s
    }

    #[test]
    fn percentages_round_to_one_decimal() {
        assert_eq!(pct(0, 0), 0.0);
        assert_eq!(pct(1, 3), 33.3);
        assert_eq!(pct(2, 3), 66.7);
        assert_eq!(pct(5, 5), 100.0);
    }

    #[test]
    fn recommended_limit_covers_the_percentile() {
        let s = seg(&[(1, 90), (3, 9), (7, 1)]);
        assert_eq!(recommended(&s, 100, 50.0), 1);
        assert_eq!(recommended(&s, 100, 90.0), 1);
        assert_eq!(recommended(&s, 100, 95.0), 3);
        assert_eq!(recommended(&s, 100, 100.0), 7);
        // A limit of 0 is never recommended.
        assert_eq!(recommended(&seg(&[(0, 10)]), 10, 100.0), 1);
        // Sessions over 64 packets: no limit covers them.
        assert_eq!(recommended(&seg(&[(1, 1), (OVER, 1)]), 2, 100.0), OVER);
        assert_eq!(covers_percent(&s, 100, 3), 99.0);
        assert_eq!(covers_percent(&s, 100, 1000), 100.0);
    }

    #[test]
    fn rule_590_rounds_up() {
        assert_eq!(rule_590(0), 1);
        assert_eq!(rule_590(590), 1);
        assert_eq!(rule_590(591), 2);
        assert_eq!(rule_590(1800), 4);
    }

    #[test]
    fn advice_without_data_and_with() {
        let cap = Capacity::new(1200);
        let mut h = Histograms {
            segments: seg(&[]),
            sizes: vec![0; SIZE_BUCKETS],
            hello_bytes_max: 0,
        };
        let v = advice(&h, 99.0, 12, &cap);
        assert_eq!(v["client_hellos_seen"], json!(0));
        assert!(v["warning"].is_string());
        h.segments = seg(&[(2, 9), (4, 1)]);
        h.sizes[3] = 10;
        h.hello_bytes_max = 1700;
        let v = advice(&h, 100.0, 12, &cap);
        assert_eq!(v["recommended_packetlimit"], json!(4));
        assert_eq!(v["recommended_capacity_sessions"], json!(300));
        assert_eq!(v["rule_590_packetlimit"], json!(3));
        assert!(v["note"].is_string());
        assert!(v.get("warning").is_none());
        assert_eq!(
            v["size_histogram"],
            json!([{"bytes": "1536-2047", "sessions": 10}])
        );
        h.segments[OVER] = 1;
        let v = advice(&h, 100.0, 12, &cap);
        assert_eq!(v["recommended_packetlimit"], json!(null));
        assert!(v["warning"]
            .as_str()
            .unwrap()
            .starts_with("1 ClientHello(s)"));
    }

    #[test]
    fn what_if_and_warnings() {
        let cap = Capacity::new(1200);
        let v = what_if(&cap, 12, 6);
        assert_eq!(v["capacity_sessions"], json!(200));
        assert_eq!(v["current_capacity_sessions"], json!(100));
        assert_eq!(v["memory_per_session_bytes"], json!(6 * MBUF_MEMORY));
        assert_eq!(below_peak_warning(10, 10, OnCapacity::Reset), None);
        assert!(below_peak_warning(9, 10, OnCapacity::Bypass)
            .unwrap()
            .contains("on-capacity bypass"));
    }
}
