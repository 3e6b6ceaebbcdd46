//! The control thread's mailbox to one worker: `show sessions` queries in, rows out. The
//! worker answers between bursts, scanning a slice of its flow table per poll so a large
//! table never stalls the packet path.
//!
//! Owns: `Mailbox`, `SessionQuery`, `SessionRow` and the scan in progress (`Answering`).
//! Must not render anything (the JSON of `show sessions` is the appliance's control side),
//! change flows or accumulator state, or block: both queues are lock-free and a full reply
//! queue drops the reply (the control thread has timed out on it).

use crate::accumulate::Accumulator;
use crate::flow::{flag, Flow, FlowTable, TcpState};
use crate::io::Frame;
use crate::record::SessionRecord;
use crossbeam::queue::ArrayQueue;
use std::net::SocketAddr;
use std::sync::Arc;

/// Flow-table slots a `show sessions` scan visits per loop.
const QUERY_SLOTS_PER_POLL: u32 = 16_384;

/// A control request a worker answers between bursts (`show sessions`).
#[derive(Clone, Debug)]
pub struct SessionQuery {
    /// Echoed with the reply, so a late answer to an earlier (timed-out) query is told apart.
    pub id: u64,
    /// Lower-case SNI (or suffix) to match; None: all sessions.
    pub sni: Option<String>,
    pub limit: usize,
}

/// One live session as `show sessions` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub session_id: u64,
    pub worker: u16,
    /// IP protocol number.
    pub proto: u8,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub state: TcpState,
    pub packets_c2s: u32,
    pub packets_s2c: u32,
    pub bytes_c2s: u64,
    pub bytes_s2c: u64,
    /// Milliseconds since the session's first packet.
    pub age_ms: u32,
    /// `age_ms` less the flow's last-packet offset, as `show sessions` has always reported it.
    pub idle_ms: u32,
    /// Whether the accumulator holds the session's ClientHello now.
    pub accumulating: bool,
    /// The ClientHello's server name, once parsed.
    pub sni: Option<String>,
}

impl SessionRow {
    /// The row of flow `f` (of worker `worker`) at worker time `now_ms`.
    fn of(f: &Flow, worker: u16, sni: Option<&str>, now_ms: u64) -> SessionRow {
        let rec = SessionRecord::from_flow(f, worker, 0);
        let age = (now_ms as u32).wrapping_sub(f.start_ms);
        SessionRow {
            session_id: f.session_id(worker),
            worker,
            proto: rec.proto,
            client: SocketAddr::new(rec.client, rec.client_port),
            server: SocketAddr::new(rec.server, rec.server_port),
            state: f.state,
            packets_c2s: f.dir[0].pkts,
            packets_s2c: f.dir[1].pkts,
            bytes_c2s: f.dir[0].bytes,
            bytes_s2c: f.dir[1].bytes,
            age_ms: age,
            idle_ms: age.saturating_sub(f.last_ms),
            accumulating: f.has(flag::ACCUMULATING),
            sni: sni.map(str::to_owned),
        }
    }
}

/// Lock-free mailbox between the control thread and one worker.
pub struct Mailbox {
    pub queries: ArrayQueue<SessionQuery>,
    /// (query id, sessions).
    pub replies: ArrayQueue<(u64, Vec<SessionRow>)>,
}

impl Default for Mailbox {
    fn default() -> Self {
        Mailbox {
            queries: ArrayQueue::new(4),
            replies: ArrayQueue::new(4),
        }
    }
}

/// A query being answered: the next slot to scan and the rows found so far.
struct Scan {
    query: SessionQuery,
    next: u32,
    rows: Vec<SessionRow>,
}

/// A worker's side of its mailbox.
pub(super) struct Answering {
    mailbox: Arc<Mailbox>,
    scan: Option<Scan>,
}

impl Answering {
    pub(super) fn new(mailbox: Arc<Mailbox>) -> Self {
        Answering {
            mailbox,
            scan: None,
        }
    }

    /// Work on `show sessions`: a slice of the flow table per poll, so a large table is
    /// scanned without stalling the packet path; the reply goes out when the scan is done.
    pub(super) fn poll<B: Frame>(
        &mut self,
        flows: &FlowTable,
        acc: &Accumulator<B>,
        worker: u16,
        now_ms: u64,
    ) {
        if self.scan.is_none() {
            match self.mailbox.queries.pop() {
                Some(query) => {
                    self.scan = Some(Scan {
                        query,
                        next: 0,
                        rows: Vec::new(),
                    })
                }
                None => return,
            }
        }
        let Some(mut s) = self.scan.take() else {
            return;
        };
        match scan_slice(flows, acc, worker, &s.query, s.next, &mut s.rows, now_ms) {
            Some(next) if s.rows.len() < s.query.limit => {
                s.next = next;
                self.scan = Some(s);
            }
            _ => {
                let _ = self.mailbox.replies.push((s.query.id, s.rows));
            }
        }
    }
}

/// The live sessions among one slice of slots, from `from`; where the next slice starts.
fn scan_slice<B: Frame>(
    flows: &FlowTable,
    acc: &Accumulator<B>,
    worker: u16,
    q: &SessionQuery,
    from: u32,
    out: &mut Vec<SessionRow>,
    now_ms: u64,
) -> Option<u32> {
    let (it, next) = flows.scan(from, QUERY_SLOTS_PER_POLL);
    for (idx, f) in it {
        if out.len() >= q.limit {
            break;
        }
        let sni = acc.sni_of(idx);
        if let Some(want) = &q.sni {
            if !sni.is_some_and(|s| sni_matches(s, want)) {
                continue;
            }
        }
        out.push(SessionRow::of(f, worker, sni, now_ms));
    }
    next
}

/// Whether server name `sni` is `want` (lower case) or a subdomain of it, ignoring ASCII
/// case, without allocating.
fn sni_matches(sni: &str, want: &str) -> bool {
    let (s, w) = (sni.as_bytes(), want.as_bytes());
    s.eq_ignore_ascii_case(w)
        || (s.len() > w.len()
            && s[s.len() - w.len()..].eq_ignore_ascii_case(w)
            && s[s.len() - w.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::sni_matches;

    #[test]
    fn sni_matches_names_and_subdomains() {
        assert!(sni_matches("example.com", "example.com"));
        assert!(sni_matches("WWW.Example.COM", "example.com"));
        assert!(sni_matches("a.b.example.com", "example.com"));
        assert!(!sni_matches("badexample.com", "example.com"));
        assert!(!sni_matches("example.com", "www.example.com"));
        assert!(!sni_matches("example.co", "example.com"));
    }
}
