//! The counters and gauges in the Prometheus text format (`show metrics` and the
//! `[metrics] listen` endpoint): `appliance_` prefix, counters end in `_total`, units last,
//! dimensions as labels.
//!
//! Owns: the metric families (names, help texts, labels) and their text encoding. Must not
//! change the control state or serve HTTP (that is `metrics_http`).

use super::ops::State;
use crate::counters::{self, Snapshot};
use crate::port;

/// The value of counter `k` in a summed snapshot (0 when absent).
pub(super) fn get(total: &Snapshot, k: &str) -> u64 {
    total.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v)
}

/// The whole exposition for the control state `st`.
pub(super) fn render(st: &State) -> String {
    let total = counters::sum(&st.snapshots());
    let mut m = Metrics::default();
    gauges(&mut m, st, &total);
    traffic(&mut m, st, &total);
    by_counter_name(&mut m, &total);
    events(&mut m, &total);
    m.text
}

/// Accumulation capacity and usage, flows, buffers, uptime.
fn gauges(m: &mut Metrics, st: &State, total: &Snapshot) {
    let cap = &st.capacity;
    let a = &st.cfg.accumulation;
    let gauges: [(&str, &str, u64); 12] = [
        (
            "accumulation_packetlimit",
            "Held segments allowed per session.",
            a.packetlimit as u64,
        ),
        (
            "accumulation_pool_packets",
            "Hold slots shared by all workers.",
            cap.pool_packets as u64,
        ),
        (
            "accumulation_capacity_sessions",
            "Sessions that can accumulate at once (pool / packetlimit).",
            cap.sessions_at(a.packetlimit) as u64,
        ),
        (
            "accumulation_active_sessions",
            "Sessions accumulating now.",
            cap.active_sessions() as u64,
        ),
        (
            "accumulation_peak_sessions",
            "Most sessions accumulating at once since start.",
            cap.peak_sessions() as u64,
        ),
        (
            "accumulation_slots_in_use",
            "Hold slots reserved now.",
            cap.slots_in_use() as u64,
        ),
        (
            "accumulation_held_packets",
            "Packets held now.",
            get(total, "acc_held_packets"),
        ),
        (
            "accumulation_client_hello_max_bytes",
            "Largest ClientHello seen (wire bytes).",
            get(total, "acc_hello_bytes_max"),
        ),
        (
            "flows_active",
            "Sessions in the flow tables.",
            get(total, "flows_active"),
        ),
        (
            "mbufs_in_use",
            "Packet buffers out of the pool.",
            st.pool.in_use() as u64,
        ),
        (
            "mbufs_pool",
            "Packet buffers in the pool.",
            st.pool.size() as u64,
        ),
        (
            "uptime_seconds",
            "Seconds since the appliance started.",
            st.started.elapsed().as_secs(),
        ),
    ];
    for (name, help, v) in gauges {
        m.gauge(name, help, &[], v);
    }
}

/// Frames and bytes by port side, the NICs' own counters, frames by what they carry.
fn traffic(m: &mut Metrics, st: &State, total: &Snapshot) {
    for side in ["client", "server"] {
        let l = [("side", side)];
        let by_side = [
            (
                "rx_packets_total",
                "Frames received, by port side.",
                "rx_from",
            ),
            (
                "rx_bytes_total",
                "Bytes received, by port side.",
                "rx_bytes_from",
            ),
            ("tx_packets_total", "Frames sent, by port side.", "tx_to"),
            (
                "tx_dropped_packets_total",
                "Frames a full TX queue refused, by port side.",
                "tx_dropped_to",
            ),
        ];
        for (name, help, counter) in by_side {
            m.counter(name, help, &l, get(total, &format!("{counter}_{side}")));
        }
    }
    for p in &st.ports {
        let s = port::port_stats(p.id);
        let id = p.id.to_string();
        let l = [("port", id.as_str()), ("side", p.side.name())];
        let nic = [
            (
                "port_rx_missed_packets_total",
                "Frames the NIC dropped for lack of RX descriptors.",
                s.rx_missed,
            ),
            (
                "port_rx_errors_total",
                "Erroneous frames received by the NIC.",
                s.rx_errors,
            ),
            (
                "port_tx_errors_total",
                "Frames the NIC failed to send.",
                s.tx_errors,
            ),
            (
                "port_rx_nombuf_total",
                "RX mbuf allocation failures.",
                s.rx_nombuf,
            ),
        ];
        for (name, help, v) in nic {
            m.counter(name, help, &l, v);
        }
    }
    for class in [
        "non_ip",
        "ipv4",
        "ipv6",
        "vlan_tagged",
        "tcp",
        "udp",
        "icmp",
        "other_l4",
        "fragments",
    ] {
        m.counter(
            "packets_total",
            "Frames by what they carry.",
            &[("class", class)],
            get(total, class),
        );
    }
}

