//! Ethdev ports: configure N RX/TX queue pairs, symmetric RSS, start/stop, statistics, link.

use super::{check, DpdkError, Mempool};
use serde::Serialize;

/// The symmetric RSS key (0x6d5a repeated): with it, Toeplitz gives both directions of a flow
/// the same hash, so both reach the same queue and so the same worker.
/// (Woo and Park, "Scalable TCP Session Monitoring with Symmetric Receive-side Scaling".)
const SYMMETRIC_RSS_KEY: [u8; 52] = {
    let mut k = [0u8; 52];
    let mut i = 0;
    while i < 52 {
        k[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    k
};

/// How to set a port up.
#[derive(Clone, Debug)]
pub struct PortConfig {
    pub queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// MTU to set, when the config gives one.
    pub mtu: Option<u16>,
    pub promiscuous: bool,
}

/// Counters DPDK keeps for a port.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the NIC because RX descriptors were full.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

/// Link state.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LinkInfo {
    pub up: bool,
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

/// A configured ethdev port.
pub struct Port {
    pub id: u16,
    pub name: String,
    pub queues: u16,
    pub rss: bool,
    started: bool,
}

impl Port {
    /// Configure port `id` with `cfg.queues` RX and TX queues whose RX mbufs come from `pool`.
    /// RSS with the symmetric key when `queues > 1` and the device supports it.
    pub fn configure(id: u16, cfg: &PortConfig, pool: &Mempool) -> Result<Port, DpdkError> {
        let name = port_name(id);
        let ctx = |what: &str| format!("port {id} ({name}): {what}");

        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: info is a valid out-pointer.
        check(
            unsafe { dpdk_sys::rte_eth_dev_info_get(id, &mut info) },
            || ctx("rte_eth_dev_info_get"),
        )?;
        if cfg.queues > info.max_rx_queues || cfg.queues > info.max_tx_queues {
            return Err(DpdkError::new(
                ctx(&format!(
                    "{} queues requested, device supports {} RX / {} TX",
                    cfg.queues, info.max_rx_queues, info.max_tx_queues
                )),
                22,
            ));
        }

        let mut conf = dpdk_sys::rte_eth_conf::default();
        let mut key = SYMMETRIC_RSS_KEY;
        // SAFETY: pure function returning a constant mask.
        let want_hf = unsafe { dpdk_sys::shim_rss_hf_ip_tcp_udp() };
        let hf = want_hf & info.flow_type_rss_offloads;
        let rss = cfg.queues > 1 && hf != 0;
        if rss {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            let key_len = if info.hash_key_size > 0 {
                (info.hash_key_size as usize).min(key.len())
            } else {
                40
            };
            conf.rx_adv_conf.rss_conf.rss_key = key.as_mut_ptr();
            conf.rx_adv_conf.rss_conf.rss_key_len = key_len as u8;
            conf.rx_adv_conf.rss_conf.rss_hf = hf;
            // SAFETY: pure function returning a constant mask.
            let rss_hash = unsafe { dpdk_sys::shim_rx_offload_rss_hash() };
            if info.rx_offload_capa & rss_hash != 0 {
                conf.rxmode.offloads |= rss_hash;
            }
        } else {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_NONE;
        }

        // SAFETY: conf (and the key it points to) live across the call, which copies them.
        check(
            unsafe { dpdk_sys::rte_eth_dev_configure(id, cfg.queues, cfg.queues, &conf) },
            || ctx("rte_eth_dev_configure"),
        )?;

        let (mut rxd, mut txd) = (cfg.rx_desc, cfg.tx_desc);
        // SAFETY: valid out-pointers; the driver rounds the counts to what it supports.
        check(
            unsafe { dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rxd, &mut txd) },
            || ctx("rte_eth_dev_adjust_nb_rx_tx_desc"),
        )?;
        // SAFETY: plain query.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) };
        let socket = if socket < 0 { 0 } else { socket as u32 };
        for q in 0..cfg.queues {
            // SAFETY: the pool outlives the port (both live until shutdown); NULL conf = defaults.
            check(
                unsafe {
                    dpdk_sys::rte_eth_rx_queue_setup(
                        id,
                        q,
                        rxd,
                        socket,
                        std::ptr::null(),
                        pool.as_ptr(),
                    )
                },
                || ctx(&format!("rte_eth_rx_queue_setup queue {q}")),
            )?;
            // SAFETY: NULL conf = driver defaults.
            check(
                unsafe { dpdk_sys::rte_eth_tx_queue_setup(id, q, txd, socket, std::ptr::null()) },
                || ctx(&format!("rte_eth_tx_queue_setup queue {q}")),
            )?;
        }
        if let Some(mtu) = cfg.mtu {
            // SAFETY: plain call on a configured port.
            check(unsafe { dpdk_sys::rte_eth_dev_set_mtu(id, mtu) }, || {
                ctx(&format!("rte_eth_dev_set_mtu {mtu}"))
            })?;
        }
        Ok(Port {
            id,
            name,
            queues: cfg.queues,
            rss,
            started: false,
        })
    }

    /// Start the port, and enable promiscuous mode (a virtual wire must see every frame).
    pub fn start(&mut self, promiscuous: bool) -> Result<(), DpdkError> {
        // SAFETY: configured port.
        check(unsafe { dpdk_sys::rte_eth_dev_start(self.id) }, || {
            format!("port {} ({}): rte_eth_dev_start", self.id, self.name)
        })?;
        self.started = true;
        if promiscuous {
            // SAFETY: started port. Some virtual devices do not support it: not fatal.
            let rc = unsafe { dpdk_sys::rte_eth_promiscuous_enable(self.id) };
            if rc < 0 && rc != -(libc::ENOTSUP) {
                return Err(DpdkError::from_rc(
                    format!(
                        "port {} ({}): rte_eth_promiscuous_enable",
                        self.id, self.name
                    ),
                    rc,
                ));
            }
        }
        Ok(())
    }

    /// Stop the port (idempotent). Frames still in its queues are freed by the driver.
    pub fn stop(&mut self) {
        if self.started {
            // SAFETY: started port; no worker polls it any more (caller's contract).
            unsafe { dpdk_sys::rte_eth_dev_stop(self.id) };
            self.started = false;
        }
    }

    /// Port counters.
    pub fn stats(&self) -> PortStats {
        port_stats(self.id)
    }

    /// Link status without waiting.
    pub fn link(&self) -> LinkInfo {
        let mut l = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid out-pointer.
        unsafe { dpdk_sys::rte_eth_link_get_nowait(self.id, &mut l) };
        LinkInfo {
            up: l.link_status() != 0,
            speed_mbps: l.link_speed,
            full_duplex: l.link_duplex() != 0,
        }
    }

    /// The port's MTU as the device reports it.
    pub fn mtu(&self) -> Option<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.id, &mut mtu) };
        (rc == 0).then_some(mtu)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        self.stop();
        // SAFETY: stopped port, no queue in use; closing releases the driver's resources and
        // flushes virtual devices (net_pcap writes its file).
        unsafe { dpdk_sys::rte_eth_dev_close(self.id) };
    }
}

/// Counters of any port, by id (the control thread reads them while workers run).
pub fn port_stats(id: u16) -> PortStats {
    let mut s = dpdk_sys::rte_eth_stats::default();
    // SAFETY: valid out-pointer; reading stats is safe concurrently with the datapath.
    unsafe { dpdk_sys::rte_eth_stats_get(id, &mut s) };
    PortStats {
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

fn port_name(id: u16) -> String {
    let mut buf = [0 as std::ffi::c_char; 64];
    // SAFETY: buf is RTE_ETH_NAME_MAX_LEN (64) bytes as the API requires.
    let rc = unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    if rc != 0 {
        return format!("port{id}");
    }
    // SAFETY: DPDK wrote a NUL-terminated string into buf.
    unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}
