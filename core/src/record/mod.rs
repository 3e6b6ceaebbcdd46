//! The traffic log: one record per ended session, handed from a worker to the control thread
//! through a bounded lock-free queue and written as one JSON line.

mod hello;

pub use hello::{group_name, hello_fields, hello_summary};

use crate::flow::{flag, Dir, EndReason, Flow};
use crate::tls::ClientHelloInfo;
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// What accumulation did with a session and what its ClientHello told. Filled by the worker
/// with plain values (the parsed hello is moved here, not re-encoded); the JSON and the JA4
/// fingerprint are made on the control thread when the record is written.
#[derive(Clone, Debug, Default)]
pub struct TlsSummary {
    pub hello: Option<Box<ClientHelloInfo>>,
    pub records: u32,
    pub segments: u32,
    pub wire_bytes: u32,
    /// `inspected`, `non-tls`, `sslv2`, `malformed`, `parse-error`, `limit`, `hold-timeout`,
    /// `one-sided`, `capacity-bypass`, `capacity-reset`, `release-timeout`, `shutdown-…`.
    pub accumulation: Option<&'static str>,
    /// `allow` or `deny` by the SNI policy.
    pub verdict: Option<&'static str>,
    pub diag: Option<String>,
    /// The failed-session capture file.
    pub capture: Option<String>,
}

impl TlsSummary {
    /// Fold a later note into this summary (later values win).
    pub fn merge(&mut self, o: TlsSummary) {
        if o.hello.is_some() {
            self.hello = o.hello;
            self.records = o.records;
            self.segments = o.segments;
            self.wire_bytes = o.wire_bytes;
        }
        self.accumulation = o.accumulation.or(self.accumulation);
        self.verdict = o.verdict.or(self.verdict);
        self.diag = o.diag.or(self.diag.take());
        self.capture = o.capture.or(self.capture.take());
    }

    /// The SNI, when the ClientHello was parsed.
    pub fn sni(&self) -> Option<&str> {
        self.hello.as_ref()?.sni.as_deref()
    }

    fn fields(&self, m: &mut Map<String, Value>) {
        if let Some(h) = &self.hello {
            hello_fields(h, self.records, self.segments, self.wire_bytes, m);
        }
        if let Some(a) = self.accumulation {
            m.insert("accumulation".into(), json!(a));
        }
        if let Some(v) = self.verdict {
            m.insert("verdict".into(), json!(v));
        }
        if let Some(d) = &self.diag {
            m.insert("diag".into(), json!(d));
        }
        if let Some(c) = &self.capture {
            m.insert("capture".into(), json!(c));
        }
    }
}

/// One ended session. Built by the worker from its flow; serialised by the control thread.
#[derive(Clone, Debug)]
pub struct SessionRecord {
    pub end_unix_ms: u64,
    pub session_id: u64,
    pub worker: u16,
    pub client: IpAddr,
    pub client_port: u16,
    pub server: IpAddr,
    pub server_port: u16,
    pub proto: u8,
    pub vlan: u16,
    pub end_reason: EndReason,
    pub packets: [u32; 2],
    pub bytes: [u64; 2],
    pub duration_ms: u32,
    pub mss: [u16; 2],
    pub flags: u16,
    pub midstream: bool,
    /// Accumulation results, when the session was inspected.
    pub tls: Option<Box<TlsSummary>>,
    pub diag: Option<Box<str>>,
}

fn addr(a: &[u8; 16], v4: bool) -> IpAddr {
    if v4 {
        IpAddr::from([a[12], a[13], a[14], a[15]])
    } else {
        IpAddr::from(*a)
    }
}

