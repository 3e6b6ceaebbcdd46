//! The control plane's wire side, shared by the appliance and `appliancectl` (no DPDK here).
//!
//! - [`request`]: the command grammar ([`Request`], [`parse_request`]), shared by the
//!   socket and `appliancectl`;
//! - [`server`]: the Unix control socket ([`Server`], [`ServerConfig`]) served from one
//!   thread, answering each request line with one JSON line produced by a [`Backend`]
//!   (the appliance's is `control::ops` in the `appliance` crate);
//! - [`mod@persist`]: writing run-time changes back to the TOML config file atomically,
//!   keeping its comments and layout.
//!
//! Wire protocol: one request per line (`\n`, optional `\r`, at most [`MAX_REQUEST`]
//! bytes), the same words as the `appliancectl` command; one response per line, a JSON
//! object with `"ok": true` and the command's fields, or `"ok": false` and `"error"`.

mod persist;
mod request;
mod server;

#[cfg(test)]
mod tests;

pub use persist::{persist, remove_key};
pub use request::{
    parse_request, LogLevel, MssClamp, OnCapacity, OnLimit, Request, COMMANDS_HELP, MAX_BYTES_MAX,
    MAX_BYTES_MIN, MAX_REQUEST, MSS_MAX, MSS_MIN, PACKETLIMIT_MAX, PACKETLIMIT_MIN,
    SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX, SESSIONS_LIMIT_MIN, TARGET_PERCENTILE_DEFAULT,
};
pub use server::{encode_response, Backend, Server, ServerConfig, ServerStats};

/// Default control socket path (the `[control] socket` default and `appliancectl`'s).
pub const DEFAULT_SOCKET: &str = "/run/appliance/control.sock";

/// Environment variable that overrides `appliancectl`'s default socket path.
pub const SOCKET_ENV: &str = "APPLIANCE_SOCKET";
