//! What a ClientHello told, as traffic-log fields: the summary the accumulator builds when a
//! hello completes ([`hello_summary`]) and its JSON fields ([`hello_fields`]).

use super::TlsSummary;
use crate::tls::{self, ClientHelloInfo};
use serde_json::json;

/// A TLS version number as operators write it.
fn version(v: u16) -> String {
    match v {
        0x0304 => "1.3".into(),
        0x0303 => "1.2".into(),
        0x0302 => "1.1".into(),
        0x0301 => "1.0".into(),
        0x0300 => "ssl3".into(),
        v => format!("0x{v:04x}"),
    }
}

/// IANA names of the groups seen in practice; others as hex.
pub fn group_name(g: u16) -> String {
    match g {
        0x0017 => "secp256r1".into(),
        0x0018 => "secp384r1".into(),
        0x0019 => "secp521r1".into(),
        0x001d => "x25519".into(),
        0x001e => "x448".into(),
        0x0100 => "ffdhe2048".into(),
        0x0101 => "ffdhe3072".into(),
        0x11eb => "SecP256r1MLKEM768".into(),
        0x11ec => "X25519MLKEM768".into(),
        0x11ed => "SecP384r1MLKEM1024".into(),
        0x6399 => "X25519Kyber768Draft00".into(),
        g if tls::hello::is_grease(g) => "GREASE".into(),
        g => format!("0x{g:04x}"),
    }
}

/// The worker's summary of an inspected ClientHello: the parsed hello moved in, no encoding.
pub fn hello_summary(
    info: Box<ClientHelloInfo>,
    records: u32,
    segments: u32,
    wire_bytes: u32,
) -> TlsSummary {
    TlsSummary {
        hello: Some(info),
        records,
        segments,
        wire_bytes,
        accumulation: Some("inspected"),
        ..TlsSummary::default()
    }
}

/// The traffic-log fields of a parsed ClientHello (control thread: JSON and JA4 here).
pub fn hello_fields(
    info: &ClientHelloInfo,
    records: u32,
    segments: u32,
    wire_bytes: u32,
    m: &mut serde_json::Map<String, serde_json::Value>,
) {
    m.insert("sni".into(), json!(info.sni));
    m.insert("alpn".into(), json!(info.alpn_lossy().collect::<Vec<_>>()));
    m.insert("tls_version".into(), json!(version(info.highest_version)));
    let groups: Vec<String> = info
        .supported_groups
        .iter()
        .map(|g| group_name(*g))
        .collect();
    m.insert("groups".into(), json!(groups));
    let ks: Vec<String> = info
        .key_share_groups
        .iter()
        .map(|g| group_name(*g))
        .collect();
    m.insert("key_share_groups".into(), json!(ks));
    m.insert("post_quantum".into(), json!(info.post_quantum));
    m.insert("ech".into(), json!(info.ech));
    m.insert(
        "session_ticket_bytes".into(),
        json!(info.session_ticket_len.unwrap_or(0)),
    );
    m.insert(
        "psk_identity_bytes".into(),
        json!(info.psk.map(|p| p.identity_bytes).unwrap_or(0)),
    );
    m.insert("client_hello_bytes".into(), json!(info.message_len));
    m.insert("client_hello_wire_bytes".into(), json!(wire_bytes));
    m.insert("tls_records".into(), json!(records));
    m.insert("tcp_segments".into(), json!(segments));
    m.insert("ja4".into(), json!(tls::ja4(info).as_str()));
}
