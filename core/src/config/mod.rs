//! The TOML configuration. Every section refuses unknown keys, and `validate` refuses bad
//! values with a message naming the key, so a typo never silently falls back to a default.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

mod types;
mod validate;

pub use types::{
    Fragments, MalformedAction, MssClamp, MssInsert, OnCapacity, OnLimit, OnTableFull,
    OnUnparsable, PortRef, MSS_MAX, MSS_MIN,
};

/// Bounds with their reasons.
pub const MAX_QUEUES: u16 = 16; // per-queue stats in rte_eth_stats stop at 16 (RTE_ETHDEV_QUEUE_STAT_CNTRS)

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub eal: EalConfig,
    #[serde(default)]
    pub ports: PortsConfig,
    #[serde(default)]
    pub workers: WorkersConfig,
    #[serde(default)]
    pub mempool: MempoolConfig,
    #[serde(default)]
    pub control: ControlConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub flow: FlowConfig,
    #[serde(default)]
    pub mss: MssConfig,
    #[serde(default)]
    pub accumulation: AccumulationConfig,
    #[serde(default)]
    pub policy: crate::policy::PolicyConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub diag: DiagConfig,
}

/// `[metrics]`: the Prometheus listener.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address to serve `GET /metrics` on (Prometheus text format), e.g. `"127.0.0.1:9464"`.
    /// Absent: no listener (`appliancectl show metrics` still prints the same text).
    pub listen: Option<std::net::SocketAddr>,
}

/// `[diag]`: hooks for DPDK's operator tools.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiagConfig {
    /// Initialise DPDK's packet-capture server (`rte_pdump_init`) so `dpdk-dumpcap` /
    /// `dpdk-pdump` can capture from the running appliance's ports. Off by default: it needs
    /// DPDK multi-process (shared config and hugepages: no `--no-shconf`, `--in-memory` or
    /// `--no-huge` in the EAL arguments). While no capture runs it costs nothing per packet.
    #[serde(default)]
    pub pdump: bool,
    /// Directory for failed-session captures: the packets held for sessions the appliance
    /// ended itself (`accumulation-limit`, `policy-deny`, `release-timeout`), one pcap per
    /// session, named by session id and referenced from its traffic-log record.
    pub captures: Option<PathBuf>,
    /// Most capture files kept; the oldest are removed first.
    #[serde(default = "default_max_captures")]
    pub max_captures: usize,
    /// Most bytes of capture files kept; the oldest are removed first.
    #[serde(default = "default_max_capture_bytes")]
    pub max_capture_bytes: u64,
}

fn default_max_captures() -> usize {
    1000
}
fn default_max_capture_bytes() -> u64 {
    256 << 20
}

impl Default for DiagConfig {
    fn default() -> Self {
        DiagConfig {
            pdump: false,
            captures: None,
            max_captures: default_max_captures(),
            max_capture_bytes: default_max_capture_bytes(),
        }
    }
}

/// Why DPDK's multi-process tools (`dpdk-dumpcap`, secondary processes) cannot attach to a
/// primary started with these EAL arguments, or `None` when they can.
pub fn multiprocess_blocker(eal_args: &[String]) -> Option<&'static str> {
    for a in eal_args {
        let a = a.as_str();
        if a == "--no-shconf" {
            return Some("--no-shconf (no shared config: DPDK multi-process is off)");
        }
        if a == "--in-memory" {
            return Some("--in-memory (implies --no-shconf: DPDK multi-process is off)");
        }
        if a == "--no-huge" {
            return Some("--no-huge (a secondary process cannot map the primary's plain memory)");
        }
    }
    None
}

