//! A realistic TLS 1.3 ClientHello, shaped like a current browser's, with a chosen size.
//!
//! The hello carries what makes real ones large: a post-quantum hybrid key share
//! (X25519MLKEM768, 1216 bytes), a session ticket, a long ALPN list, optionally an ECH
//! outer extension and a pre-shared key. A target size is hit exactly with the padding
//! extension (21), or, when only 1 to 3 bytes are missing, by growing the trailing GREASE
//! extension. Everything random comes from the spec's seed.
//!
//! Sizes: [`ClientHello::wire_len`] counts every byte the client writes to TCP — all TLS
//! record headers included — which is what decides the number of segments. The
//! handshake header's length field (what tshark shows as `tls.handshake.length`) is
//! [`ClientHello::handshake_len`].

use super::rng::Rng;
use std::fmt;

/// TLS record content type: handshake.
pub const CONTENT_HANDSHAKE: u8 = 22;
/// TLS record content type: change_cipher_spec.
pub const CONTENT_CCS: u8 = 20;
/// TLS record content type: application_data.
pub const CONTENT_APPDATA: u8 = 23;
/// Largest plaintext record payload (RFC 8446 §5.1: 2^14).
pub const MAX_RECORD_PAYLOAD: usize = 16_384;
/// TLS record header length.
pub const RECORD_HEADER_LEN: usize = 5;
/// Handshake message header length (type + 24-bit length).
pub const HANDSHAKE_HEADER_LEN: usize = 4;
/// Named group X25519MLKEM768 (draft-kwiatkowski-tls-ecdhe-mlkem).
pub const GROUP_X25519MLKEM768: u16 = 0x11ec;
/// Named group x25519.
pub const GROUP_X25519: u16 = 0x001d;
/// Client key share length of X25519MLKEM768: ML-KEM-768 encapsulation key (1184) + 32.
pub const X25519MLKEM768_CLIENT_SHARE: usize = 1216;
/// Server key share length of X25519MLKEM768: ML-KEM-768 ciphertext (1088) + 32.
pub const X25519MLKEM768_SERVER_SHARE: usize = 1120;
/// Longest SNI host name accepted (DNS name limit).
pub const SNI_MAX: usize = 253;

/// Extension type numbers used here.
pub mod ext {
    /// server_name
    pub const SERVER_NAME: u16 = 0;
    /// status_request
    pub const STATUS_REQUEST: u16 = 5;
    /// supported_groups
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// ec_point_formats
    pub const EC_POINT_FORMATS: u16 = 11;
    /// signature_algorithms
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// application_layer_protocol_negotiation
    pub const ALPN: u16 = 16;
    /// signed_certificate_timestamp
    pub const SCT: u16 = 18;
    /// padding (RFC 7685)
    pub const PADDING: u16 = 21;
    /// extended_master_secret
    pub const EXTENDED_MASTER_SECRET: u16 = 23;
    /// compress_certificate
    pub const COMPRESS_CERTIFICATE: u16 = 27;
    /// session_ticket (RFC 5077)
    pub const SESSION_TICKET: u16 = 35;
    /// pre_shared_key (must be last)
    pub const PRE_SHARED_KEY: u16 = 41;
    /// supported_versions
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// psk_key_exchange_modes
    pub const PSK_KEY_EXCHANGE_MODES: u16 = 45;
    /// key_share
    pub const KEY_SHARE: u16 = 51;
    /// encrypted_client_hello
    pub const ECH: u16 = 0xfe0d;
    /// renegotiation_info
    pub const RENEGOTIATION_INFO: u16 = 0xff01;
}

/// Cipher suites after the leading GREASE value (a current Chrome's list).
const CIPHER_SUITES: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c,
    0x009d, 0x002f, 0x0035,
];
/// Signature algorithms offered.
const SIGNATURE_ALGORITHMS: [u16; 8] = [
    0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
];

