//! Flow tracking: the bidirectional key, the per-worker table, TCP state per direction, session
//! end reasons and aging.

pub mod guard;
mod key;
mod state;
mod table;
pub mod tcp;
pub mod wheel;

pub use guard::Refusal;
pub use key::{FlowKey, HashKey};
pub use state::{flag, Dir, DirState, Flow, TcpState};
pub use table::{prefetch, tick_of, FlowTable, Insert, SLOT_BYTES};
pub use wheel::{Wheel, TICK_MS};

use serde::Deserialize;

/// Where the kernel says whether transparent huge pages are on.
pub const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// The transparent-huge-page mode (`always`, `madvise`, `never`) from the text of
/// [`THP_ENABLED`]: the word in brackets.
pub fn thp_mode(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    Some(&text[start..start + len])
}

/// What the operator must hear at start when the flow tables (`tables_bytes` in all, which ask
/// for huge pages with `madvise`) cannot have them: with `never` every lookup in a table larger
/// than the TLB's reach also misses the TLB, and at a million flows that halves the rate.
/// None when the mode allows them or the table is small; `mode` None: unknown (no such file).
pub fn thp_warning(mode: Option<&str>, tables_bytes: u64) -> Option<String> {
    // About what a second-level TLB of a thousand 4 KiB entries covers.
    const TLB_REACH: u64 = 4 << 20;
    match mode {
        Some("never") if tables_bytes > TLB_REACH => Some(format!(
            "transparent huge pages are off ({THP_ENABLED}: never): the flow tables ({} MiB) \
             stay in 4 KiB pages and every lookup also misses the TLB; set it to madvise \
             (echo madvise > {THP_ENABLED}) before starting the appliance",
            tables_bytes >> 20
        )),
        _ => None,
    }
}

/// Why a session ended, as operators read it in the traffic log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EndReason {
    /// Both sides closed with FIN.
    TcpFin = 1,
    /// The client sent a RST.
    TcpRstFromClient,
    /// The server sent a RST.
    TcpRstFromServer,
    /// No packet for longer than the state's timeout.
    AgedOut,
    /// The appliance stopped with the session open.
    Shutdown,
    /// The ClientHello needed more packets (or bytes) than the budget: we reset it.
    AccumulationLimit,
    /// No accumulation capacity left and `on_capacity = "reset"`.
    AccumulationCapacity,
    /// The SNI policy denied the ClientHello: we reset it.
    PolicyDeny,
    /// Data we acknowledged on the server's behalf was never acknowledged by the server.
    ReleaseTimeout,
    /// The ClientHello could not be parsed and `on_unparsable = "reset"`: we reset it.
    Unparsable,
}

impl EndReason {
    pub const ALL: [EndReason; 10] = [
        EndReason::TcpFin,
        EndReason::TcpRstFromClient,
        EndReason::TcpRstFromServer,
        EndReason::AgedOut,
        EndReason::Shutdown,
        EndReason::AccumulationLimit,
        EndReason::AccumulationCapacity,
        EndReason::PolicyDeny,
        EndReason::ReleaseTimeout,
        EndReason::Unparsable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EndReason::TcpFin => "tcp-fin",
            EndReason::TcpRstFromClient => "tcp-rst-from-client",
            EndReason::TcpRstFromServer => "tcp-rst-from-server",
            EndReason::AgedOut => "aged-out",
            EndReason::Shutdown => "shutdown",
            EndReason::AccumulationLimit => "accumulation-limit",
            EndReason::AccumulationCapacity => "accumulation-capacity",
            EndReason::PolicyDeny => "policy-deny",
            EndReason::ReleaseTimeout => "release-timeout",
            EndReason::Unparsable => "unparsable",
        }
    }

    /// Reasons for which the appliance itself ended the session (with RSTs).
    pub fn is_ours(self) -> bool {
        matches!(
            self,
            EndReason::AccumulationLimit
                | EndReason::AccumulationCapacity
                | EndReason::PolicyDeny
                | EndReason::ReleaseTimeout
                | EndReason::Unparsable
        )
    }

    /// Index into per-reason counter arrays (0-based).
    pub fn index(self) -> usize {
        self as usize - 1
    }

    fn from_u8(v: u8) -> Option<EndReason> {
        EndReason::ALL.get((v as usize).wrapping_sub(1)).copied()
    }
}

/// Timeouts in seconds, per state (`[flow]` in the config).
#[derive(Clone, Copy, Debug, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// SYN seen, handshake not complete.
    #[serde(default = "d_handshake")]
    pub handshake: f64,
    /// Established TCP.
    #[serde(default = "d_established")]
    pub established: f64,
    /// One side sent FIN.
    #[serde(default = "d_half_closed")]
    pub half_closed: f64,
    /// Both sides sent FIN, or a RST ended the session (absorbs stragglers).
    #[serde(default = "d_time_wait")]
    pub time_wait: f64,
    /// UDP, ICMP and other IP protocols.
    #[serde(default = "d_non_tcp")]
    pub non_tcp: f64,
}

fn d_handshake() -> f64 {
    10.0
}
fn d_established() -> f64 {
    3600.0
}
fn d_half_closed() -> f64 {
    120.0
}
fn d_time_wait() -> f64 {
    15.0
}
fn d_non_tcp() -> f64 {
    30.0
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            handshake: d_handshake(),
            established: d_established(),
            half_closed: d_half_closed(),
            time_wait: d_time_wait(),
            non_tcp: d_non_tcp(),
        }
    }
}

impl Timeouts {
    /// The timeout for a state, in wheel ticks (at least one).
    pub fn ticks(&self, state: TcpState) -> u32 {
        let secs = match state {
            TcpState::NonTcp => self.non_tcp,
            TcpState::SynSent | TcpState::SynReceived => self.handshake,
            TcpState::Established => self.established,
            TcpState::HalfClosed => self.half_closed,
            TcpState::Closed => self.time_wait,
        };
        ((secs * 1000.0 / TICK_MS as f64).ceil() as u32).max(1)
    }

    pub fn validate(&self) -> Result<(), String> {
        for (k, v) in [
            ("handshake", self.handshake),
            ("established", self.established),
            ("half_closed", self.half_closed),
            ("time_wait", self.time_wait),
            ("non_tcp", self.non_tcp),
        ] {
            if !(0.1..=86400.0 * 7.0).contains(&v) {
                return Err(format!(
                    "flow.timeouts.{k}: must be 0.1..=604800 seconds, got {v}"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod thp_tests {
    use super::*;

    #[test]
    fn reads_the_bracketed_mode_and_warns_only_when_it_is_never_and_the_table_is_large() {
        assert_eq!(thp_mode("always [madvise] never\n"), Some("madvise"));
        assert_eq!(thp_mode("[always] madvise never"), Some("always"));
        assert_eq!(thp_mode("always madvise [never]\n"), Some("never"));
        assert_eq!(thp_mode("garbage"), None);
        assert_eq!(thp_mode("[unterminated"), None);
        let big = 160 << 20;
        let w = thp_warning(Some("never"), big).expect("a warning");
        assert!(w.contains("160 MiB") && w.contains("madvise"), "{w}");
        assert_eq!(thp_warning(Some("madvise"), big), None);
        assert_eq!(thp_warning(Some("always"), big), None);
        assert_eq!(thp_warning(None, big), None);
        assert_eq!(
            thp_warning(Some("never"), 1 << 20),
            None,
            "a small table fits the TLB"
        );
    }
}