/// The families whose members follow the counters' names: malformed frames, session ends,
/// MSS outcomes, accumulation events (in the snapshot's order).
fn by_counter_name(m: &mut Metrics, total: &Snapshot) {
    for (n, v) in total {
        if let Some(r) = n.strip_prefix("malformed_") {
            match r {
                "dropped" | "passed" => m.counter(
                    "malformed_handled_total",
                    "Malformed frames by action.",
                    &[("action", r)],
                    *v,
                ),
                _ => m.counter(
                    "malformed_packets_total",
                    "Malformed frames by reason.",
                    &[("reason", r)],
                    *v,
                ),
            }
        } else if let Some(r) = n.strip_prefix("ended_") {
            m.counter(
                "sessions_ended_total",
                "Sessions ended, by reason.",
                &[("reason", &r.replace('_', "-"))],
                *v,
            );
        } else if let Some(rest) = n.strip_prefix("mss_") {
            if let Some((outcome, from)) = rest.rsplit_once("_from_") {
                m.counter(
                    "mss_syn_total",
                    "SYN and SYN-ACK MSS outcomes, by sender.",
                    &[("outcome", outcome), ("from", from)],
                    *v,
                );
            }
        } else if let Some(r) = n.strip_prefix("acc_") {
            if !matches!(r, "held_packets" | "sessions" | "hello_bytes_max") {
                m.counter(
                    &format!("accumulation_{r}_total"),
                    "ClientHello accumulation events.",
                    &[],
                    *v,
                );
            }
        }
    }
}

/// Flow-table and other datapath events.
fn events(m: &mut Metrics, total: &Snapshot) {
    m.counter(
        "flows_created_total",
        "Sessions created in the flow tables.",
        &[],
        get(total, "flows_created"),
    );
    for (action, k) in [
        ("pass", "flow_table_full_passed"),
        ("drop", "flow_table_full_dropped"),
    ] {
        m.counter(
            "flow_table_full_total",
            "Packets of new sessions that found the flow table full.",
            &[("action", action)],
            get(total, k),
        );
    }
    for k in [
        "midstream_pickups",
        "rst_without_flow",
        "rst_out_of_window",
        "port_reuse",
        "dropped_after_reset",
        "log_records",
        "log_queue_full",
    ] {
        m.counter(
            &format!("{k}_total"),
            "Datapath events.",
            &[],
            get(total, k),
        );
    }
}

/// Prometheus text exposition, one `# HELP`/`# TYPE` per family.
#[derive(Default)]
struct Metrics {
    text: String,
    seen: std::collections::HashSet<String>,
}

impl Metrics {
    fn family(&mut self, name: &str, help: &str, kind: &str) {
        if self.seen.insert(name.to_string()) {
            self.text.push_str(&format!(
                "# HELP appliance_{name} {help}\n# TYPE appliance_{name} {kind}\n"
            ));
        }
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        let l: Vec<String> = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        let l = if l.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", l.join(","))
        };
        self.text.push_str(&format!("appliance_{name}{l} {v}\n"));
    }
    fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.family(name, help, "gauge");
        self.sample(name, labels, v);
    }
    fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        self.family(name, help, "counter");
        self.sample(name, labels, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_once_labels_escaped() {
        let mut m = Metrics::default();
        m.gauge("g", "A gauge.", &[], 7);
        m.counter("c_total", "A counter.", &[("k", "a\"b\\c")], 1);
        m.counter("c_total", "A counter.", &[("k", "x"), ("j", "y")], 2);
        assert_eq!(
            m.text,
            "# HELP appliance_g A gauge.\n# TYPE appliance_g gauge\nappliance_g 7\n\
             # HELP appliance_c_total A counter.\n# TYPE appliance_c_total counter\n\
             appliance_c_total{k=\"a\\\"b\\\\c\"} 1\nappliance_c_total{k=\"x\",j=\"y\"} 2\n"
        );
    }

    #[test]
    fn counters_by_name() {
        let total: Snapshot = vec![
            ("malformed_dropped".into(), 1),
            ("malformed_truncated".into(), 2),
            ("ended_rst_client".into(), 3),
            ("mss_clamped_from_client".into(), 4),
            ("acc_held_packets".into(), 5),
            ("acc_released".into(), 6),
        ];
        let mut m = Metrics::default();
        by_counter_name(&mut m, &total);
        let samples: Vec<&str> = m.text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            samples,
            [
                "appliance_malformed_handled_total{action=\"dropped\"} 1",
                "appliance_malformed_packets_total{reason=\"truncated\"} 2",
                "appliance_sessions_ended_total{reason=\"rst-client\"} 3",
                "appliance_mss_syn_total{outcome=\"clamped\",from=\"client\"} 4",
                "appliance_accumulation_released_total 6",
            ]
        );
    }
}
