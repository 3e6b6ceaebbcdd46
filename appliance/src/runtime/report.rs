//! The lines `appliance run` prints that the end-to-end tests and operators' scripts read:
//! `appliance ready`, the periodic and final port and worker counters, the final
//! accumulation state and the mbuf leak check.
//!
//! Owns their exact wording; change none of it without the tests in `appliance/tests/`.
//! Only prints: must not change any state.

use super::start::Dpdk;
use crate::accumulate::Capacity;
use crate::counters::{self, WorkerCounters};
use crate::io::Side;
use crate::port::{Mempool, Port};
use std::io::Write;
use std::sync::Arc;

/// `appliance ready: ...`, once every worker runs.
pub(super) fn ready(dpdk: &Dpdk) {
    let links: Vec<String> = dpdk
        .ports
        .iter()
        .zip(Side::BOTH)
        .map(|(p, s)| {
            let l = p.link();
            format!(
                "{}={} ({}, link {}{})",
                s.name(),
                p.id,
                p.name,
                if l.up { "up" } else { "DOWN" },
                if l.up && l.speed_mbps > 0 {
                    format!(" {} Mb/s", l.speed_mbps)
                } else {
                    String::new()
                }
            )
        })
        .collect();
    println!(
        "appliance ready: {} worker(s), {} queue(s) per port, rss={}, ports {}, mbufs {}",
        dpdk.queues,
        dpdk.queues,
        dpdk.ports[0].rss,
        links.join(" "),
        dpdk.mbufs
    );
    let _ = std::io::stdout().flush();
}

/// Each port's DPDK counters, each worker's counters and their total, as one block of lines
/// starting with `tag` (`stats` every interval, `final` at shutdown).
pub(super) fn stats(tag: &str, ports: &[Port], counters: &[Arc<WorkerCounters>]) {
    let mut out = String::new();
    for (p, side) in ports.iter().zip(Side::BOTH) {
        let s = p.stats();
        out.push_str(&format!(
            "{tag} port {} {} ({}): rx {} tx {} rx_missed {} rx_errors {} tx_errors {} rx_nombuf {}\n",
            p.id,
            side.name(),
            p.name,
            s.rx_packets,
            s.tx_packets,
            s.rx_missed,
            s.rx_errors,
            s.tx_errors,
            s.rx_nombuf
        ));
    }
    let snaps: Vec<_> = counters.iter().map(|c| c.snapshot()).collect();
    for (i, snap) in snaps.iter().enumerate() {
        out.push_str(&format!("{tag} worker {i}: {}\n", fmt_counters(snap)));
    }
    out.push_str(&format!(
        "{tag} total: {}\n",
        fmt_counters(&counters::sum(&snaps))
    ));
    print!("{out}");
    let _ = std::io::stdout().flush();
}

/// `final accumulation: ...`: what is still held after the workers ended their sessions.
pub(super) fn final_accumulation(capacity: &Capacity) {
    println!(
        "final accumulation: slots_in_use {} sessions {} peak_sessions {}",
        capacity.slots_in_use(),
        capacity.active_sessions(),
        capacity.peak_sessions()
    );
}

/// `final mbufs: ...`: the leak check, once the ports are stopped and every worker gone.
/// `not_returned` counts mbufs missing from the pool against `at_start`.
pub(super) fn final_mbufs(pool: &Mempool, at_start: u32) {
    let leaked = at_start as i64 - pool.available() as i64;
    println!(
        "final mbufs: pool {} available {} at_start {} not_returned {}",
        pool.size(),
        pool.available(),
        at_start,
        leaked.max(0)
    );
    let _ = std::io::stdout().flush();
}

/// The non-zero counters as `name=value` words.
fn fmt_counters(c: &[(String, u64)]) -> String {
    c.iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_print_non_zero_values_in_order() {
        let c = vec![
            ("rx_from_client".to_string(), 3),
            ("dropped".to_string(), 0),
            ("non_ip".to_string(), 1),
        ];
        assert_eq!(fmt_counters(&c), "rx_from_client=3 non_ip=1");
        assert_eq!(fmt_counters(&[]), "");
    }
}
