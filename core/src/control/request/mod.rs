//! Control requests: the grammar shared by the control socket and `appliancectl`.
//!
//! A request line is the same words an operator types after `appliancectl`, separated by
//! whitespace, e.g. `set packetlimit 24` or `show sessions --sni example.com --limit 20`.
//! [`parse_request`] turns a line into a [`Request`]; [`Request::to_line`] goes the other
//! way (the canonical form, which parses back to the same request).
//!
//! Keywords are matched case-insensitively; values (an SNI) are kept as typed.

use std::fmt;

mod parse;

pub use parse::parse_request;

/// Longest accepted request line in bytes, without its line terminator.
pub const MAX_REQUEST: usize = 4096;

/// Smallest accepted `packetlimit` (held segments per session); the config's bound.
pub const PACKETLIMIT_MIN: u32 = crate::config::PACKETLIMIT_MIN as u32;
/// Largest accepted `packetlimit`.
pub const PACKETLIMIT_MAX: u32 = crate::config::PACKETLIMIT_MAX as u32;
/// Smallest accepted `max-bytes` (ClientHello bytes held per session).
pub const MAX_BYTES_MIN: u32 = crate::config::MAX_BYTES_MIN;
/// Largest accepted `max-bytes`.
pub const MAX_BYTES_MAX: u32 = crate::config::MAX_BYTES_MAX;
/// Smallest MSS accepted by `set mss insert-missing` and `set mss clamp`.
pub const MSS_MIN: u16 = crate::config::MSS_MIN;
/// Largest MSS accepted by `set mss insert-missing` and `set mss clamp`.
pub const MSS_MAX: u16 = crate::config::MSS_MAX;
/// Default `--limit` of `show sessions`.
pub const SESSIONS_LIMIT_DEFAULT: u32 = 100;
/// Largest `--limit` of `show sessions`.
pub const SESSIONS_LIMIT_MAX: u32 = 10_000;
/// Smallest `--limit` of `show sessions`.
pub const SESSIONS_LIMIT_MIN: u32 = 1;
/// Default `--target-percentile` of `advise packetlimit`.
pub const TARGET_PERCENTILE_DEFAULT: f64 = 99.9;
/// Largest SNI filter accepted by `show sessions --sni` (the DNS name limit).
pub const SNI_FILTER_MAX: usize = 255;

/// The long form of `set packetlimit N` that operators of the commercial appliance type.
pub const LONG_FORM_PACKETLIMIT: [&str; 6] = [
    "debug",
    "dataplane",
    "set",
    "ssl-decrypt",
    "accumulate-client-hello",
    "packetlimit",
];

/// Every command with its arguments, one per line: the reference for error messages and
/// for `appliancectl --help`.
pub const COMMANDS_HELP: &str = "\
Commands (the request line is the same words):
  show accumulation                      packet limit, capacity and usage, per worker and total
  show counters                          all datapath counters
  show mss                               MSS clamp / insert settings and counters
  show ports                             DPDK port statistics
  show config                            the running configuration
  show metrics                           control-plane and resource metrics
  show sessions [--sni S] [--limit N]    live flow table (limit 1..=10000, default 100)
  set packetlimit N                      held segments per ClientHello (1..=64)
  debug dataplane set ssl-decrypt accumulate-client-hello packetlimit N
                                         long form of `set packetlimit N`
  set max-bytes N                        ClientHello bytes per session (512..=65536)
  set on-limit reset|release             over budget: reset, or release uninspected
  set on-capacity bypass|reset           no free capacity: bypass, or reset
  set mss insert-missing N|off           insert MSS N (536..=9000) into SYNs without one
  set mss clamp N|auto|off               clamp MSS to N (536..=9000), to the MTU, or not
  set log-level error|warn|info|debug|trace
  advise packetlimit [--target-percentile P]
                                         recommended limit (0 < P <= 100, default 99.9)
  what-if packetlimit N                  capacity and memory at N (1..=64), no change";

/// Short list of the command words, used in "unknown command" errors.
const COMMAND_LIST: &str = "show accumulation|counters|mss|ports|config|metrics|sessions, \
set packetlimit|max-bytes|on-limit|on-capacity|mss|log-level, \
advise packetlimit, what-if packetlimit, \
debug dataplane set ssl-decrypt accumulate-client-hello packetlimit N";

// The policy enums are the configuration's own: one definition for the file and the socket.
pub use crate::config::{MssClamp, OnCapacity, OnLimit};

/// `set log-level` argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages.
    Info,
    /// Debugging detail.
    Debug,
    /// Everything.
    Trace,
}

