//! The control operations behind the socket: one function per request, run on the control
//! thread. Changes are published to the workers as a new configuration snapshot (no restart,
//! no lock on the datapath) and written back to the config file atomically.

use crate::accumulate::Capacity;
use crate::config::{Config, MssInsert};
use crate::counters::{self, Snapshot};
use crate::counters::{WorkerCounters, SEG_BUCKETS, SIZE_BUCKET, SIZE_BUCKETS};
use crate::io::Side;
use crate::live::{Live, Shared};
use crate::port::{self, Mempool};
use crate::worker::{Mailbox, SessionQuery};
use appliance_core::control::persist;
use appliance_core::control::Backend;
use appliance_core::control::{MssClamp, OnCapacity, Request};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Memory one held packet costs: the mbuf's data room plus its 128-byte header and the
/// mempool's per-object header.
pub const MBUF_MEMORY: u64 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u64 + 128 + 64;

/// The field document's rule: one packet per 590 bytes (a 536-byte MSS segment on the wire).
pub const RULE_BYTES_PER_PACKET: u32 = 590;

/// A port as the control thread reports it.
#[derive(Clone, Debug)]
pub struct PortInfo {
    pub id: u16,
    pub name: String,
    pub side: Side,
    pub mtu: u16,
}

/// Everything the operations read and change.
pub struct State {
    pub cfg: Config,
    pub config_path: Option<PathBuf>,
    pub shared: Arc<Shared>,
    pub ports: Vec<PortInfo>,
    pub counters: Vec<Arc<WorkerCounters>>,
    pub mailboxes: Vec<Arc<Mailbox>>,
    pub capacity: Arc<Capacity>,
    pub pool: Arc<Mempool>,
    pub started: Instant,
}

/// The socket's backend: the state behind a mutex that only the control thread takes.
pub struct Ops {
    pub state: Mutex<State>,
}