/// Range of `packetlimit`: at least one packet; 64 held 1460-byte segments already exceed
/// any ClientHello a TLS library accepts (16 KiB at 536-byte segments is 31 packets).
pub const PACKETLIMIT_MIN: u16 = 1;
pub const PACKETLIMIT_MAX: u16 = 64;
/// Range of `max_bytes`: 512 holds the smallest real ClientHello; 65536 is four times the
/// 16 KiB OpenSSL, BoringSSL and NSS accept.
pub const MAX_BYTES_MIN: u32 = 512;
pub const MAX_BYTES_MAX: u32 = 65536;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccumulationConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Server ports whose sessions are inspected.
    #[serde(default = "default_acc_ports")]
    pub ports: Vec<u16>,
    /// Distinct held segments per session.
    #[serde(default = "default_packetlimit")]
    pub packetlimit: u16,
    /// Largest ClientHello (handshake message body) accepted.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u32,
    #[serde(default)]
    pub on_limit: OnLimit,
    #[serde(default)]
    pub on_capacity: OnCapacity,
    /// Unset: derived from the policy ([`Config::on_unparsable`]).
    #[serde(default)]
    pub on_unparsable: Option<OnUnparsable>,
    /// Hold slots shared by all workers; sessions at once = pool_packets / packetlimit.
    #[serde(default = "default_pool_packets")]
    pub pool_packets: u32,
    /// A ClientHello not complete this long after its first segment is over budget.
    #[serde(default = "default_hold_timeout")]
    pub hold_timeout_secs: f64,
    /// First retransmission timeout for released data the server has not acknowledged.
    #[serde(default = "default_rto_ms")]
    pub retransmit_timeout_ms: u32,
    /// Retransmissions before giving up (RST both ways, `release-timeout`).
    #[serde(default = "default_tries")]
    pub retransmit_tries: u8,
    /// Released segments leave with at least this IPv4 TTL / IPv6 hop limit, so a copy the
    /// client sent with a TTL too low to reach the server, once judged, still reaches it
    /// (or the session fails): what was judged is what arrives. 1..=255.
    #[serde(default = "default_min_ttl")]
    pub min_ttl: u8,
    /// Most sessions one client address may have accumulating at once, per worker; its
    /// further sessions are reset (counted `acc_per_source_refused`). 0: no cap.
    #[serde(default = "default_per_source")]
    pub per_source: u16,
}

impl Default for AccumulationConfig {
    fn default() -> Self {
        AccumulationConfig {
            enabled: true,
            ports: default_acc_ports(),
            packetlimit: default_packetlimit(),
            max_bytes: default_max_bytes(),
            on_limit: OnLimit::default(),
            on_capacity: OnCapacity::default(),
            on_unparsable: None,
            pool_packets: default_pool_packets(),
            hold_timeout_secs: default_hold_timeout(),
            retransmit_timeout_ms: default_rto_ms(),
            retransmit_tries: default_tries(),
            min_ttl: default_min_ttl(),
            per_source: default_per_source(),
        }
    }
}

fn default_acc_ports() -> Vec<u16> {
    vec![443]
}
fn default_packetlimit() -> u16 {
    12
}
fn default_max_bytes() -> u32 {
    16384
}
fn default_pool_packets() -> u32 {
    49152
}
fn default_hold_timeout() -> f64 {
    10.0
}
fn default_rto_ms() -> u32 {
    300
}
fn default_tries() -> u8 {
    5
}
fn default_min_ttl() -> u8 {
    64
}
fn default_per_source() -> u16 {
    64
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FlowConfig {
    /// Flows per worker (preallocated).
    #[serde(default = "default_flow_capacity")]
    pub capacity: u32,
    #[serde(default)]
    pub on_table_full: OnTableFull,
    #[serde(default)]
    pub malformed: MalformedAction,
    #[serde(default)]
    pub fragments: Fragments,
    #[serde(default)]
    pub timeouts: crate::flow::Timeouts,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            capacity: default_flow_capacity(),
            on_table_full: OnTableFull::default(),
            malformed: MalformedAction::default(),
            fragments: Fragments::default(),
            timeouts: Default::default(),
        }
    }
}