/// One parsed control request.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `show accumulation`
    ShowAccumulation,
    /// `show counters`
    ShowCounters,
    /// `show mss`
    ShowMss,
    /// `show ports`
    ShowPorts,
    /// `show config`
    ShowConfig,
    /// `show metrics`
    ShowMetrics,
    /// `show sessions [--sni S] [--limit N]`
    ShowSessions {
        /// Only sessions whose SNI matches this (matching rule is the backend's).
        sni: Option<String>,
        /// At most this many sessions ([`SESSIONS_LIMIT_MIN`]..=[`SESSIONS_LIMIT_MAX`]).
        limit: u32,
    },
    /// `set packetlimit N` or its long form.
    SetPacketLimit(u32),
    /// `set max-bytes N`
    SetMaxBytes(u32),
    /// `set on-limit reset|release`
    SetOnLimit(OnLimit),
    /// `set on-capacity bypass|reset`
    SetOnCapacity(OnCapacity),
    /// `set mss insert-missing N|off` (`None` = off).
    SetMssInsertMissing(Option<u16>),
    /// `set mss clamp N|auto|off`
    SetMssClamp(MssClamp),
    /// `set log-level LEVEL`
    SetLogLevel(LogLevel),
    /// `advise packetlimit [--target-percentile P]`
    AdvisePacketLimit {
        /// Percentage of ClientHellos the advised limit must cover (0 < P <= 100).
        target_percentile: f64,
    },
    /// `what-if packetlimit N`
    WhatIfPacketLimit(u32),
}

impl LogLevel {
    /// The keyword as typed and as written to the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl Request {
    /// Whether the request changes the running configuration (and so should be persisted).
    pub fn is_change(&self) -> bool {
        matches!(
            self,
            Request::SetPacketLimit(_)
                | Request::SetMaxBytes(_)
                | Request::SetOnLimit(_)
                | Request::SetOnCapacity(_)
                | Request::SetMssInsertMissing(_)
                | Request::SetMssClamp(_)
                | Request::SetLogLevel(_)
        )
    }

    /// A short stable name of the command (`"show accumulation"`, `"set packetlimit"`, ...),
    /// for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Request::ShowAccumulation => "show accumulation",
            Request::ShowCounters => "show counters",
            Request::ShowMss => "show mss",
            Request::ShowPorts => "show ports",
            Request::ShowConfig => "show config",
            Request::ShowMetrics => "show metrics",
            Request::ShowSessions { .. } => "show sessions",
            Request::SetPacketLimit(_) => "set packetlimit",
            Request::SetMaxBytes(_) => "set max-bytes",
            Request::SetOnLimit(_) => "set on-limit",
            Request::SetOnCapacity(_) => "set on-capacity",
            Request::SetMssInsertMissing(_) => "set mss insert-missing",
            Request::SetMssClamp(_) => "set mss clamp",
            Request::SetLogLevel(_) => "set log-level",
            Request::AdvisePacketLimit { .. } => "advise packetlimit",
            Request::WhatIfPacketLimit(_) => "what-if packetlimit",
        }
    }

    /// The canonical request line; `parse_request(&r.to_line()) == Ok(r)` for every valid
    /// request (an SNI containing whitespace cannot be expressed and is the one exception).
    pub fn to_line(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::ShowSessions { sni, limit } => {
                f.write_str("show sessions")?;
                if let Some(s) = sni {
                    write!(f, " --sni {s}")?;
                }
                write!(f, " --limit {limit}")
            }
            Request::SetPacketLimit(n) => write!(f, "set packetlimit {n}"),
            Request::SetMaxBytes(n) => write!(f, "set max-bytes {n}"),
            Request::SetOnLimit(v) => write!(f, "set on-limit {}", v.as_str()),
            Request::SetOnCapacity(v) => write!(f, "set on-capacity {}", v.as_str()),
            Request::SetMssInsertMissing(Some(n)) => write!(f, "set mss insert-missing {n}"),
            Request::SetMssInsertMissing(None) => f.write_str("set mss insert-missing off"),
            Request::SetMssClamp(MssClamp::Value(n)) => write!(f, "set mss clamp {n}"),
            Request::SetMssClamp(MssClamp::Auto) => f.write_str("set mss clamp auto"),
            Request::SetMssClamp(MssClamp::Off) => f.write_str("set mss clamp off"),
            Request::SetLogLevel(l) => write!(f, "set log-level {}", l.as_str()),
            Request::AdvisePacketLimit { target_percentile } => {
                write!(
                    f,
                    "advise packetlimit --target-percentile {target_percentile}"
                )
            }
            Request::WhatIfPacketLimit(n) => write!(f, "what-if packetlimit {n}"),
            other => f.write_str(other.name()),
        }
    }
}