/// What the ClientHello should contain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelloSpec {
    /// Server name (SNI host_name): 1..=253 bytes of letters, digits, `-`, `.`, `_`.
    pub sni: String,
    /// ALPN protocols in preference order; empty omits the extension.
    pub alpn: Vec<String>,
    /// Bytes of opaque ticket in the session_ticket extension (35); 0 sends it empty.
    pub ticket_len: usize,
    /// Offer and send an X25519MLKEM768 key share besides x25519.
    pub pq: bool,
    /// Exact number of bytes on the wire (all records, headers included); `None` for the
    /// natural size without padding.
    pub target_size: Option<usize>,
    /// Add a pre_shared_key extension with an identity of this many bytes.
    pub psk_identity_len: Option<usize>,
    /// Add an outer encrypted_client_hello extension with a payload of this many bytes.
    pub ech_payload_len: Option<usize>,
    /// Seed for every random field (random, session id, GREASE values, key shares, …).
    pub seed: u64,
}

impl HelloSpec {
    /// A browser-like default for `sni`: ALPN h2 and http/1.1, post-quantum share, no
    /// ticket, natural size, seed 0.
    pub fn new(sni: &str) -> Self {
        HelloSpec {
            sni: sni.to_string(),
            alpn: vec!["h2".to_string(), "http/1.1".to_string()],
            ticket_len: 0,
            pq: true,
            target_size: None,
            psk_identity_len: None,
            ech_payload_len: None,
            seed: 0,
        }
    }
}

/// Why a ClientHello could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelloError {
    /// The SNI is empty.
    EmptySni,
    /// The SNI is longer than [`SNI_MAX`].
    SniTooLong(usize),
    /// The SNI contains a byte outside letters, digits, `-`, `.`, `_`.
    SniByte(u8),
    /// An ALPN protocol name is empty or longer than 255 bytes.
    AlpnProtocol(usize),
    /// A PSK identity or ECH payload length of 0.
    EmptyField(&'static str),
    /// A field does not fit its length prefix.
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The target is below the natural size of this hello.
    TooSmall {
        /// Requested wire size.
        target: usize,
        /// Smallest wire size this spec can have.
        min: usize,
    },
    /// The target is larger than a ClientHello can be (the extensions block is limited to
    /// 65535 bytes).
    TooLarge(usize),
    /// The target falls in a gap just above a multiple of 16389 bytes where one more record
    /// header would be needed and the content no longer fits.
    Unreachable(usize),
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            HelloError::EmptySni => write!(f, "SNI is empty"),
            HelloError::SniTooLong(n) => write!(f, "SNI of {n} bytes exceeds {SNI_MAX}"),
            HelloError::SniByte(b) => write!(
                f,
                "SNI contains {:?}; only letters, digits, '-', '.', '_' are allowed",
                char::from(b)
            ),
            HelloError::AlpnProtocol(n) => {
                write!(f, "ALPN protocol name of {n} bytes (must be 1..=255)")
            }
            HelloError::EmptyField(what) => write!(f, "{what} must not be empty"),
            HelloError::FieldTooLong { field, len } => {
                write!(f, "{field} of {len} bytes does not fit its length field")
            }
            HelloError::TooSmall { target, min } => write!(
                f,
                "ClientHello size {target} is below the minimum {min} for this hello \
                 (a post-quantum key share alone is {X25519MLKEM768_CLIENT_SHARE} bytes)"
            ),
            HelloError::TooLarge(t) => write!(
                f,
                "ClientHello size {t} is too large (extensions are limited to 65535 bytes)"
            ),
            HelloError::Unreachable(t) => write!(
                f,
                "ClientHello size {t} cannot be hit exactly (an extra record header is \
                 needed); try a few bytes more"
            ),
        }
    }
}

impl std::error::Error for HelloError {}

/// A built ClientHello.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientHello {
    /// The TLS records carrying the handshake message, as written to TCP.
    pub bytes: Vec<u8>,
    /// The handshake length field: the ClientHello body length, without its 4-byte header.
    pub handshake_len: usize,
    /// Number of TLS records.
    pub records: usize,
    /// Bytes added to reach the target (padding extension and/or GREASE growth).
    pub padding: usize,
    /// The legacy session id (a server echoes it).
    pub session_id: [u8; 32],
}

