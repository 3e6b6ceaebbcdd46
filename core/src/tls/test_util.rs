//! Test helpers: the captured fixtures and ways to re-frame and build handshake messages.

use super::framing::{CONTENT_TYPE_HANDSHAKE, MAX_RECORD_LEN};

/// One captured client stream from `testdata/` (see `testdata/README.md`).
pub(crate) struct Fixture {
    /// File name under `testdata/`.
    pub name: &'static str,
    /// The client→server bytes: TLS records up to the end of the ClientHello.
    pub stream: Vec<u8>,
    /// The handshake message, reassembled independently of the code under test.
    pub message: Vec<u8>,
    /// Records that carry the message.
    pub records: u32,
}

pub(crate) const CHROME_LIKE: &[u8] = include_bytes!("testdata/chrome143-like-mlkem.bin");
pub(crate) const FIREFOX: &[u8] = include_bytes!("testdata/firefox-foxio-tls12pcap.bin");
pub(crate) const OPENSSL_LARGE_FRAG: &[u8] =
    include_bytes!("testdata/openssl3-large-alpn-frag512.bin");
pub(crate) const OPENSSL_LARGE: &[u8] = include_bytes!("testdata/openssl3-large-alpn.bin");
pub(crate) const OPENSSL_PSK: &[u8] = include_bytes!("testdata/openssl3-resume-tls13-psk.bin");
pub(crate) const OPENSSL_SNI_ALPN: &[u8] = include_bytes!("testdata/openssl3-sni-alpn.bin");
pub(crate) const OPENSSL_TLS12_TICKET: &[u8] = include_bytes!("testdata/openssl3-tls12-ticket.bin");

/// All fixtures, the small OpenSSL one first.
pub(crate) fn fixtures() -> Vec<Fixture> {
    [
        ("openssl3-sni-alpn.bin", OPENSSL_SNI_ALPN),
        ("openssl3-large-alpn.bin", OPENSSL_LARGE),
        ("openssl3-large-alpn-frag512.bin", OPENSSL_LARGE_FRAG),
        ("openssl3-resume-tls13-psk.bin", OPENSSL_PSK),
        ("openssl3-tls12-ticket.bin", OPENSSL_TLS12_TICKET),
        ("firefox-foxio-tls12pcap.bin", FIREFOX),
        ("chrome143-like-mlkem.bin", CHROME_LIKE),
    ]
    .into_iter()
    .map(|(name, bytes)| {
        let (message, records) = reassemble(bytes);
        Fixture {
            name,
            stream: bytes.to_vec(),
            message,
            records,
        }
    })
    .collect()
}

/// Straightforward reassembly, for cross-checking: concatenates record payloads until
/// the handshake message is complete. Panics on anything unexpected (tests only).
fn reassemble(stream: &[u8]) -> (Vec<u8>, u32) {
    let mut payload = Vec::new();
    let mut off = 0;
    let mut records = 0;
    loop {
        assert_eq!(stream[off], CONTENT_TYPE_HANDSHAKE);
        let len = usize::from(u16::from_be_bytes([stream[off + 3], stream[off + 4]]));
        payload.extend_from_slice(&stream[off + 5..off + 5 + len]);
        off += 5 + len;
        records += 1;
        if payload.len() >= 4 {
            let want = 4
                + (usize::from(payload[1]) << 16
                    | usize::from(payload[2]) << 8
                    | usize::from(payload[3]));
            if payload.len() >= want {
                assert_eq!(off, stream.len(), "fixture ends at the hello's last record");
                payload.truncate(want);
                return (payload, records);
            }
        }
    }
}

/// The handshake message of a record stream (see [`reassemble`]).
pub(crate) fn handshake_of(stream: &[u8]) -> Vec<u8> {
    reassemble(stream).0
}

/// `payload` as one handshake record (record version 0x0301), of any length.
pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![CONTENT_TYPE_HANDSHAKE, 3, 1];
    v.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// `message` cut into handshake records: first of the given `sizes` (clipped to what is
/// left; zero sizes skipped), then the rest in records of at most 2^14 bytes.
pub(crate) fn reframe_records(message: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = message;
    for &s in sizes {
        let s = s.min(rest.len());
        if s == 0 {
            continue;
        }
        out.extend_from_slice(&frame(&rest[..s]));
        rest = &rest[s..];
    }
    let max = usize::from(MAX_RECORD_LEN - 256);
    while !rest.is_empty() {
        let s = rest.len().min(max);
        out.extend_from_slice(&frame(&rest[..s]));
        rest = &rest[s..];
    }
    out
}

/// Builds a ClientHello handshake message (with its 4-byte header) from parts.
pub(crate) struct HelloBuilder {
    pub version: u16,
    pub session_id: Vec<u8>,
    pub ciphers: Vec<u16>,
    pub compression: Vec<u8>,
    /// `None` leaves the extensions block out entirely.
    pub extensions: Option<Vec<(u16, Vec<u8>)>>,
}

impl Default for HelloBuilder {
    fn default() -> Self {
        HelloBuilder {
            version: 0x0303,
            session_id: vec![0x11; 32],
            ciphers: vec![0x1301],
            compression: vec![0],
            extensions: Some(Vec::new()),
        }
    }
}

impl HelloBuilder {
    /// Adds an extension.
    pub fn ext(mut self, ty: u16, body: Vec<u8>) -> Self {
        self.extensions
            .get_or_insert_with(Vec::new)
            .push((ty, body));
        self
    }

    /// The handshake message bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&self.version.to_be_bytes());
        body.extend_from_slice(&[0x42; 32]);
        body.push(self.session_id.len() as u8);
        body.extend_from_slice(&self.session_id);
        body.extend_from_slice(&((self.ciphers.len() * 2) as u16).to_be_bytes());
        for c in &self.ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.push(self.compression.len() as u8);
        body.extend_from_slice(&self.compression);
        if let Some(exts) = &self.extensions {
            let mut block = Vec::new();
            for (ty, data) in exts {
                block.extend_from_slice(&ty.to_be_bytes());
                block.extend_from_slice(&(data.len() as u16).to_be_bytes());
                block.extend_from_slice(data);
            }
            body.extend_from_slice(&(block.len() as u16).to_be_bytes());
            body.extend_from_slice(&block);
        }
        let mut msg = vec![1];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(&body);
        msg
    }
}

/// `vec16` of big-endian u16 values (supported_groups, signature_algorithms).
pub(crate) fn u16_list(values: &[u16]) -> Vec<u8> {
    let mut v = ((values.len() * 2) as u16).to_be_bytes().to_vec();
    for x in values {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v
}

/// ALPN extension body for the given protocol names.
pub(crate) fn alpn_body(protocols: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protocols {
        list.push(p.len() as u8);
        list.extend_from_slice(p);
    }
    let mut v = (list.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&list);
    v
}

/// server_name extension body with one host_name.
pub(crate) fn sni_body(host: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&(host.len() as u16).to_be_bytes());
    entry.extend_from_slice(host);
    let mut v = (entry.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(&entry);
    v
}
