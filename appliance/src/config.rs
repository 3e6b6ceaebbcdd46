//! The TOML configuration. Every section refuses unknown keys, and `validate` refuses bad
//! values with a message naming the key, so a typo never silently falls back to a default.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Passed to `rte_eal_init` verbatim.
    #[serde(default)]
    pub args: Vec<String>,
}

/// A DPDK port named by id or by device name.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum PortRef {
    Id(u16),
    Name(String),
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
    pub socket: Option<PathBuf>,
    /// Seconds between usage/statistics lines; 0 turns them off.
    #[serde(default = "default_stats_interval")]
    pub stats_interval_secs: u64,
}

impl Default for ControlConfig {
    fn default() -> Self {
        ControlConfig {
            socket: None,
            stats_interval_secs: default_stats_interval(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// JSON-lines file with one record per ended session.
    pub traffic: Option<PathBuf>,
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

    /// Check values that types alone do not (ranges, consistency).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: String| Err(ConfigError(format!("{key}: {msg}")));
        let q = self.workers.queue_count();
        if q == 0 || q > MAX_QUEUES {
            return bad(
                "workers.queues",
                format!("must be 1..={MAX_QUEUES}, got {q}"),
            );
        }
        if !self.workers.cores.is_empty() && self.workers.cores.len() != q as usize {
            return bad(
                "workers.cores",
                format!(
                    "gives {} cores for {q} queues: give one core per queue",
                    self.workers.cores.len()
                ),
            );
        }
        let mut seen = self.workers.cores.clone();
        seen.sort_unstable();
        if seen.windows(2).any(|w| w[0] == w[1]) {
            return bad("workers.cores", "lists a core twice".into());
        }
        for (key, v) in [
            ("ports.rx_desc", self.ports.rx_desc),
            ("ports.tx_desc", self.ports.tx_desc),
        ] {
            if !(64..=16384).contains(&v) {
                return bad(key, format!("must be 64..=16384, got {v}"));
            }
        }
        if let Some(mtu) = self.ports.mtu {
            if !(576..=9600).contains(&mtu) {
                return bad("ports.mtu", format!("must be 576..=9600, got {mtu}"));
            }
        }
        if self.ports.client.is_some() && self.ports.client == self.ports.server {
            return bad("ports.server", "is the same port as ports.client".into());
        }
        if self.mempool.cache > 512 {
            return bad(
                "mempool.cache",
                format!(
                    "must be at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE), got {}",
                    self.mempool.cache
                ),
            );
        }
        if let Some(n) = self.mempool.mbufs {
            if n < 1024 {
                return bad("mempool.mbufs", format!("must be at least 1024, got {n}"));
            }
        }
        Ok(())
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
    fn ports_by_id_or_name() {
        let c = Config::parse("[ports]\nclient = \"net_af_packet0\"\nserver = 1\n").unwrap();
        assert_eq!(c.ports.client, Some(PortRef::Name("net_af_packet0".into())));
        assert_eq!(c.ports.server, Some(PortRef::Id(1)));
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