impl ClientHello {
    /// Bytes on the wire (all records).
    pub fn wire_len(&self) -> usize {
        self.bytes.len()
    }
}

/// Random material drawn once per spec, so that the natural-size and padded builds agree.
struct Material {
    random: [u8; 32],
    session_id: [u8; 32],
    grease_cipher: u16,
    grease_group: u16,
    grease_version: u16,
    grease_ext_first: u16,
    grease_ext_last: u16,
    x25519: Vec<u8>,
    mlkem: Vec<u8>,
    ticket: Vec<u8>,
    ech_config_id: u8,
    ech_enc: Vec<u8>,
    ech_payload: Vec<u8>,
    psk_identity: Vec<u8>,
    psk_age: u32,
    psk_binder: Vec<u8>,
}

/// GREASE value number `k` (0..16): 0x0a0a, 0x1a1a, …, 0xfafa (RFC 8701).
fn grease(k: u64) -> u16 {
    let n = (k % 16) as u16;
    (n << 12) | 0x0a00 | (n << 4) | 0x0a
}

fn array32(rng: &mut Rng) -> [u8; 32] {
    let mut a = [0u8; 32];
    rng.fill(&mut a);
    a
}

impl Material {
    fn draw(spec: &HelloSpec) -> Self {
        let mut rng = Rng::derive(spec.seed, 0x0048_454c_4c4f);
        let first = rng.below(16);
        let last = (first + 1 + rng.below(15)) % 16;
        Material {
            random: array32(&mut rng),
            session_id: array32(&mut rng),
            grease_cipher: grease(rng.below(16)),
            grease_group: grease(rng.below(16)),
            grease_version: grease(rng.below(16)),
            grease_ext_first: grease(first),
            grease_ext_last: grease(last),
            x25519: rng.bytes(32),
            mlkem: rng.bytes(X25519MLKEM768_CLIENT_SHARE),
            // Lengths were validated to fit 16 bits.
            ticket: rng.bytes(spec.ticket_len),
            ech_config_id: rng.next_u32() as u8,
            ech_enc: rng.bytes(32),
            ech_payload: rng.bytes(spec.ech_payload_len.unwrap_or(0)),
            psk_identity: rng.bytes(spec.psk_identity_len.unwrap_or(0)),
            psk_age: rng.next_u32(),
            psk_binder: rng.bytes(32),
        }
    }
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `data` with a 16-bit length prefix.
fn put_vec16(out: &mut Vec<u8>, field: &'static str, data: &[u8]) -> Result<(), HelloError> {
    let len = u16::try_from(data.len()).map_err(|_| HelloError::FieldTooLong {
        field,
        len: data.len(),
    })?;
    put_u16(out, len);
    out.extend_from_slice(data);
    Ok(())
}

/// Appends `data` with an 8-bit length prefix.
fn put_vec8(out: &mut Vec<u8>, field: &'static str, data: &[u8]) -> Result<(), HelloError> {
    let len = u8::try_from(data.len()).map_err(|_| HelloError::FieldTooLong {
        field,
        len: data.len(),
    })?;
    out.push(len);
    out.extend_from_slice(data);
    Ok(())
}

fn u16_list(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

fn validate(spec: &HelloSpec) -> Result<(), HelloError> {
    let sni = spec.sni.as_bytes();
    if sni.is_empty() {
        return Err(HelloError::EmptySni);
    }
    if sni.len() > SNI_MAX {
        return Err(HelloError::SniTooLong(sni.len()));
    }
    if let Some(&b) = sni
        .iter()
        .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
    {
        return Err(HelloError::SniByte(b));
    }
    for p in &spec.alpn {
        if p.is_empty() || p.len() > 255 {
            return Err(HelloError::AlpnProtocol(p.len()));
        }
    }
    let limits = [
        ("session ticket", spec.ticket_len),
        ("PSK identity", spec.psk_identity_len.unwrap_or(0)),
        ("ECH payload", spec.ech_payload_len.unwrap_or(0)),
    ];
    for (field, len) in limits {
        if len > usize::from(u16::MAX) {
            return Err(HelloError::FieldTooLong { field, len });
        }
    }
    if spec.psk_identity_len == Some(0) {
        return Err(HelloError::EmptyField("PSK identity"));
    }
    if spec.ech_payload_len == Some(0) {
        return Err(HelloError::EmptyField("ECH payload"));
    }
    Ok(())
}

/// The extensions, in order. `fill` bytes are added: 1..=3 by growing the trailing GREASE
/// extension, 4 or more as a padding extension of `fill - 4` zero bytes.
fn extensions(
    spec: &HelloSpec,
    m: &Material,
    fill: usize,
) -> Result<Vec<(u16, Vec<u8>)>, HelloError> {
    let mut exts: Vec<(u16, Vec<u8>)> = Vec::with_capacity(20);
    exts.push((m.grease_ext_first, Vec::new()));

    let mut sni = vec![0u8]; // name_type host_name
    put_vec16(&mut sni, "SNI", spec.sni.as_bytes())?;
    let mut data = Vec::new();
    put_vec16(&mut data, "server_name list", &sni)?;
    exts.push((ext::SERVER_NAME, data));

    exts.push((ext::EXTENDED_MASTER_SECRET, Vec::new()));
    exts.push((ext::RENEGOTIATION_INFO, vec![0]));

    let mut groups = vec![m.grease_group];
    if spec.pq {
        groups.push(GROUP_X25519MLKEM768);
    }
    groups.extend_from_slice(&[GROUP_X25519, 0x0017, 0x0018]);
    let mut data = Vec::new();
    put_vec16(&mut data, "supported_groups", &u16_list(&groups))?;
    exts.push((ext::SUPPORTED_GROUPS, data));

    exts.push((ext::EC_POINT_FORMATS, vec![1, 0]));
    exts.push((ext::SESSION_TICKET, m.ticket.clone()));

    if !spec.alpn.is_empty() {
        let mut list = Vec::new();
        for p in &spec.alpn {
            put_vec8(&mut list, "ALPN protocol", p.as_bytes())?;
        }
        let mut data = Vec::new();
        put_vec16(&mut data, "ALPN list", &list)?;
        exts.push((ext::ALPN, data));
    }

    exts.push((ext::STATUS_REQUEST, vec![1, 0, 0, 0, 0]));
    let mut data = Vec::new();
    put_vec16(
        &mut data,
        "signature_algorithms",
        &u16_list(&SIGNATURE_ALGORITHMS),
    )?;
    exts.push((ext::SIGNATURE_ALGORITHMS, data));
    exts.push((ext::SCT, Vec::new()));

    let mut shares = Vec::new();
    put_u16(&mut shares, m.grease_group);
    put_vec16(&mut shares, "key share", &[0])?;
    if spec.pq {
        put_u16(&mut shares, GROUP_X25519MLKEM768);
        put_vec16(&mut shares, "key share", &m.mlkem)?;
    }
    put_u16(&mut shares, GROUP_X25519);
    put_vec16(&mut shares, "key share", &m.x25519)?;
    let mut data = Vec::new();
    put_vec16(&mut data, "key_share", &shares)?;
    exts.push((ext::KEY_SHARE, data));

    exts.push((ext::PSK_KEY_EXCHANGE_MODES, vec![1, 1]));
    let mut data = Vec::new();
    put_vec8(
        &mut data,
        "supported_versions",
        &u16_list(&[m.grease_version, 0x0304, 0x0303]),
    )?;
    exts.push((ext::SUPPORTED_VERSIONS, data));
    exts.push((ext::COMPRESS_CERTIFICATE, vec![2, 0, 2]));

    if spec.ech_payload_len.is_some() {
        // Outer ECH: type 0, HPKE suite (HKDF-SHA256, AES-128-GCM), config id, enc, payload.
        let mut data = vec![0, 0, 1, 0, 1, m.ech_config_id];
        put_vec16(&mut data, "ECH enc", &m.ech_enc)?;
        put_vec16(&mut data, "ECH payload", &m.ech_payload)?;
        exts.push((ext::ECH, data));
    }

    let grow = if (1..=3).contains(&fill) { fill } else { 0 };
    exts.push((m.grease_ext_last, vec![0; 1 + grow]));
    if fill >= 4 {
        exts.push((ext::PADDING, vec![0; fill - 4]));
    }

    if spec.psk_identity_len.is_some() {
        let mut ids = Vec::new();
        put_vec16(&mut ids, "PSK identity", &m.psk_identity)?;
        ids.extend_from_slice(&m.psk_age.to_be_bytes());
        let mut binders = Vec::new();
        put_vec8(&mut binders, "PSK binder", &m.psk_binder)?;
        let mut data = Vec::new();
        put_vec16(&mut data, "PSK identities", &ids)?;
        put_vec16(&mut data, "PSK binders", &binders)?;
        exts.push((ext::PRE_SHARED_KEY, data));
    }
    Ok(exts)
}

/// The complete handshake message (header included).
fn handshake(spec: &HelloSpec, m: &Material, fill: usize) -> Result<Vec<u8>, HelloError> {
    let mut ext_block = Vec::new();
    for (ty, data) in extensions(spec, m, fill)? {
        put_u16(&mut ext_block, ty);
        put_vec16(&mut ext_block, "extension", &data)?;
    }
    let mut body = Vec::with_capacity(ext_block.len() + 128);
    put_u16(&mut body, 0x0303);
    body.extend_from_slice(&m.random);
    put_vec8(&mut body, "session id", &m.session_id)?;
    let mut suites = vec![m.grease_cipher];
    suites.extend_from_slice(&CIPHER_SUITES);
    put_vec16(&mut body, "cipher suites", &u16_list(&suites))?;
    body.extend_from_slice(&[1, 0]); // compression methods: null
    put_vec16(&mut body, "extensions", &ext_block)?;

    let mut hs = Vec::with_capacity(body.len() + HANDSHAKE_HEADER_LEN);
    hs.push(1); // client_hello
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);
    Ok(hs)
}

/// Bytes on the wire for a handshake message of `hs_len` bytes in maximal records.
fn wire_len_of(hs_len: usize) -> usize {
    hs_len + RECORD_HEADER_LEN * hs_len.div_ceil(MAX_RECORD_PAYLOAD).max(1)
}

/// Wraps `data` in records of `content_type`, `count` of them, filling each as far as
/// possible while leaving at least one byte for every later record.
fn records_exact(content_type: u8, data: &[u8], count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + RECORD_HEADER_LEN * count);
    let mut rest = data;
    for i in 0..count {
        let later = count - 1 - i;
        let take = MAX_RECORD_PAYLOAD.min(rest.len().saturating_sub(later));
        let (chunk, tail) = rest.split_at(take);
        out.push(content_type);
        out.extend_from_slice(&[3, 3]);
        out.extend_from_slice(&(take as u16).to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

/// Wraps `data` in as few records of `content_type` as the 2^14 limit allows.
pub fn records(content_type: u8, data: &[u8]) -> Vec<u8> {
    records_exact(
        content_type,
        data,
        data.len().div_ceil(MAX_RECORD_PAYLOAD).max(1),
    )
}

/// The smallest wire size `spec` can have (its natural size, without padding).
pub fn min_wire_size(spec: &HelloSpec) -> Result<usize, HelloError> {
    validate(spec)?;
    let m = Material::draw(spec);
    Ok(wire_len_of(handshake(spec, &m, 0)?.len()))
}

/// Builds the ClientHello records for `spec`.
pub fn build(spec: &HelloSpec) -> Result<ClientHello, HelloError> {
    validate(spec)?;
    let m = Material::draw(spec);
    let natural = handshake(spec, &m, 0)?;
    let (hs, count, fill) = match spec.target_size {
        None => {
            let count = natural.len().div_ceil(MAX_RECORD_PAYLOAD).max(1);
            (natural, count, 0)
        }
        Some(target) => {
            let min = wire_len_of(natural.len());
            if target < min {
                return Err(HelloError::TooSmall { target, min });
            }
            // Fewest records that can carry the rest; each adds a 5-byte header.
            let count = target.div_ceil(MAX_RECORD_PAYLOAD + RECORD_HEADER_LEN);
            let hs_len = target - RECORD_HEADER_LEN * count;
            if hs_len < natural.len() {
                return Err(HelloError::Unreachable(target));
            }
            let fill = hs_len - natural.len();
            if fill > usize::from(u16::MAX) {
                return Err(HelloError::TooLarge(target));
            }
            let hs = handshake(spec, &m, fill)?;
            debug_assert_eq!(hs.len(), hs_len);
            (hs, count, fill)
        }
    };
    let bytes = records_exact(CONTENT_HANDSHAKE, &hs, count);
    Ok(ClientHello {
        handshake_len: hs.len() - HANDSHAKE_HEADER_LEN,
        records: count,
        padding: fill,
        session_id: m.session_id,
        bytes,
    })
}

/// A server's first flight, fake but well-formed enough for dissectors: a ServerHello
/// record (TLS 1.3, TLS_AES_128_GCM_SHA256, key share X25519MLKEM768 or x25519, echoing
/// `session_id`), a ChangeCipherSpec record, and `encrypted_len` bytes of application data
/// standing for EncryptedExtensions … Finished.
pub fn server_flight(
    rng: &mut Rng,
    pq: bool,
    session_id: &[u8; 32],
    encrypted_len: usize,
) -> Vec<u8> {
    let (group, share_len) = if pq {
        (GROUP_X25519MLKEM768, X25519MLKEM768_SERVER_SHARE)
    } else {
        (GROUP_X25519, 32)
    };
    let mut exts = Vec::new();
    put_u16(&mut exts, ext::SUPPORTED_VERSIONS);
    put_u16(&mut exts, 2);
    put_u16(&mut exts, 0x0304);
    put_u16(&mut exts, ext::KEY_SHARE);
    put_u16(&mut exts, (4 + share_len) as u16);
    put_u16(&mut exts, group);
    put_u16(&mut exts, share_len as u16);
    exts.extend_from_slice(&rng.bytes(share_len));

    let mut body = Vec::new();
    put_u16(&mut body, 0x0303);
    body.extend_from_slice(&rng.bytes(32));
    body.push(32);
    body.extend_from_slice(session_id);
    put_u16(&mut body, 0x1301);
    body.push(0);
    put_u16(&mut body, exts.len() as u16);
    body.extend_from_slice(&exts);

    let mut hs = vec![2];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend_from_slice(&body);

    let mut out = records(CONTENT_HANDSHAKE, &hs);
    out.extend_from_slice(&records(CONTENT_CCS, &[1]));
    out.extend_from_slice(&records(CONTENT_APPDATA, &rng.bytes(encrypted_len.max(1))));
    out
}

/// The client's second flight: ChangeCipherSpec, an encrypted Finished (53 bytes of
/// application data) and an encrypted request of `request_len` bytes.
pub fn client_finish(rng: &mut Rng, request_len: usize) -> Vec<u8> {
    let mut out = records(CONTENT_CCS, &[1]);
    out.extend_from_slice(&records(CONTENT_APPDATA, &rng.bytes(53)));
    out.extend_from_slice(&records(CONTENT_APPDATA, &rng.bytes(request_len.max(1))));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal independent ClientHello walker for the tests: returns
    /// (handshake length field, extension list, SNI).
    fn walk(bytes: &[u8]) -> (usize, Vec<(u16, usize)>, String) {
        // Reassemble the handshake from the records.
        let mut hs = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            assert_eq!(bytes[i], 22);
            assert_eq!(&bytes[i + 1..i + 3], &[3, 3]);
            let len = usize::from(u16::from_be_bytes([bytes[i + 3], bytes[i + 4]]));
            assert!((1..=16_384).contains(&len));
            hs.extend_from_slice(&bytes[i + 5..i + 5 + len]);
            i += 5 + len;
        }
        assert_eq!(i, bytes.len());
        assert_eq!(hs[0], 1);
        let len = (usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]);
        assert_eq!(len + 4, hs.len());
        let b = &hs[4..];
        let mut p = 2 + 32;
        assert_eq!(b[p], 32);
        p += 33;
        let cs = usize::from(u16::from_be_bytes([b[p], b[p + 1]]));
        p += 2 + cs;
        assert_eq!(&b[p..p + 2], &[1, 0]);
        p += 2;
        let el = usize::from(u16::from_be_bytes([b[p], b[p + 1]]));
        p += 2;
        assert_eq!(p + el, b.len());
        let mut exts = Vec::new();
        let mut sni = String::new();
        while p < b.len() {
            let ty = u16::from_be_bytes([b[p], b[p + 1]]);
            let l = usize::from(u16::from_be_bytes([b[p + 2], b[p + 3]]));
            if ty == 0 {
                let n = usize::from(u16::from_be_bytes([b[p + 7], b[p + 8]]));
                sni = String::from_utf8(b[p + 9..p + 9 + n].to_vec()).unwrap();
            }
            exts.push((ty, l));
            p += 4 + l;
        }
        assert_eq!(p, b.len());
        (len, exts, sni)
    }

    #[test]
    fn natural_hello_structure() {
        let h = build(&HelloSpec::new("www.example.test")).unwrap();
        let (len, exts, sni) = walk(&h.bytes);
        assert_eq!(len, h.handshake_len);
        assert_eq!(sni, "www.example.test");
        assert_eq!(h.records, 1);
        assert_eq!(h.padding, 0);
        let types: Vec<u16> = exts.iter().map(|e| e.0).collect();
        for t in [0, 10, 13, 16, 35, 43, 45, 51] {
            assert!(types.contains(&t), "missing extension {t}");
        }
        assert!(!types.contains(&21));
        // First and last extensions are distinct GREASE values.
        assert_eq!(types[0] & 0x0f0f, 0x0a0a);
        let last = *types.last().unwrap();
        assert_eq!(last & 0x0f0f, 0x0a0a);
        assert_ne!(types[0], last);
        // key_share: GREASE (1) + X25519MLKEM768 (1216) + x25519 (32), each with 4-byte head.
        let ks = exts.iter().find(|e| e.0 == 51).unwrap().1;
        assert_eq!(ks, 2 + 5 + 4 + 1216 + 4 + 32);
        assert!(
            h.wire_len() > 1216 + 200 && h.wire_len() < 2000,
            "{}",
            h.wire_len()
        );
        assert_eq!(
            h.wire_len(),
            min_wire_size(&HelloSpec::new("www.example.test")).unwrap()
        );
    }

    #[test]
    fn hits_every_target_exactly() {
        let mut spec = HelloSpec::new("a.example.test");
        spec.ticket_len = 200;
        let min = min_wire_size(&spec).unwrap();
        let mut targets: Vec<usize> = (min..min + 40).collect();
        targets.extend([
            2_000, 7_000, 9_000, 16_389, 16_395, 16_400, 32_778, 40_000, 65_000,
        ]);
        for t in targets {
            spec.target_size = Some(t);
            let h = build(&spec).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(h.wire_len(), t);
            let (len, exts, _) = walk(&h.bytes);
            assert_eq!(len, h.handshake_len);
            assert_eq!(h.records, t.div_ceil(16_389));
            let has_padding = exts.iter().any(|e| e.0 == 21);
            assert_eq!(has_padding, h.padding >= 4, "{t}");
        }
    }

    #[test]
    fn too_small_and_unreachable_are_errors() {
        let mut spec = HelloSpec::new("a.example.test");
        let min = min_wire_size(&spec).unwrap();
        spec.target_size = Some(min - 1);
        assert_eq!(
            build(&spec),
            Err(HelloError::TooSmall {
                target: min - 1,
                min
            })
        );
        spec.pq = false;
        spec.target_size = Some(600);
        assert_eq!(build(&spec).unwrap().wire_len(), 600);
        spec.target_size = Some(70_000);
        assert_eq!(build(&spec), Err(HelloError::TooLarge(70_000)));
        spec.target_size = Some(usize::MAX);
        assert_eq!(build(&spec), Err(HelloError::TooLarge(usize::MAX)));
        // A natural size just under a record boundary makes the next 5 sizes unreachable.
        let mut spec = HelloSpec::new("a.example.test");
        let base = min_wire_size(&spec).unwrap();
        spec.ticket_len = 16_389 - base - 1;
        let min = min_wire_size(&spec).unwrap();
        assert_eq!(min, 16_388);
        spec.target_size = Some(16_390);
        assert_eq!(build(&spec), Err(HelloError::Unreachable(16_390)));
        spec.target_size = Some(16_389);
        assert_eq!(build(&spec).unwrap().wire_len(), 16_389);
    }

    #[test]
    fn large_hello_spans_records() {
        let mut spec = HelloSpec::new("big.example.test");
        spec.ticket_len = 20_000;
        spec.psk_identity_len = Some(300);
        spec.ech_payload_len = Some(250);
        let h = build(&spec).unwrap();
        assert_eq!(h.records, 2);
        let (_, exts, sni) = walk(&h.bytes);
        assert_eq!(sni, "big.example.test");
        assert_eq!(exts.last().unwrap().0, ext::PRE_SHARED_KEY);
        assert_eq!(exts.iter().find(|e| e.0 == 35).unwrap().1, 20_000);
        assert!(exts.iter().any(|e| e.0 == ext::ECH));
        // First record is full.
        assert_eq!(&h.bytes[3..5], &16_384u16.to_be_bytes());
    }

    #[test]
    fn deterministic_per_seed() {
        let mut spec = HelloSpec::new("x.example.test");
        spec.target_size = Some(5_000);
        let a = build(&spec).unwrap();
        assert_eq!(a, build(&spec).unwrap());
        spec.seed = 1;
        let b = build(&spec).unwrap();
        assert_ne!(a.bytes, b.bytes);
        assert_eq!(a.wire_len(), b.wire_len());
    }

    #[test]
    fn invalid_specs_are_errors() {
        let bad = |f: &dyn Fn(&mut HelloSpec)| {
            let mut s = HelloSpec::new("ok.example.test");
            f(&mut s);
            build(&s).unwrap_err()
        };
        assert_eq!(bad(&|s| s.sni.clear()), HelloError::EmptySni);
        assert_eq!(bad(&|s| s.sni = "a b".into()), HelloError::SniByte(b' '));
        assert_eq!(
            bad(&|s| s.sni = "a".repeat(254)),
            HelloError::SniTooLong(254)
        );
        assert_eq!(
            bad(&|s| s.alpn = vec![String::new()]),
            HelloError::AlpnProtocol(0)
        );
        assert_eq!(
            bad(&|s| s.alpn = vec!["x".repeat(256)]),
            HelloError::AlpnProtocol(256)
        );
        assert_eq!(
            bad(&|s| s.psk_identity_len = Some(0)),
            HelloError::EmptyField("PSK identity")
        );
        assert!(matches!(
            bad(&|s| s.ticket_len = 70_000),
            HelloError::FieldTooLong { .. }
        ));
        assert!(matches!(
            bad(&|s| s.psk_identity_len = Some(70_000)),
            HelloError::FieldTooLong { .. }
        ));
    }

    #[test]
    fn server_flight_is_records() {
        let mut rng = Rng::new(3);
        let f = server_flight(&mut rng, true, &[7; 32], 500);
        assert_eq!(f[0], 22);
        let l = usize::from(u16::from_be_bytes([f[3], f[4]]));
        assert_eq!(f[5], 2);
        assert_eq!(&f[5 + l..5 + l + 6], &[20, 3, 3, 0, 1, 1]);
        assert_eq!(f[5 + l + 6], 23);
        assert_eq!(f.len(), 5 + l + 6 + 5 + 500);
        let c = client_finish(&mut rng, 100);
        assert_eq!(c.len(), 6 + 5 + 53 + 5 + 100);
    }
}
