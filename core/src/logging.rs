//! Logging through `tracing`: events from the control thread (and setup) to stderr, with a
//! level the operator can change at run time (`appliancectl set log-level LEVEL`). Workers do
//! not log per packet; they count, and the control thread reports.

use std::sync::OnceLock;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, reload, Registry};

static HANDLE: OnceLock<reload::Handle<LevelFilter, Registry>> = OnceLock::new();

/// Parse a level name (`error`, `warn`, `info`, `debug`, `trace`, `off`).
pub fn parse_level(s: &str) -> Result<LevelFilter, String> {
    s.parse::<LevelFilter>()
        .map_err(|_| format!("unknown log level {s:?}: use error, warn, info, debug, trace or off"))
}

/// Install the subscriber (once per process; later calls only set the level).
pub fn init(level: LevelFilter) {
    if HANDLE.get().is_some() {
        let _ = set_level(level);
        return;
    }
    let (filter, handle) = reload::Layer::new(level);
    let fmt = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set(handle);
    }
}

/// The level in force.
pub fn level() -> LevelFilter {
    HANDLE
        .get()
        .and_then(|h| h.clone_current())
        .unwrap_or(LevelFilter::INFO)
}

/// Change the level at run time; returns the previous one.
pub fn set_level(level: LevelFilter) -> Result<LevelFilter, String> {
    let h = HANDLE.get().ok_or("logging not initialised")?;
    let old = level_or_info(h.clone_current());
    h.modify(|f| *f = level).map_err(|e| e.to_string())?;
    Ok(old)
}

fn level_or_info(l: Option<LevelFilter>) -> LevelFilter {
    l.unwrap_or(LevelFilter::INFO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_change_at_run_time() {
        init(LevelFilter::INFO);
        assert_eq!(level(), LevelFilter::INFO);
        assert!(tracing::enabled!(tracing::Level::INFO));
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
        assert_eq!(set_level(LevelFilter::DEBUG).unwrap(), LevelFilter::INFO);
        assert!(tracing::enabled!(tracing::Level::DEBUG));
        set_level(LevelFilter::WARN).unwrap();
        assert!(!tracing::enabled!(tracing::Level::INFO));
        assert!(parse_level("loud").is_err());
        assert_eq!(parse_level("trace").unwrap(), LevelFilter::TRACE);
    }
}