impl Backend for Ops {
    fn handle(&self, req: Request) -> Result<Value, String> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| "control state poisoned".to_string())?;
        st.handle(req)
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl State {
    pub fn handle(&mut self, req: Request) -> Result<Value, String> {
        match req {
            Request::ShowAccumulation => Ok(self.show_accumulation()),
            Request::ShowCounters => Ok(self.show_counters()),
            Request::ShowMss => Ok(self.show_mss()),
            Request::ShowPorts => Ok(self.show_ports()),
            Request::ShowConfig => serde_json::to_value(&self.cfg).map_err(|e| e.to_string()),
            Request::ShowMetrics => Ok(json!({ "metrics": self.metrics() })),
            Request::ShowSessions { sni, limit } => self.show_sessions(sni, limit),
            Request::SetPacketLimit(n) => self.set_packetlimit(n as u16),
            Request::SetMaxBytes(n) => {
                let old = self.cfg.accumulation.max_bytes;
                self.change(
                    |c| c.accumulation.max_bytes = n,
                    &[("accumulation.max_bytes", (n as i64).into())],
                )
                .map(|w| with_warning(json!({"old": old, "new": n}), w))
            }
            Request::SetOnLimit(v) => {
                let old = self.cfg.accumulation.on_limit.as_str();
                self.change(
                    |c| c.accumulation.on_limit = v,
                    &[("accumulation.on_limit", v.as_str().into())],
                )
                .map(|w| with_warning(json!({"old": old, "new": v.as_str()}), w))
            }
            Request::SetOnCapacity(v) => {
                let old = self.cfg.accumulation.on_capacity.as_str();
                self.change(
                    |c| c.accumulation.on_capacity = v,
                    &[("accumulation.on_capacity", v.as_str().into())],
                )
                .map(|w| with_warning(json!({"old": old, "new": v.as_str()}), w))
            }
            Request::SetMssInsertMissing(v) => {
                let old = insert_value(self.cfg.mss.insert_missing);
                let new = match v {
                    Some(n) => MssInsert::Value(n),
                    None => MssInsert::Off,
                };
                let file: toml_edit::Value = match v {
                    Some(n) => (n as i64).into(),
                    None => false.into(),
                };
                self.change(
                    |c| c.mss.insert_missing = new,
                    &[("mss.insert_missing", file)],
                )
                .map(|w| with_warning(json!({"old": old, "new": insert_value(new)}), w))
            }
            Request::SetMssClamp(v) => {
                let old = clamp_value(self.cfg.mss.clamp);
                let file: toml_edit::Value = match v {
                    MssClamp::Value(n) => (n as i64).into(),
                    MssClamp::Auto => "auto".into(),
                    MssClamp::Off => false.into(),
                };
                self.change(|c| c.mss.clamp = v, &[("mss.clamp", file)])
                    .map(|w| with_warning(json!({"old": old, "new": clamp_value(v)}), w))
            }
            Request::SetLogLevel(l) => {
                let level = crate::logging::parse_level(l.as_str())?;
                let old = crate::logging::set_level(level)?;
                let new = l.as_str().to_string();
                self.change(|c| c.log.level = new, &[("log.level", l.as_str().into())])
                    .map(|w| {
                        with_warning(
                            json!({"old": old.to_string().to_lowercase(), "new": l.as_str()}),
                            w,
                        )
                    })
            }
            Request::AdvisePacketLimit { target_percentile } => Ok(self.advise(target_percentile)),
            Request::WhatIfPacketLimit(n) => Ok(self.what_if(n as u16)),
        }
    }

    /// Apply a change: validate the whole config, publish it to the workers, save it.
    /// Returns a warning when it could not be saved (it is in force anyway).
    fn change(
        &mut self,
        apply: impl FnOnce(&mut Config),
        edits: &[(&str, toml_edit::Value)],
    ) -> Result<Option<String>, String> {
        let mut next = self.cfg.clone();
        apply(&mut next);
        next.validate().map_err(|e| e.0)?;
        let mtu = [self.mtu_of(Side::Client), self.mtu_of(Side::Server)];
        self.shared.publish(Live::from_config(&next, mtu));
        self.cfg = next;
        let line: Vec<String> = edits.iter().map(|(k, v)| format!("{k} = {v}")).collect();
        tracing::info!("control: changed {}", line.join(", "));
        let Some(path) = &self.config_path else {
            return Ok(Some("no config file to save the change to".into()));
        };
        match persist(path, edits) {
            Ok(()) => Ok(None),
            Err(e) => {
                tracing::warn!("control: change in force but not saved: {e}");
                Ok(Some(format!(
                    "in force but not saved to {}: {e}",
                    path.display()
                )))
            }
        }
    }

    fn mtu_of(&self, side: Side) -> u16 {
        self.ports
            .iter()
            .find(|p| p.side == side)
            .map_or(1500, |p| p.mtu)
    }

    fn snapshots(&self) -> Vec<Snapshot> {
        self.counters.iter().map(|c| c.snapshot()).collect()
    }

    fn set_packetlimit(&mut self, n: u16) -> Result<Value, String> {
        let old = self.cfg.accumulation.packetlimit;
        let (before, after) = (self.capacity.sessions_at(old), self.capacity.sessions_at(n));
        let warning = self.change(
            |c| c.accumulation.packetlimit = n,
            &[("accumulation.packetlimit", (n as i64).into())],
        )?;
        let peak = self.capacity.peak_sessions();
        let v = json!({
            "old": old,
            "new": n,
            "capacity_sessions_before": before,
            "capacity_sessions_after": after,
            "peak_sessions": peak,
            "applies_to": "sessions that start accumulating from now on",
        });
        // Both warnings when both apply: not saved to the file, and below the peak.
        let mut warn: Vec<String> = warning.into_iter().collect();
        if after < peak {
            warn.push(format!(
                "new capacity {after} sessions is below the peak of {peak} accumulating sessions: expect {} at busy times",
                match self.cfg.accumulation.on_capacity {
                    OnCapacity::Bypass => "uninspected sessions (on-capacity bypass)",
                    OnCapacity::Reset => "resets (on-capacity reset)",
                }
            ));
        }
        Ok(with_warning(v, (!warn.is_empty()).then(|| warn.join("; "))))
    }

    pub fn show_accumulation(&self) -> Value {
        let a = &self.cfg.accumulation;
        let cap = &self.capacity;
        let snaps = self.snapshots();
        let acc = |s: &Snapshot| -> Map<String, Value> {
            s.iter()
                .filter_map(|(n, v)| n.strip_prefix("acc_").map(|k| (k.to_string(), json!(v))))
                .collect()
        };
        let workers: Vec<Value> = snaps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut m = acc(s);
                m.insert("worker".into(), json!(i));
                Value::Object(m)
            })
            .collect();
        json!({
            "enabled": a.enabled,
            "ports": a.ports,
            "packetlimit": a.packetlimit,
            "max_bytes": a.max_bytes,
            "pool_packets": cap.pool_packets,
            "capacity_sessions": cap.sessions_at(a.packetlimit),
            "active_sessions": cap.active_sessions(),
            "peak_sessions": cap.peak_sessions(),
            "slots_in_use": cap.slots_in_use(),
            "peak_slots": cap.peak_slots(),
            "usage_percent": pct(cap.slots_in_use() as u64, cap.pool_packets as u64),
            "memory_bytes": cap.pool_packets as u64 * MBUF_MEMORY,
            "memory_per_session_bytes": a.packetlimit as u64 * MBUF_MEMORY,
            "on_limit": a.on_limit.as_str(),
            "on_capacity": a.on_capacity.as_str(),
            "counters": Value::Object(acc(&counters::sum(&snaps))),
            "workers": workers,
        })
    }

    fn show_counters(&self) -> Value {
        let snaps = self.snapshots();
        let to_obj = |s: &Snapshot| -> Map<String, Value> {
            s.iter().map(|(n, v)| (n.clone(), json!(v))).collect()
        };
        json!({
            "total": Value::Object(to_obj(&counters::sum(&snaps))),
            "workers": snaps.iter().map(|s| Value::Object(to_obj(s))).collect::<Vec<_>>(),
            "mbufs": {
                "pool": self.pool.size(),
                "available": self.pool.available(),
                "in_use": self.pool.in_use(),
            },
            "uptime_secs": self.started.elapsed().as_secs(),
        })
    }

    fn show_mss(&self) -> Value {
        let live = self.shared.load();
        let total = counters::sum(&self.snapshots());
        let counters: Map<String, Value> = total
            .iter()
            .filter(|(n, _)| n.starts_with("mss_"))
            .map(|(n, v)| (n.clone(), json!(v)))
            .collect();
        let side = |s: Side| {
            let p = live.mss[s.index()];
            json!({
                "egress_mtu": self.mtu_of(s),
                "clamp_ipv4": p.clamp_v4,
                "clamp_ipv6": p.clamp_v6,
                "insert_missing": p.insert_missing,
            })
        };
        json!({
            "clamp": clamp_value(self.cfg.mss.clamp),
            "insert_missing": insert_value(self.cfg.mss.insert_missing),
            "towards_client": side(Side::Client),
            "towards_server": side(Side::Server),
            "counters": Value::Object(counters),
        })
    }

    fn show_ports(&self) -> Value {
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let mut m = obj(serde_json::to_value(port::port_stats(p.id)).unwrap_or_default());
                m.insert("port".into(), json!(p.id));
                m.insert("name".into(), json!(p.name));
                m.insert("side".into(), json!(p.side.name()));
                m.insert("mtu".into(), json!(p.mtu));
                Value::Object(m)
            })
            .collect();
        json!({ "ports": ports })
    }

    fn show_sessions(&self, sni: Option<String>, limit: u32) -> Result<Value, String> {
        static NEXT_QUERY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let q = SessionQuery {
            id: NEXT_QUERY.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            sni: sni.map(|s| s.to_ascii_lowercase()),
            limit: limit as usize,
        };
        let mut asked = Vec::new();
        let mut missing = Vec::new();
        for (i, m) in self.mailboxes.iter().enumerate() {
            while m.replies.pop().is_some() {} // stale answers of a timed-out request
            if m.queries.push(q.clone()).is_ok() {
                asked.push(i);
            } else {
                missing.push(i); // still busy with earlier queries
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut sessions = Vec::new();
        for i in asked {
            let reply = loop {
                // A late answer to an earlier, timed-out query is dropped.
                match self.mailboxes[i].replies.pop() {
                    Some((id, r)) if id == q.id => break Some(r),
                    Some(_) => continue,
                    None => {}
                }
                if Instant::now() > deadline {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            match reply {
                Some(r) => sessions.extend(r),
                None => missing.push(i),
            }
        }
        sessions.truncate(limit as usize);
        let mut v = json!({ "count": sessions.len(), "sessions": sessions });
        if !missing.is_empty() {
            v["warning"] = json!(format!("workers {missing:?} did not answer in time"));
        }
        Ok(v)
    }

    fn merged_histograms(&self) -> (Vec<u64>, Vec<u64>, u64) {
        let mut seg = vec![0u64; SEG_BUCKETS];
        let mut size = vec![0u64; SIZE_BUCKETS];
        let mut max = 0;
        for c in &self.counters {
            for (i, x) in c.hist.segments.iter().enumerate() {
                seg[i] += x.get();
            }
            for (i, x) in c.hist.sizes.iter().enumerate() {
                size[i] += x.get();
            }
            max = max.max(c.acc.hello_bytes_max.get());
        }
        (seg, size, max)
    }

    fn advise(&self, p: f64) -> Value {
        let (seg, size, max) = self.merged_histograms();
        let n: u64 = seg.iter().sum();
        let cap = &self.capacity;
        let current = self.cfg.accumulation.packetlimit;
        if n == 0 {
            return json!({
                "client_hellos_seen": 0,
                "current_packetlimit": current,
                "warning": "no ClientHello seen yet: no advice",
            });
        }
        let need = (p / 100.0 * n as f64).ceil() as u64;
        let mut cum = 0;
        let mut recommended = None;
        for (i, c) in seg.iter().enumerate() {
            cum += c;
            if cum >= need {
                recommended = Some(i.max(1));
                break;
            }
        }
        let over = seg[SEG_BUCKETS - 1];
        let rec = recommended.unwrap_or(SEG_BUCKETS - 1);
        let rec_v = if rec >= SEG_BUCKETS - 1 {
            json!(null)
        } else {
            json!(rec)
        };
        let covered_at = |l: usize| -> f64 {
            let c: u64 = seg[..=l.min(SEG_BUCKETS - 1)].iter().sum();
            pct(c, n)
        };
        let rule = max.div_ceil(RULE_BYTES_PER_PACKET as u64).max(1);
        let dist: Vec<Value> = seg
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let label = if i == SEG_BUCKETS - 1 {
                    "more".to_string()
                } else {
                    i.to_string()
                };
                json!({"segments": label, "sessions": c})
            })
            .collect();
        let sizes: Vec<Value> = size
            .iter()
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
            .collect();
        let mut v = json!({
            "client_hellos_seen": n,
            "target_percentile": p,
            "recommended_packetlimit": rec_v,
            "recommended_covers_percent": covered_at(rec),
            "recommended_capacity_sessions": cap.sessions_at(rec.min(64) as u16),
            "largest_client_hello_bytes": max,
            "rule_590_packetlimit": rule,
            "rule_590_capacity_sessions": cap.sessions_at(rule.min(64) as u16),
            "current_packetlimit": current,
            "current_covers_percent": covered_at(current as usize),
            "current_capacity_sessions": cap.sessions_at(current),
            "segments_histogram": dist,
            "size_histogram": sizes,
        });
        if (rule as usize) < rec {
            v["note"] = json!(format!(
                "the <size>/590 rule gives {rule}, fewer than the {rec} segments seen: a 590-byte frame carries 536 bytes of ClientHello (524 with TCP timestamps), so use the observed limit"
            ));
        }
        if over > 0 || rec >= SEG_BUCKETS - 1 {
            v["warning"] = json!(format!(
                "{over} ClientHello(s) needed more than 64 packets: no packet limit covers them; insert the missing MSS instead (set mss insert-missing 1460)"
            ));
        }
        v
    }

    fn what_if(&self, n: u16) -> Value {
        let cap = &self.capacity;
        let cur = self.cfg.accumulation.packetlimit;
        json!({
            "packetlimit": n,
            "capacity_sessions": cap.sessions_at(n),
            "current_packetlimit": cur,
            "current_capacity_sessions": cap.sessions_at(cur),
            "peak_sessions": cap.peak_sessions(),
            "active_sessions": cap.active_sessions(),
            "memory_bytes": cap.pool_packets as u64 * MBUF_MEMORY,
            "memory_per_session_bytes": n as u64 * MBUF_MEMORY,
            "fits_peak": cap.sessions_at(n) >= cap.peak_sessions(),
        })
    }

    /// Counters and gauges in the Prometheus text format: `appliance_` prefix, counters end
    /// in `_total`, units last, dimensions as labels.
    pub fn metrics(&self) -> String {
        let total = counters::sum(&self.snapshots());
        let get = |k: &str| total.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
        let cap = &self.capacity;
        let a = &self.cfg.accumulation;
        let mut m = Metrics::default();
        m.gauge(
            "accumulation_packetlimit",
            "Held segments allowed per session.",
            &[],
            a.packetlimit as u64,
        );
        m.gauge(
            "accumulation_pool_packets",
            "Hold slots shared by all workers.",
            &[],
            cap.pool_packets as u64,
        );
        m.gauge(
            "accumulation_capacity_sessions",
            "Sessions that can accumulate at once (pool / packetlimit).",
            &[],
            cap.sessions_at(a.packetlimit) as u64,
        );
        m.gauge(
            "accumulation_active_sessions",
            "Sessions accumulating now.",
            &[],
            cap.active_sessions() as u64,
        );
        m.gauge(
            "accumulation_peak_sessions",
            "Most sessions accumulating at once since start.",
            &[],
            cap.peak_sessions() as u64,
        );
        m.gauge(
            "accumulation_slots_in_use",
            "Hold slots reserved now.",
            &[],
            cap.slots_in_use() as u64,
        );
        m.gauge(
            "accumulation_held_packets",
            "Packets held now.",
            &[],
            get("acc_held_packets"),
        );
        m.gauge(
            "accumulation_client_hello_max_bytes",
            "Largest ClientHello seen (wire bytes).",
            &[],
            get("acc_hello_bytes_max"),
        );
        m.gauge(
            "flows_active",
            "Sessions in the flow tables.",
            &[],
            get("flows_active"),
        );
        m.gauge(
            "mbufs_in_use",
            "Packet buffers out of the pool.",
            &[],
            self.pool.in_use() as u64,
        );
        m.gauge(
            "mbufs_pool",
            "Packet buffers in the pool.",
            &[],
            self.pool.size() as u64,
        );
        m.gauge(
            "uptime_seconds",
            "Seconds since the appliance started.",
            &[],
            self.started.elapsed().as_secs(),
        );
        for side in ["client", "server"] {
            let l = [("side", side)];
            m.counter(
                "rx_packets_total",
                "Frames received, by port side.",
                &l,
                get(&format!("rx_from_{side}")),
            );
            m.counter(
                "rx_bytes_total",
                "Bytes received, by port side.",
                &l,
                get(&format!("rx_bytes_from_{side}")),
            );
            m.counter(
                "tx_packets_total",
                "Frames sent, by port side.",
                &l,
                get(&format!("tx_to_{side}")),
            );
            m.counter(
                "tx_dropped_packets_total",
                "Frames a full TX queue refused, by port side.",
                &l,
                get(&format!("tx_dropped_to_{side}")),
            );
        }
        for p in &self.ports {
            let st = port::port_stats(p.id);
            let id = p.id.to_string();
            let l = [("port", id.as_str()), ("side", p.side.name())];
            m.counter(
                "port_rx_missed_packets_total",
                "Frames the NIC dropped for lack of RX descriptors.",
                &l,
                st.rx_missed,
            );
            m.counter(
                "port_rx_errors_total",
                "Erroneous frames received by the NIC.",
                &l,
                st.rx_errors,
            );
            m.counter(
                "port_tx_errors_total",
                "Frames the NIC failed to send.",
                &l,
                st.tx_errors,
            );
            m.counter(
                "port_rx_nombuf_total",
                "RX mbuf allocation failures.",
                &l,
                st.rx_nombuf,
            );
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
                get(class),
            );
        }
        for (n, v) in &total {
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
        m.counter(
            "flows_created_total",
            "Sessions created in the flow tables.",
            &[],
            get("flows_created"),
        );
        for (action, k) in [
            ("pass", "flow_table_full_passed"),
            ("drop", "flow_table_full_dropped"),
        ] {
            m.counter(
                "flow_table_full_total",
                "Packets of new sessions that found the flow table full.",
                &[("action", action)],
                get(k),
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
            m.counter(&format!("{k}_total"), "Datapath events.", &[], get(k));
        }
        m.text
    }

    /// One line of usage against capacity (logged every stats interval).
    pub fn usage_line(&self) -> String {
        let cap = &self.capacity;
        let a = &self.cfg.accumulation;
        let total = counters::sum(&self.snapshots());
        let get = |k: &str| total.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
        format!(
            "usage: accumulating {} sessions (peak {}) of capacity {} = pool {} / packetlimit {}; slots {}/{} ({}%); flows {}; limit resets {}; capacity bypassed {}",
            cap.active_sessions(),
            cap.peak_sessions(),
            cap.sessions_at(a.packetlimit),
            cap.pool_packets,
            a.packetlimit,
            cap.slots_in_use(),
            cap.pool_packets,
            pct(cap.slots_in_use() as u64, cap.pool_packets as u64),
            get("flows_active"),
            get("acc_limit_packets") + get("acc_limit_bytes"),
            get("acc_capacity_bypassed"),
        )
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

fn with_warning(mut v: Value, w: Option<String>) -> Value {
    if let Some(w) = w {
        v["warning"] = json!(w);
    }
    v
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 1000.0 / b as f64).round() / 10.0
    }
}

fn clamp_value(c: MssClamp) -> Value {
    match c {
        MssClamp::Off => json!("off"),
        MssClamp::Auto => json!("auto"),
        MssClamp::Value(n) => json!(n),
    }
}

fn insert_value(i: MssInsert) -> Value {
    match i {
        MssInsert::Off => json!("off"),
        MssInsert::Value(n) => json!(n),
    }
}