impl SessionRecord {
    /// The record of a flow that ended with `reason` (if it had not already ended otherwise),
    /// at `end_unix_ms`.
    pub fn from_flow(f: &Flow, worker: u16, end_unix_ms: u64) -> SessionRecord {
        let (c, cp, s, sp) = f.endpoints();
        let v4 = f.key.is_v4();
        SessionRecord {
            end_unix_ms,
            session_id: f.session_id(worker),
            worker,
            client: addr(&c, v4),
            client_port: cp,
            server: addr(&s, v4),
            server_port: sp,
            proto: f.key.proto,
            vlan: f.key.vlan,
            end_reason: f.end_reason().unwrap_or(EndReason::AgedOut),
            packets: [f.dir[0].pkts, f.dir[1].pkts],
            bytes: [f.dir[0].bytes, f.dir[1].bytes],
            duration_ms: f.last_ms,
            mss: [
                f.dir[Dir::FromClient.index()].mss,
                f.dir[Dir::FromServer.index()].mss,
            ],
            flags: f.flags,
            midstream: f.has(flag::MIDSTREAM),
            tls: None,
            diag: None,
        }
    }

    /// The diagnostic of a session the appliance ended itself, for the operator's log.
    pub fn diag_line(&self) -> Option<String> {
        let d = self.tls.as_ref()?.diag.as_deref()?;
        Some(format!(
            "{d} (session {} {}:{} -> {}:{}, {})",
            self.session_id,
            self.client,
            self.client_port,
            self.server,
            self.server_port,
            self.end_reason.name()
        ))
    }

    /// The JSON object written to the traffic log.
    pub fn to_json(&self) -> Value {
        let mss = |v: u16| if v == 0 { Value::Null } else { json!(v) };
        let mut o = json!({
            "time": rfc3339_ms(self.end_unix_ms),
            "session_id": self.session_id,
            "worker": self.worker,
            "proto": proto_name(self.proto),
            "client": self.client.to_string(),
            "client_port": self.client_port,
            "server": self.server.to_string(),
            "server_port": self.server_port,
            "end_reason": self.end_reason.name(),
            "packets_c2s": self.packets[0],
            "bytes_c2s": self.bytes[0],
            "packets_s2c": self.packets[1],
            "bytes_s2c": self.bytes[1],
            "duration_ms": self.duration_ms,
        });
        let m = o.as_object_mut().expect("object");
        if self.vlan != 0 {
            m.insert("vlan".into(), json!(self.vlan));
        }
        if self.proto == 6 {
            m.insert("mss_client".into(), mss(self.mss[0]));
            m.insert("mss_server".into(), mss(self.mss[1]));
            m.insert(
                "mss_inserted".into(),
                side_flags(
                    self.flags,
                    flag::MSS_INSERTED_CLIENT,
                    flag::MSS_INSERTED_SERVER,
                ),
            );
            m.insert(
                "mss_clamped".into(),
                side_flags(
                    self.flags,
                    flag::MSS_CLAMPED_CLIENT,
                    flag::MSS_CLAMPED_SERVER,
                ),
            );
            m.insert(
                "handshake_seen".into(),
                json!(self.flags & flag::HANDSHAKE_BOTH != 0),
            );
            if self.midstream {
                m.insert("midstream".into(), json!(true));
            }
        }
        if let Some(t) = &self.tls {
            t.fields(m);
        }
        if let Some(d) = &self.diag {
            m.insert("diag".into(), json!(d.as_ref()));
        }
        o
    }
}

/// `["client"]`, `["server"]`, both or empty: in which direction's SYN the appliance did it.
fn side_flags(flags: u16, client: u16, server: u16) -> Value {
    let mut v = Vec::new();
    if flags & client != 0 {
        v.push("client");
    }
    if flags & server != 0 {
        v.push("server");
    }
    json!(v)
}

fn proto_name(p: u8) -> Value {
    match p {
        6 => json!("tcp"),
        17 => json!("udp"),
        1 => json!("icmp"),
        58 => json!("icmpv6"),
        n => json!(n),
    }
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_ms(1_795_440_001_999), "2026-11-23T13:20:01.999Z");
    }
}
