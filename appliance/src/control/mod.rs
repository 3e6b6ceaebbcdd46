//! The control plane's appliance side: [`ops`] answers each request of the control socket
//! (the grammar and the socket itself are `appliance_core::control`), and [`metrics_http`]
//! serves the same counters as Prometheus text on `[metrics] listen`.

pub mod metrics_http;
pub mod ops;

pub use appliance_core::control::*;
