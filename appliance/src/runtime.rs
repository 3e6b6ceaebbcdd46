//! `appliance run`: start EAL from the config, set up the mbuf pool and both ports, start one
//! pinned worker per queue, report, and shut down cleanly on SIGINT/SIGTERM.

use crate::capture::CaptureWriter;
use crate::config::{Config, PortRef};
use crate::control::ops::{Ops, PortInfo, State};
use crate::control::{Server, ServerConfig};
use crate::counters;
use crate::counters::WorkerCounters;
use crate::io::Side;
use crate::live::{Live, Shared};
use crate::port::{self, DpdkIo, Eal, Mempool, Port, PortConfig};
use crate::record::SessionRecord;
use crate::worker::{Worker, WorkerConfig};
use appliance_core::capture::CaptureJob;
use crossbeam::queue::ArrayQueue;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Data room of each mbuf: DPDK's default (2048 bytes + headroom) holds a 1518-byte frame
/// plus the 4 bytes an MSS insertion adds.
const MBUF_DATA_ROOM: u16 = dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16;

/// Run the appliance until a signal stops it. Returns the process exit code.
pub fn run(
    cfg: Config,
    config_path: Option<std::path::PathBuf>,
    eal_override: Option<Vec<String>>,
) -> Result<(), String> {
    crate::logging::init(crate::logging::parse_level(&cfg.log.level)?);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())
            .map_err(|e| format!("installing handler for signal {sig}: {e}"))?;
    }

    // Bind the Prometheus listener first: a taken port fails the start before anything runs.
    let metrics_bound = match cfg.metrics.listen {
        Some(addr) => Some(
            crate::control::metrics_http::Bound::bind(addr)
                .map_err(|e| format!("metrics.listen {addr}: {e}"))?,
        ),
        None => None,
    };

    let eal_args = eal_override.unwrap_or_else(|| cfg.eal.args.clone());
    if cfg.diag.pdump {
        if let Some(why) = crate::config::multiprocess_blocker(&eal_args) {
            return Err(format!(
                "diag.pdump needs DPDK multi-process, but the EAL arguments have {why}"
            ));
        }
    }
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    // DPDK's capture server for dpdk-dumpcap; stopped after the workers, before the ports.
    let pdump = if cfg.diag.pdump {
        let p = crate::port::telemetry::Pdump::init().map_err(|e| format!("diag.pdump: {e}"))?;
        println!(
            "pdump: capture server running (dpdk-dumpcap --file-prefix=<this process's prefix>)"
        );
        Some(p)
    } else {
        None
    };

    let count = eal.port_count();
    let resolve = |r: &Option<PortRef>, default: u16, key: &str| -> Result<u16, String> {
        match r {
            None if default < count => Ok(default),
            None => Err(format!(
                "{key}: not set and DPDK found only {count} port(s); the appliance needs a client-side and a server-side port (check the --vdev / PCI arguments in [eal] args)"
            )),
            Some(PortRef::Id(id)) if *id < count => Ok(*id),
            Some(PortRef::Id(id)) => Err(format!("{key}: port {id} does not exist (DPDK found {count})")),
            Some(PortRef::Name(n)) => eal.port_by_name(n).map_err(|e| format!("{key}: {e}")),
        }
    };
    let client_id = resolve(&cfg.ports.client, 0, "ports.client")?;
    let server_id = resolve(&cfg.ports.server, 1, "ports.server")?;
    if client_id == server_id {
        return Err(format!(
            "ports.client and ports.server are both port {client_id}"
        ));
    }

    let queues = cfg.workers.queue_count();
    let mbufs = cfg
        .mempool
        .mbufs
        .unwrap_or_else(|| mempool_size(&cfg, queues));
    let pool = Arc::new(
        Mempool::create("acp_mbufs", mbufs, cfg.mempool.cache, MBUF_DATA_ROOM)
            .map_err(|e| e.to_string())?,
    );
    let pool_start = pool.available();

    let pcfg = PortConfig {
        queues,
        rx_desc: cfg.ports.rx_desc,
        tx_desc: cfg.ports.tx_desc,
        mtu: cfg.ports.mtu,
        promiscuous: cfg.ports.promiscuous,
    };
    let mut ports = Vec::new();
    for id in [client_id, server_id] {
        let mut p = Port::configure(id, &pcfg, &pool).map_err(|e| e.to_string())?;
        p.start(pcfg.promiscuous).map_err(|e| e.to_string())?;
        ports.push(p);
    }
    let deadline = Instant::now() + Duration::from_secs(cfg.ports.link_wait_secs);
    while ports.iter().any(|p| !p.link().up) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }

    let mtu = [
        ports[0].mtu().unwrap_or(1500),
        ports[1].mtu().unwrap_or(1500),
    ];
    let shared = Shared::new(Live::from_config(&cfg, mtu));
    let mut traffic_log = match &cfg.log.traffic {
        Some(path) => Some(TrafficLog::open(path)?),
        None => None,
    };
    let capacity = crate::accumulate::Capacity::new(cfg.accumulation.pool_packets);
    let clock = Instant::now();
    let wall_epoch_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);

    // Workers. They register with DPDK for an lcore id and mempool caches, except with
    // diag.pdump: DPDK 22.11 turns multi-process off for good when a non-EAL thread registers
    // (rte_thread_register calls rte_mp_disable), and dpdk-dumpcap is a secondary process.
    let register = !cfg.diag.pdump;
    if !register {
        println!("pdump: workers run without DPDK lcore ids (no mempool cache), so secondary processes can attach");
    }
    // The flow tables ask for transparent huge pages; say so when the kernel will not give them.
    let tables_bytes =
        u64::from(queues) * u64::from(cfg.flow.capacity) * crate::flow::SLOT_BYTES as u64;
    let thp = std::fs::read_to_string(crate::flow::THP_ENABLED).ok();
    if let Some(w) =
        crate::flow::thp_warning(thp.as_deref().and_then(crate::flow::thp_mode), tables_bytes)
    {
        tracing::warn!("{w}");
    }
    let worker_stop = Arc::new(AtomicBool::new(false));
    let mut counters = Vec::new();
    let mut mailboxes = Vec::new();
    let mut logs = Vec::new();
    let mut capture_queues = Vec::new();
    let mut capture_writer = match &cfg.diag.captures {
        Some(dir) => Some(CaptureWriter::new(
            dir,
            cfg.diag.max_captures,
            cfg.diag.max_capture_bytes,
        )?),
        None => None,
    };
    // Declared after the ports, pool and EAL, so dropped (workers stopped and joined) before
    // them on every return, an early error included.
    let mut workers = WorkerThreads {
        stop: worker_stop.clone(),
        handles: Vec::new(),
    };
    for q in 0..queues {
        let c = Arc::new(WorkerCounters::default());
        counters.push(c.clone());
        // Records always flow to the control thread: it logs diagnostics even without a
        // traffic log file.
        let records = Arc::new(ArrayQueue::new(LOG_QUEUE));
        logs.push(records.clone());
        let log = Some((records, traffic_log.is_some()));
        let capture_q = capture_writer.as_ref().map(|w| {
            let q = Arc::new(ArrayQueue::new(CAPTURE_QUEUE));
            capture_queues.push(q.clone());
            (q, w.dir.clone())
        });
        let wcfg = WorkerConfig {
            id: q,
            flow_capacity: cfg.flow.capacity,
            timeouts: cfg.flow.timeouts,
            on_table_full: cfg.flow.on_table_full,
            malformed: cfg.flow.malformed,
            wall_epoch_ms,
            capacity: capacity.clone(),
            mailbox: {
                let m = Arc::new(crate::worker::Mailbox::default());
                mailboxes.push(m.clone());
                m
            },
            // Each worker its own secret: hash flooding (flow/key.rs).
            hash_key: crate::flow::HashKey::random(),
        };
        let shared = shared.clone();
        let core = cfg.workers.cores.get(q as usize).copied();
        let io = DpdkIo::new([client_id, server_id], q, pool.clone());
        let stop = worker_stop.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let h = std::thread::Builder::new()
            .name(format!("worker{q}"))
            .spawn(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                        let _ = ready_tx.send(Err(format!(
                            "workers.cores: cannot pin worker {q} to core {core}"
                        )));
                        return;
                    }
                }
                if register {
                    if let Err(e) = port::register_thread() {
                        let _ = ready_tx.send(Err(format!("worker {q}: {e}")));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(()));
                let mut w = Worker::new(wcfg, io, c, shared, log);
                if let Some((cq, dir)) = capture_q {
                    w.set_captures(cq, dir);
                }
                w.run(&stop, clock);
                drop(w);
                if register {
                    port::unregister_thread();
                }
            })
            .map_err(|e| format!("spawning worker {q}: {e}"))?;
        ready_rx
            .recv()
            .map_err(|_| format!("worker {q} died during start"))??;
        workers.handles.push(h);
    }

    let links: Vec<String> = ports
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
        queues,
        queues,
        ports[0].rss,
        links.join(" "),
        mbufs
    );
    let _ = std::io::stdout().flush();

    // The control thread (this one): socket, logs, statistics, usage against capacity.
    let ops = Arc::new(Ops {
        state: std::sync::Mutex::new(State {
            cfg: cfg.clone(),
            config_path,
            shared: shared.clone(),
            ports: ports
                .iter()
                .zip(Side::BOTH)
                .zip(mtu)
                .map(|((p, side), mtu)| PortInfo {
                    id: p.id,
                    name: p.name.clone(),
                    side,
                    mtu,
                })
                .collect(),
            counters: counters.clone(),
            mailboxes,
            capacity: capacity.clone(),
            pool: pool.clone(),
            started: clock,
        }),
    });
    // Prometheus listener.
    let metrics = match metrics_bound {
        Some(bound) => {
            // A weak reference: a scrape in flight never keeps the state (and its mbuf pool)
            // alive past shutdown.
            let o = Arc::downgrade(&ops);
            let source: crate::control::metrics_http::Source = Arc::new(move || {
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
            Some(m)
        }
        None => None,
    };
    let server = match &cfg.control.socket {
        Some(path) => {
            let mut sc = ServerConfig::new(path);
            sc.group = cfg.control.group;
            sc.allowed_uids = cfg.control.allowed_uids.clone();
            sc.allowed_gids = cfg.control.allowed_gids.clone();
            Some(Server::bind(sc).map_err(|e| format!("control.socket {}: {e}", path.display()))?)
        }
        None => None,
    };
    if let Some(s) = &server {
        println!("control socket {}", s.path().display());
    }
    // DPDK telemetry (`dpdk-telemetry.py`): /appliance/accumulation, /counters, /mss.
    if let Err(e) = crate::port::telemetry::register(ops.clone()) {
        tracing::warn!("telemetry commands not available: {e}");
    }
    let interval = cfg.control.stats_interval_secs;
    let mut next = Instant::now() + Duration::from_secs(interval.max(1));
    while !stop.load(Ordering::Relaxed) {
        match &server {
            Some(s) => {
                if let Err(e) = s.poll_once(&*ops, 20) {
                    tracing::error!("control socket: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
        drain_logs(&logs, &mut traffic_log);
        drain_captures(&capture_queues, &mut capture_writer);
        if interval > 0 && Instant::now() >= next {
            next += Duration::from_secs(interval);
            print_stats("stats", &ports, &counters);
            if let Ok(st) = ops.state.lock() {
                println!("{}", st.usage_line());
            }
        }
    }
    drop(server);
    if let Some(m) = metrics {
        m.stop();
    }
    crate::port::telemetry::unregister();

    tracing::info!("stopping: draining workers");
    worker_stop.store(true, Ordering::SeqCst);
    // Keep draining while workers end their sessions, so every one gets its record.
    while workers.handles.iter().any(|h| !h.is_finished()) {
        drain_logs(&logs, &mut traffic_log);
        drain_captures(&capture_queues, &mut capture_writer);
        std::thread::sleep(Duration::from_millis(1));
    }
    workers.join();
    // Capture callbacks run inside the workers' RX/TX bursts: stop the server only now.
    drop(pdump);
    drain_logs(&logs, &mut traffic_log);
    // Captures hold mbuf references: write (and release) them before the pool goes away.
    drain_captures(&capture_queues, &mut capture_writer);
    if let Some(t) = &mut traffic_log {
        t.flush();
    }
    for p in &mut ports {
        p.stop();
    }
    print_stats("final", &ports, &counters);
    println!(
        "final accumulation: slots_in_use {} sessions {} peak_sessions {}",
        capacity.slots_in_use(),
        capacity.active_sessions(),
        capacity.peak_sessions()
    );
    let leaked = pool_start as i64 - pool.available() as i64;
    println!(
        "final mbufs: pool {} available {} at_start {} not_returned {}",
        pool.size(),
        pool.available(),
        pool_start,
        leaked.max(0)
    );
    let _ = std::io::stdout().flush();
    // The control state holds the last references to the pool besides ours: release it while
    // EAL still runs (telemetry and the metrics listener hold none by now).
    drop(ops);
    drop(ports);
    drop(pool);
    drop(eal);
    Ok(())
}

/// Capture jobs a worker can hand over before the control thread writes them.
const CAPTURE_QUEUE: usize = 64;

fn drain_captures(
    queues: &[Arc<ArrayQueue<CaptureJob<crate::port::Mbuf>>>],
    writer: &mut Option<CaptureWriter>,
) {
    for q in queues {
        while let Some(job) = q.pop() {
            match writer {
                Some(w) => w.write(job),
                None => drop(job),
            }
        }
    }
}

/// Records a worker can hand over before the control thread drains them (every 20 ms).
const LOG_QUEUE: usize = 65536;

/// The traffic log file: one JSON line per ended session.
struct TrafficLog {
    path: std::path::PathBuf,
    out: std::io::BufWriter<std::fs::File>,
    errors: u64,
}

impl TrafficLog {
    fn open(path: &std::path::Path) -> Result<TrafficLog, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("log.traffic: creating {}: {e}", dir.display()))?;
        }
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("log.traffic: opening {}: {e}", path.display()))?;
        Ok(TrafficLog {
            path: path.to_path_buf(),
            out: std::io::BufWriter::new(f),
            errors: 0,
        })
    }

    fn write(&mut self, r: &SessionRecord) {
        if writeln!(self.out, "{}", r.to_json()).is_err() {
            self.errors += 1;
            if self.errors == 1 {
                tracing::error!("cannot write traffic log {}", self.path.display());
            }
        }
    }

    fn flush(&mut self) {
        let _ = self.out.flush();
    }
}

/// Write ended sessions to the traffic log (when there is one) and log the diagnostics of
/// sessions the appliance ended itself.
fn drain_logs(queues: &[Arc<ArrayQueue<SessionRecord>>], log: &mut Option<TrafficLog>) {
    let mut n = 0;
    for q in queues {
        while let Some(r) = q.pop() {
            if let Some(d) = r.diag_line() {
                tracing::warn!(session_id = r.session_id, "{d}");
            }
            if let Some(log) = log.as_mut() {
                log.write(&r);
            }
            n += 1;
        }
    }
    if n > 0 {
        if let Some(log) = log.as_mut() {
            log.flush();
        }
    }
}

/// Enough mbufs for every RX and TX ring, the per-lcore caches and bursts in flight.
fn mempool_size(cfg: &Config, queues: u16) -> u32 {
    let q = queues as u32;
    let rings = 2 * q * (cfg.ports.rx_desc as u32 + cfg.ports.tx_desc as u32);
    let caches = (q + 2) * cfg.mempool.cache;
    let bursts = q * 4 * crate::io::BURST as u32;
    // Held packets can never starve RX: the pool has room for every hold slot on top.
    let held = cfg.accumulation.pool_packets;
    (rings + caches + bursts + held + 1024).next_power_of_two() - 1
}

fn print_stats(tag: &str, ports: &[Port], counters: &[Arc<WorkerCounters>]) {
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

fn fmt_counters(c: &[(String, u64)]) -> String {
    c.iter()
        .filter(|(_, v)| *v != 0)
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The worker threads: stopped and joined when dropped, so that an error return after they
/// started (a later worker failing to pin, the control socket or metrics listener failing to
/// bind) cannot leave them polling ports, a pool and an EAL being torn down under them.
struct WorkerThreads {
    stop: Arc<AtomicBool>,
    handles: Vec<std::thread::JoinHandle<()>>,
}

impl WorkerThreads {
    fn join(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for WorkerThreads {
    fn drop(&mut self) {
        self.join();
    }
}
