//! The control operations behind the socket: one function per request, run on the control
//! thread. Changes are published to the workers as a new configuration snapshot (no restart,
//! no lock on the datapath) and written back to the config file atomically.
//!
//! Owns: `State`, the `Backend` for the socket, and each request's action. The arithmetic of
//! advice and capacity is `advise`, the Prometheus text `metrics`, the `show sessions` round
//! trip `sessions`: this file only calls them. Must not name DPDK (ports are `crate::port`).

use super::{advise, metrics, sessions};
use crate::accumulate::Capacity;
use crate::config::{Config, MssInsert};
use crate::counters::{self, Snapshot, WorkerCounters};
use crate::io::Side;
use crate::live::{Live, Shared};
use crate::port::{self, Mempool};
use crate::worker::Mailbox;
use advise::{memory_bytes, pct};
use appliance_core::control::persist;
use appliance_core::control::Backend;
use appliance_core::control::{MssClamp, Request};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use advise::{MBUF_MEMORY, RULE_BYTES_PER_PACKET};

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
            Request::ShowSessions { sni, limit } => {
                Ok(sessions::show_sessions(&self.mailboxes, sni, limit))
            }
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

    pub(super) fn snapshots(&self) -> Vec<Snapshot> {
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
        let on_capacity = self.cfg.accumulation.on_capacity;
        let warn: Vec<String> = warning
            .into_iter()
            .chain(advise::below_peak_warning(after, peak, on_capacity))
            .collect();
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
            "memory_bytes": memory_bytes(cap.pool_packets as u64),
            "memory_per_session_bytes": memory_bytes(a.packetlimit as u64),
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

    fn advise(&self, p: f64) -> Value {
        let h = advise::Histograms::merged(&self.counters);
        advise::advice(&h, p, self.cfg.accumulation.packetlimit, &self.capacity)
    }

    fn what_if(&self, n: u16) -> Value {
        advise::what_if(&self.capacity, self.cfg.accumulation.packetlimit, n)
    }

    /// Counters and gauges in the Prometheus text format (`metrics`).
    pub fn metrics(&self) -> String {
        metrics::render(self)
    }

    /// One line of usage against capacity (logged every stats interval).
    pub fn usage_line(&self) -> String {
        let cap = &self.capacity;
        let a = &self.cfg.accumulation;
        let total = counters::sum(&self.snapshots());
        let get = |k: &str| metrics::get(&total, k);
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

/// `v` with a `warning` when there is one.
fn with_warning(mut v: Value, w: Option<String>) -> Value {
    if let Some(w) = w {
        v["warning"] = json!(w);
    }
    v
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