fn default_flow_capacity() -> u32 {
    65536
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MssConfig {
    #[serde(default, with = "types::clamp_serde")]
    pub clamp: MssClamp,
    #[serde(default, with = "types::insert_serde")]
    pub insert_missing: MssInsert,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Passed to `rte_eal_init` verbatim.
    #[serde(default)]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PortsConfig {
    /// The client-side port; default: the first DPDK port.
    pub client: Option<PortRef>,
    /// The server-side port; default: the second DPDK port.
    pub server: Option<PortRef>,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    /// MTU to set on both ports (default: leave the device's).
    pub mtu: Option<u16>,
    #[serde(default = "default_true")]
    pub promiscuous: bool,
    /// Seconds to wait for links to come up before reporting ready anyway.
    #[serde(default = "default_link_wait")]
    pub link_wait_secs: u64,
}

impl Default for PortsConfig {
    fn default() -> Self {
        PortsConfig {
            client: None,
            server: None,
            rx_desc: default_desc(),
            tx_desc: default_desc(),
            mtu: None,
            promiscuous: true,
            link_wait_secs: default_link_wait(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WorkersConfig {
    /// CPU cores to pin workers to, one per queue. Empty: do not pin.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// RX/TX queues per port = worker threads. Default: number of cores, or 1.
    pub queues: Option<u16>,
}

impl WorkersConfig {
    pub fn queue_count(&self) -> u16 {
        self.queues.unwrap_or(self.cores.len().max(1) as u16)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MempoolConfig {
    /// Mbufs in the pool; default: computed from descriptors, queues and held-packet capacity.
    pub mbufs: Option<u32>,
    #[serde(default = "default_cache")]
    pub cache: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Unix socket for `appliancectl` (owner-only, or group-accessible with `group`).
    pub socket: Option<PathBuf>,
    /// Group id given read/write access to the socket.
    pub group: Option<u32>,
    /// Users (besides root and the appliance's own user) allowed on the socket.
    #[serde(default)]
    pub allowed_uids: Vec<u32>,
    /// Groups allowed on the socket.
    #[serde(default)]
    pub allowed_gids: Vec<u32>,
    /// Seconds between usage/statistics lines; 0 turns them off.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_secs: u64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: None,
            group: None,
            allowed_uids: Vec::new(),
            allowed_gids: Vec::new(),
            stats_interval_secs: default_stats_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// JSON-lines file with one record per ended session.
    pub traffic: Option<PathBuf>,
    /// Level of the appliance's own log on stderr: error, warn, info, debug, trace.
    #[serde(default = "default_log_level")]
    pub level: String,
}

fn default_log_level() -> String {
    "info".into()
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            traffic: None,
            level: default_log_level(),
        }
    }
}

fn default_desc() -> u16 {
    1024
}
fn default_true() -> bool {
    true
}
fn default_link_wait() -> u64 {
    10
}
fn default_cache() -> u32 {
    256
}
fn default_stats_interval() -> u64 {
    10
}

/// A config error, naming the file and key.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

impl Config {
    /// What an unparsable ClientHello gets: the setting, or when unset `reset` if the policy
    /// can deny anything and `release` otherwise (nothing to enforce, so nothing to protect).
    pub fn on_unparsable(&self) -> OnUnparsable {
        use crate::policy::Action;
        self.accumulation.on_unparsable.unwrap_or({
            let p = &self.policy;
            if p.default == Action::Deny || p.rules.iter().any(|r| r.action == Action::Deny) {
                OnUnparsable::Reset
            } else {
                OnUnparsable::Release
            }
        })
    }

    /// Read, parse and validate a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("config {}: {e}", path.display())))?;
        Config::parse(&text).map_err(|e| ConfigError(format!("config {}: {}", path.display(), e.0)))
    }

    /// Parse and validate config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gets_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.workers.queue_count(), 1);
        assert_eq!(c.ports.rx_desc, 1024);
        assert!(c.eal.args.is_empty());
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let e = Config::parse("[workers]\nqueus = 2\n").unwrap_err();
        assert!(e.0.contains("queus"), "{e}");
        let e = Config::parse("[nosuchsection]\n").unwrap_err();
        assert!(e.0.contains("nosuchsection"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Config::parse("[workers]\nqueues = 0\n").unwrap_err();
        assert!(e.0.starts_with("workers.queues"), "{e}");
        let e = Config::parse("[workers]\ncores = [1, 2]\nqueues = 1\n").unwrap_err();
        assert!(e.0.starts_with("workers.cores"), "{e}");
        let e = Config::parse("[ports]\nrx_desc = 8\n").unwrap_err();
        assert!(e.0.starts_with("ports.rx_desc"), "{e}");
        let e = Config::parse("[ports]\nclient = 1\nserver = 1\n").unwrap_err();
        assert!(e.0.starts_with("ports.server"), "{e}");
        let e = Config::parse("[workers]\nqueues = \"two\"\n").unwrap_err();
        assert!(e.0.contains("queues"), "{e}");
    }

    #[test]
    fn mss_values() {
        let c = Config::parse("[mss]\nclamp = \"auto\"\ninsert_missing = 1460\n").unwrap();
        assert_eq!(c.mss.clamp, MssClamp::Auto);
        assert_eq!(c.mss.insert_missing, MssInsert::Value(1460));
        let c = Config::parse("[mss]\nclamp = 1400\ninsert_missing = false\n").unwrap();
        assert_eq!(c.mss.clamp, MssClamp::Value(1400));
        assert_eq!(c.mss.insert_missing, MssInsert::Off);
        for bad in [
            "clamp = 100",
            "clamp = true",
            "clamp = \"big\"",
            "insert_missing = 70000",
        ] {
            let e = Config::parse(&format!("[mss]\n{bad}\n")).unwrap_err();
            assert!(
                e.0.contains("mss") || e.0.contains("clamp") || e.0.contains("insert_missing"),
                "{bad}: {e}"
            );
        }
        let e = Config::parse("[flow.timeouts]\nestablished = 0\n").unwrap_err();
        assert!(e.0.starts_with("flow.timeouts.established"), "{e}");
        let e = Config::parse("[flow]\non_table_full = \"explode\"\n").unwrap_err();
        assert!(
            e.0.contains("on_table_full") || e.0.contains("explode"),
            "{e}"
        );
    }

    #[test]
    fn accumulation_values() {
        let c =
            Config::parse("[accumulation]\npacketlimit = 24\non_limit = \"release\"\n").unwrap();
        assert_eq!(c.accumulation.packetlimit, 24);
        assert_eq!(c.accumulation.on_limit, OnLimit::Release);
        assert_eq!(c.accumulation.on_capacity, OnCapacity::Bypass);
        for (bad, key) in [
            ("packetlimit = 0", "accumulation.packetlimit"),
            ("packetlimit = 65", "accumulation.packetlimit"),
            ("max_bytes = 100", "accumulation.max_bytes"),
            (
                "pool_packets = 8\npacketlimit = 12",
                "accumulation.pool_packets",
            ),
        ] {
            let e = Config::parse(&format!("[accumulation]\n{bad}\n")).unwrap_err();
            assert!(e.0.starts_with(key), "{bad}: {e}");
        }
    }

    #[test]
    fn ports_by_id_or_name() {
        let c = Config::parse("[ports]\nclient = \"net_af_packet0\"\nserver = 1\n").unwrap();
        assert_eq!(c.ports.client, Some(PortRef::Name("net_af_packet0".into())));
        assert_eq!(c.ports.server, Some(PortRef::Id(1)));
    }

    #[test]
    fn metrics_and_diag() {
        let c = Config::parse("").unwrap();
        assert!(c.metrics.listen.is_none());
        assert!(!c.diag.pdump);
        let c = Config::parse("[metrics]\nlisten = \"127.0.0.1:9464\"\n[diag]\npdump = true\n")
            .unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
        assert!(c.diag.pdump);
        let c = Config::parse("[metrics]\nlisten = \"[::1]:9464\"\n").unwrap();
        assert_eq!(c.metrics.listen, Some("[::1]:9464".parse().unwrap()));
        let e = Config::parse("[metrics]\nlisten = \"localhost\"\n").unwrap_err();
        assert!(e.0.contains("listen"), "{e}");
        let e = Config::parse("[metrics]\nport = 9464\n").unwrap_err();
        assert!(e.0.contains("port"), "{e}");
        for blocker in ["--no-shconf", "--in-memory", "--no-huge"] {
            let e = Config::parse(&format!(
                "[eal]\nargs = [\"-l\", \"0\", \"{blocker}\"]\n[diag]\npdump = true\n"
            ))
            .unwrap_err();
            assert!(
                e.0.starts_with("diag.pdump") && e.0.contains(blocker),
                "{e}"
            );
        }
        // Without pdump the same arguments are fine (the testbed runs that way).
        Config::parse("[eal]\nargs = [\"--no-shconf\", \"--no-huge\"]\n").unwrap();
    }

    #[test]
    fn bare_metal_config_takes_run_time_changes() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/appliance.toml");
        let dir = std::env::temp_dir().join(format!("acp-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("appliance.toml");
        std::fs::copy(&src, &p).unwrap();
        crate::control::persist(
            &p,
            &[
                ("accumulation.packetlimit", 24i64.into()),
                ("mss.insert_missing", 1460i64.into()),
            ],
        )
        .unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.accumulation.packetlimit, 24);
        assert_eq!(c.mss.insert_missing, MssInsert::Value(1460));
        assert!(c.diag.pdump);
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("# held segments per session"),
            "comments kept"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shipped_configs_parse() {
        for f in ["testbed.toml", "appliance.toml"] {
            let p = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../conf")
                .join(f);
            Config::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
    }
}
