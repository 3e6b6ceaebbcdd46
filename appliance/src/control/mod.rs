//! The control plane's appliance side: [`ops`] answers each request of the control socket
//! (the grammar and the socket itself are `appliance_core::control`), and [`metrics_http`]
//! serves the same counters as Prometheus text on `[metrics] listen`. Private helpers of
//! `ops`: `advise` (the advice and capacity arithmetic), `metrics` (the Prometheus text) and
//! `sessions` (the `show sessions` round trip and its JSON).

mod advise;
mod metrics;
pub mod metrics_http;
pub mod ops;
mod sessions;

pub use appliance_core::control::*;
