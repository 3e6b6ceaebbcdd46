//! Starting DPDK for `appliance run`: the checks on the EAL arguments, EAL itself, DPDK's
//! capture server, which ports are client and server, the mbuf pool and its size, and both
//! ports configured, started and (within `ports.link_wait_secs`) up.
//!
//! Owns [`Dpdk`], whose field order is the teardown order. Must not start threads or print
//! anything the end-to-end tests read (that is `report`), and calls DPDK only through
//! `crate::port`.

use crate::config::{Config, PortRef};
use crate::port::telemetry::Pdump;
use crate::port::{Eal, Mempool, Port, PortConfig, MBUF_DATA_ROOM};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The DPDK objects the appliance runs on. Fields drop in declaration order: the ports
/// before the pool their RX queues draw from, the capture server and EAL last.
pub(super) struct Dpdk {
    /// The client-side and the server-side port, started.
    pub ports: [Port; 2],
    pub pool: Arc<Mempool>,
    /// DPDK's capture server for dpdk-dumpcap (`diag.pdump`); shutdown stops it after the
    /// workers, before the ports.
    pub pdump: Option<Pdump>,
    /// Dropped last: `rte_eal_cleanup`.
    _eal: Eal,
    /// Mbufs available in the pool before any port or worker took one (the leak check).
    pub pool_start: u32,
    /// The pool's size.
    pub mbufs: u32,
    /// RX and TX queues per port, one worker each.
    pub queues: u16,
}

impl Dpdk {
    /// Start EAL with `eal_override` or the config's `[eal] args`, then the capture server,
    /// the pool and both ports. On an error, whatever was started is released in reverse.
    pub fn start(cfg: &Config, eal_override: Option<Vec<String>>) -> Result<Dpdk, String> {
        let eal_args = eal_override.unwrap_or_else(|| cfg.eal.args.clone());
        let eal = init_eal(cfg, &eal_args)?;
        let pdump = start_pdump(cfg)?;
        let ids = [
            resolve_port(&eal, &cfg.ports.client, 0, "ports.client")?,
            resolve_port(&eal, &cfg.ports.server, 1, "ports.server")?,
        ];
        if ids[0] == ids[1] {
            return Err(format!(
                "ports.client and ports.server are both port {}",
                ids[0]
            ));
        }
        let queues = cfg.workers.queue_count();
        let mbufs = cfg
            .mempool
            .mbufs
            .unwrap_or_else(|| mempool_size(cfg, queues));
        let pool = Arc::new(
            Mempool::create("acp_mbufs", mbufs, cfg.mempool.cache, MBUF_DATA_ROOM)
                .map_err(|e| e.to_string())?,
        );
        let pool_start = pool.available();
        let ports = start_ports(cfg, queues, ids, &pool)?;
        Ok(Dpdk {
            ports,
            pool,
            pdump,
            _eal: eal,
            pool_start,
            mbufs,
            queues,
        })
    }

    /// Each port's MTU (client, server), 1500 when the driver does not say.
    pub fn mtu(&self) -> [u16; 2] {
        [
            self.ports[0].mtu().unwrap_or(1500),
            self.ports[1].mtu().unwrap_or(1500),
        ]
    }

    /// The port ids (client, server).
    pub fn port_ids(&self) -> [u16; 2] {
        [self.ports[0].id, self.ports[1].id]
    }
}

/// Refuse `diag.pdump` with EAL arguments that rule out multi-process (the config check
/// sees only the config's arguments, not `--eal`), then start EAL.
fn init_eal(cfg: &Config, eal_args: &[String]) -> Result<Eal, String> {
    if cfg.diag.pdump {
        if let Some(why) = crate::config::multiprocess_blocker(eal_args) {
            return Err(format!(
                "diag.pdump needs DPDK multi-process, but the EAL arguments have {why}"
            ));
        }
    }
    Eal::init(eal_args).map_err(|e| e.to_string())
}

/// DPDK's capture server, with `diag.pdump`.
fn start_pdump(cfg: &Config) -> Result<Option<Pdump>, String> {
    if !cfg.diag.pdump {
        return Ok(None);
    }
    let p = Pdump::init().map_err(|e| format!("diag.pdump: {e}"))?;
    println!("pdump: capture server running (dpdk-dumpcap --file-prefix=<this process's prefix>)");
    Ok(Some(p))
}

/// The port id `r` names, or `default` (0 for the client, 1 for the server) when unset.
fn resolve_port(eal: &Eal, r: &Option<PortRef>, default: u16, key: &str) -> Result<u16, String> {
    let count = eal.port_count();
    match r {
        None if default < count => Ok(default),
        None => Err(format!(
            "{key}: not set and DPDK found only {count} port(s); the appliance needs a client-side and a server-side port (check the --vdev / PCI arguments in [eal] args)"
        )),
        Some(PortRef::Id(id)) if *id < count => Ok(*id),
        Some(PortRef::Id(id)) => Err(format!(
            "{key}: port {id} does not exist (DPDK found {count})"
        )),
        Some(PortRef::Name(n)) => eal.port_by_name(n).map_err(|e| format!("{key}: {e}")),
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

/// Configure and start the client port, then the server port, and wait up to
/// `ports.link_wait_secs` for both links (starting with a link down is not an error).
fn start_ports(
    cfg: &Config,
    queues: u16,
    [client, server]: [u16; 2],
    pool: &Mempool,
) -> Result<[Port; 2], String> {
    let pcfg = PortConfig {
        queues,
        rx_desc: cfg.ports.rx_desc,
        tx_desc: cfg.ports.tx_desc,
        mtu: cfg.ports.mtu,
        promiscuous: cfg.ports.promiscuous,
    };
    let start = |id| -> Result<Port, String> {
        let mut p = Port::configure(id, &pcfg, pool).map_err(|e| e.to_string())?;
        p.start(pcfg.promiscuous).map_err(|e| e.to_string())?;
        Ok(p)
    };
    let ports = [start(client)?, start(server)?];
    let deadline = Instant::now() + Duration::from_secs(cfg.ports.link_wait_secs);
    while ports.iter().any(|p| !p.link().up) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mempool_holds_rings_caches_bursts_and_hold_slots() {
        let cfg = Config::default();
        for queues in [1, 2, 8] {
            let n = mempool_size(&cfg, queues);
            // A power of two minus one: the size DPDK's ring-backed pools use best.
            assert!((n + 1).is_power_of_two(), "{n}");
            let q = u32::from(queues);
            let rings = 2 * q * (u32::from(cfg.ports.rx_desc) + u32::from(cfg.ports.tx_desc));
            assert!(n >= rings + cfg.accumulation.pool_packets + (q + 2) * cfg.mempool.cache);
        }
    }
}
