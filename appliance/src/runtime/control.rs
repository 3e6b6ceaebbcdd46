//! The control thread (the one `run` runs on) while the appliance runs: the stop flag set by
//! SIGINT/SIGTERM, the control socket, the Prometheus listener, DPDK telemetry commands, and
//! the loop that serves the socket, drains the workers' output and prints periodic stats.
//!
//! Owns [`Control`]: the socket, listener and telemetry registration, stopped (in that order)
//! before the shutdown releases the state they read. The operations themselves are
//! `crate::control::ops`; this file must not implement any.

use super::report;
use super::start::Dpdk;
use super::workers::Workers;
use super::Common;
use crate::config::Config;
use crate::control::metrics_http::{self, Bound, MetricsServer};
use crate::control::ops::{Ops, PortInfo, State};
use crate::control::{Server, ServerConfig};
use crate::io::Side;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one control-loop turn waits on the socket (and so how often it drains).
const POLL_MS: i32 = 20;

/// A flag that SIGINT and SIGTERM set.
pub(super) fn stop_on_signals() -> Result<Arc<AtomicBool>, String> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("installing handler for signal {sig}: {e}"))?;
    }
    Ok(stop)
}

/// Bind `metrics.listen`, when set (served later by [`Control::start`]).
pub(super) fn bind_metrics(cfg: &Config) -> Result<Option<Bound>, String> {
    cfg.metrics
        .listen
        .map(|addr| Bound::bind(addr).map_err(|e| format!("metrics.listen {addr}: {e}")))
        .transpose()
}

/// The state the control socket, metrics and telemetry answer from.
pub(super) fn ops(
    cfg: &Config,
    config_path: Option<PathBuf>,
    dpdk: &Dpdk,
    workers: &Workers,
    common: &Common,
) -> Arc<Ops> {
    let ports = dpdk
        .ports
        .iter()
        .zip(Side::BOTH)
        .zip(dpdk.mtu())
        .map(|((p, side), mtu)| PortInfo {
            id: p.id,
            name: p.name.clone(),
            side,
            mtu,
        })
        .collect();
    Arc::new(Ops {
        state: Mutex::new(State {
            cfg: cfg.clone(),
            config_path,
            shared: common.shared.clone(),
            ports,
            counters: workers.counters.clone(),
            mailboxes: workers.mailboxes.clone(),
            capacity: common.capacity.clone(),
            pool: dpdk.pool.clone(),
            started: common.clock,
        }),
    })
}

/// The control socket, metrics listener and telemetry commands, while they run. Dropping it
/// (or [`Control::stop`]) stops all three.
pub(super) struct Control {
    ops: Arc<Ops>,
    server: Option<Server>,
    metrics: Option<MetricsServer>,
    /// `control.stats_interval_secs`; 0 prints no periodic stats.
    stats_interval: u64,
}

impl Control {
    /// Serve metrics on the listener bound earlier, bind the control socket and register the
    /// telemetry commands (a failure there is only a warning).
    pub fn start(cfg: &Config, ops: Arc<Ops>, metrics: Option<Bound>) -> Result<Control, String> {
        let metrics = metrics.map(|b| serve_metrics(b, &ops)).transpose()?;
        let server = match &cfg.control.socket {
            Some(path) => {
                let mut sc = ServerConfig::new(path);
                sc.group = cfg.control.group;
                sc.allowed_uids = cfg.control.allowed_uids.clone();
                sc.allowed_gids = cfg.control.allowed_gids.clone();
                let s = Server::bind(sc)
                    .map_err(|e| format!("control.socket {}: {e}", path.display()))?;
                println!("control socket {}", s.path().display());
                Some(s)
            }
            None => None,
        };
        // DPDK telemetry (`dpdk-telemetry.py`): /appliance/accumulation, /counters, /mss.
        if let Err(e) = crate::port::telemetry::register(ops.clone()) {
            tracing::warn!("telemetry commands not available: {e}");
        }
        Ok(Control {
            ops,
            server,
            metrics,
            stats_interval: cfg.control.stats_interval_secs,
        })
    }

    /// Serve the socket, drain the workers' output and print stats every interval, until
    /// `stop` is set.
    pub fn run(&self, stop: &AtomicBool, dpdk: &Dpdk, workers: &mut Workers) {
        let interval = self.stats_interval;
        let mut next = Instant::now() + Duration::from_secs(interval.max(1));
        while !stop.load(Ordering::Relaxed) {
            self.serve_socket();
            workers.output.drain();
            if interval > 0 && Instant::now() >= next {
                next += Duration::from_secs(interval);
                report::stats("stats", &dpdk.ports, &workers.counters);
                if let Ok(st) = self.ops.state.lock() {
                    println!("{}", st.usage_line());
                }
            }
        }
    }

    /// Stop the socket, then the metrics listener, then the telemetry commands.
    pub fn stop(self) {
        drop(self);
    }

    /// Answer what arrives on the socket within [`POLL_MS`] (or just wait without one).
    fn serve_socket(&self) {
        match &self.server {
            Some(s) => {
                if let Err(e) = s.poll_once(&*self.ops, POLL_MS) {
                    tracing::error!("control socket: {e}");
                    std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                }
            }
            None => std::thread::sleep(Duration::from_millis(POLL_MS as u64)),
        }
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        drop(self.server.take());
        if let Some(m) = self.metrics.take() {
            m.stop();
        }
        crate::port::telemetry::unregister();
    }
}

/// Serve the Prometheus text from the control state on the bound listener.
fn serve_metrics(bound: Bound, ops: &Arc<Ops>) -> Result<MetricsServer, String> {
    // A weak reference: a scrape in flight never keeps the state (and its mbuf pool) alive
    // past shutdown.
    let o = Arc::downgrade(ops);
    let source: metrics_http::Source = Arc::new(move || {
        let ops = o.upgrade().ok_or("appliance stopping")?;
        let text = ops
            .state
            .lock()
            .map(|st| st.metrics())
            .map_err(|_| "control state poisoned".to_string());
        text
    });
    let m = bound
        .serve(source)
        .map_err(|e| format!("metrics.listen: {e}"))?;
    println!("metrics on http://{}/metrics", m.local_addr());
    Ok(m)
}
