//! `show sessions`: the query to every worker's mailbox, the wait for their rows, and the
//! rows as the JSON that `appliancectl` and the end-to-end tests read.
//!
//! Owns: the round trip through the mailboxes (with its deadline) and the JSON shape of a
//! session row. Must not reach into a worker otherwise: the rows are all a worker hands over.

use crate::worker::{Mailbox, SessionQuery, SessionRow};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the control thread waits for the workers' rows.
const DEADLINE: Duration = Duration::from_secs(2);

/// Ask every worker for its sessions (those whose SNI is `sni` or a subdomain of it, when
/// given), at most `limit` in all, in worker order; workers that do not answer in time are
/// named in a warning.
pub(super) fn show_sessions(mailboxes: &[Arc<Mailbox>], sni: Option<String>, limit: u32) -> Value {
    static NEXT_QUERY: AtomicU64 = AtomicU64::new(1);
    let q = SessionQuery {
        id: NEXT_QUERY.fetch_add(1, Ordering::Relaxed),
        sni: sni.map(|s| s.to_ascii_lowercase()),
        limit: limit as usize,
    };
    let mut asked = Vec::new();
    let mut missing = Vec::new();
    for (i, m) in mailboxes.iter().enumerate() {
        while m.replies.pop().is_some() {} // stale answers of a timed-out request
        if m.queries.push(q.clone()).is_ok() {
            asked.push(i);
        } else {
            missing.push(i); // still busy with earlier queries
        }
    }
    let deadline = Instant::now() + DEADLINE;
    let mut sessions = Vec::new();
    for i in asked {
        match reply(&mailboxes[i], q.id, deadline) {
            Some(rows) => sessions.extend(rows.iter().map(row_json)),
            None => missing.push(i),
        }
    }
    sessions.truncate(limit as usize);
    let mut v = json!({ "count": sessions.len(), "sessions": sessions });
    if !missing.is_empty() {
        v["warning"] = json!(format!("workers {missing:?} did not answer in time"));
    }
    v
}

/// The reply to query `id` from one mailbox, waited for until `deadline`. A late answer to
/// an earlier, timed-out query is dropped.
fn reply(m: &Mailbox, id: u64, deadline: Instant) -> Option<Vec<SessionRow>> {
    loop {
        match m.replies.pop() {
            Some((got, rows)) if got == id => return Some(rows),
            Some(_) => continue,
            None => {}
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// One session as `show sessions` lists it.
pub(super) fn row_json(r: &SessionRow) -> Value {
    json!({
        "session_id": r.session_id,
        "worker": r.worker,
        "proto": r.proto,
        "client": r.client.to_string(),
        "server": r.server.to_string(),
        "state": format!("{:?}", r.state),
        "packets_c2s": r.packets_c2s,
        "packets_s2c": r.packets_s2c,
        "bytes_c2s": r.bytes_c2s,
        "bytes_s2c": r.bytes_s2c,
        "age_ms": r.age_ms,
        "idle_ms": r.idle_ms,
        "accumulating": r.accumulating,
        "sni": r.sni,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::TcpState;

    fn row(worker: u16, sni: Option<&str>) -> SessionRow {
        SessionRow {
            session_id: (worker as u64) << 48 | 7,
            worker,
            proto: 6,
            client: "198.18.0.1:40000".parse().unwrap(),
            server: "[2001:2::2]:443".parse().unwrap(),
            state: TcpState::Established,
            packets_c2s: 3,
            packets_s2c: 2,
            bytes_c2s: 1500,
            bytes_s2c: 900,
            age_ms: 1200,
            idle_ms: 40,
            accumulating: true,
            sni: sni.map(str::to_owned),
        }
    }

    #[test]
    fn row_shape() {
        let text = serde_json::to_string(&row_json(&row(1, Some("example.com")))).unwrap();
        assert_eq!(
            text,
            "{\"accumulating\":true,\"age_ms\":1200,\"bytes_c2s\":1500,\"bytes_s2c\":900,\
             \"client\":\"198.18.0.1:40000\",\"idle_ms\":40,\"packets_c2s\":3,\"packets_s2c\":2,\
             \"proto\":6,\"server\":\"[2001:2::2]:443\",\"session_id\":281474976710663,\
             \"sni\":\"example.com\",\"state\":\"Established\",\"worker\":1}"
        );
        assert_eq!(row_json(&row(0, None))["sni"], Value::Null);
    }

    #[test]
    fn rows_in_worker_order_up_to_the_limit() {
        let boxes: Vec<Arc<Mailbox>> = (0..3).map(|_| Arc::default()).collect();
        let workers: Vec<_> = boxes
            .iter()
            .enumerate()
            .map(|(w, m)| {
                let m = m.clone();
                std::thread::spawn(move || {
                    // Worker 2 never answers.
                    let q = loop {
                        if let Some(q) = m.queries.pop() {
                            break q;
                        }
                        std::thread::yield_now();
                    };
                    assert_eq!(q.sni.as_deref(), Some("example.com"));
                    if w < 2 {
                        let rows = vec![row(w as u16, Some("example.com")); 2];
                        m.replies.push((q.id, rows)).unwrap();
                    }
                })
            })
            .collect();
        let v = show_sessions(&boxes, Some("Example.COM".into()), 3);
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(v["count"], json!(3));
        let by: Vec<_> = v["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["worker"].clone())
            .collect();
        assert_eq!(by, [json!(0), json!(0), json!(1)]);
        assert_eq!(v["warning"], json!("workers [2] did not answer in time"));
    }
}
