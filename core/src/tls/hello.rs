//! ClientHello parsing: what the policy, the logs and JA4 need from the handshake message.
//!
//! Input is the reassembled handshake message (4-byte handshake header + body) that
//! [`crate::tls::framing::copy_hello`] writes into the worker's scratch buffer. The fixed
//! fields are parsed by `tls-parser` ([`tls_parser::parse_tls_message_handshake`]); the
//! extensions block is walked here so that every extension is accounted for in order
//! (GREASE included), and the extensions we report are decoded either by `tls-parser`
//! (server_name, ALPN, supported_groups, signature_algorithms) or by a small cursor
//! below (supported_versions, key_share, pre_shared_key, which `tls-parser` leaves raw).
//!
//! This runs once per session, not per packet, so it allocates. It never panics: every
//! length is checked against the bytes that are there, and the whole message must be
//! consumed exactly.

use core::fmt;

use tls_parser::{
    parse_tls_client_hello_extension, parse_tls_message_handshake, SNIType, TlsExtension,
    TlsMessage, TlsMessageHandshake,
};

use super::framing::{HANDSHAKE_HEADER_LEN, HANDSHAKE_TYPE_CLIENT_HELLO};

/// Extension type code points (IANA "TLS ExtensionType Values") that we look at.
pub mod ext {
    /// server_name (RFC 6066).
    pub const SERVER_NAME: u16 = 0;
    /// supported_groups (RFC 8422, RFC 7919).
    pub const SUPPORTED_GROUPS: u16 = 10;
    /// signature_algorithms (RFC 8446).
    pub const SIGNATURE_ALGORITHMS: u16 = 13;
    /// application_layer_protocol_negotiation (RFC 7301).
    pub const ALPN: u16 = 16;
    /// padding (RFC 7685).
    pub const PADDING: u16 = 21;
    /// session_ticket (RFC 5077).
    pub const SESSION_TICKET: u16 = 35;
    /// pre_shared_key (RFC 8446).
    pub const PRE_SHARED_KEY: u16 = 41;
    /// supported_versions (RFC 8446).
    pub const SUPPORTED_VERSIONS: u16 = 43;
    /// key_share (RFC 8446).
    pub const KEY_SHARE: u16 = 51;
    /// encrypted_client_hello (draft-ietf-tls-esni, final code point).
    pub const ENCRYPTED_CLIENT_HELLO: u16 = 0xfe0d;

    /// The types whose contents this parser reads. A ClientHello with two of one of these is
    /// refused: which copy a server would use is not ours to guess (OpenSSL, BoringSSL and
    /// rustls all refuse it too). Two of a type we do not read change nothing we judge, and
    /// OpenSSL accepts duplicates of types it does not know, so they are accepted here.
    pub const INTERPRETED: [u16; 10] = [
        SERVER_NAME,
        SUPPORTED_GROUPS,
        SIGNATURE_ALGORITHMS,
        ALPN,
        PADDING,
        SESSION_TICKET,
        PRE_SHARED_KEY,
        SUPPORTED_VERSIONS,
        KEY_SHARE,
        ENCRYPTED_CLIENT_HELLO,
    ];
}

/// Named groups (IANA "TLS Supported Groups") that carry a post-quantum key share.
pub mod group {
    /// x25519 (classical, for reference).
    pub const X25519: u16 = 0x001d;
    /// Pure ML-KEM-512 (draft-connolly-tls-mlkem-key-agreement).
    pub const MLKEM512: u16 = 0x0200;
    /// Pure ML-KEM-768 (draft-connolly-tls-mlkem-key-agreement).
    pub const MLKEM768: u16 = 0x0201;
    /// Pure ML-KEM-1024 (draft-connolly-tls-mlkem-key-agreement).
    pub const MLKEM1024: u16 = 0x0202;
    /// SecP256r1MLKEM768 hybrid (draft-ietf-tls-ecdhe-mlkem).
    pub const SECP256R1_MLKEM768: u16 = 0x11eb;
    /// X25519MLKEM768 hybrid (draft-ietf-tls-ecdhe-mlkem): Chrome ≥ 131, Firefox ≥ 132.
    /// Its key share is 1216 bytes, which is what pushes browser hellos past one segment.
    pub const X25519_MLKEM768: u16 = 0x11ec;
    /// SecP384r1MLKEM1024 hybrid (draft-ietf-tls-ecdhe-mlkem).
    pub const SECP384R1_MLKEM1024: u16 = 0x11ed;
    /// X25519Kyber768Draft00, the pre-standard hybrid Chrome 124–130 sent.
    pub const X25519_KYBER768_DRAFT00: u16 = 0x6399;
    /// SecP256r1Kyber768Draft00, its P-256 sibling.
    pub const SECP256R1_KYBER768_DRAFT00: u16 = 0x639a;

    /// Every group above except x25519: the post-quantum ones (hybrid or pure).
    pub const POST_QUANTUM: [u16; 8] = [
        MLKEM512,
        MLKEM768,
        MLKEM1024,
        SECP256R1_MLKEM768,
        X25519_MLKEM768,
        SECP384R1_MLKEM1024,
        X25519_KYBER768_DRAFT00,
        SECP256R1_KYBER768_DRAFT00,
    ];

    /// True if `g` is a post-quantum group.
    pub fn is_post_quantum(g: u16) -> bool {
        POST_QUANTUM.contains(&g)
    }
}

/// True for the 16 GREASE values of RFC 8701 (`0x?a?a`, both bytes equal).
pub const fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// The pre_shared_key extension, summarised (RFC 8446 §4.2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PskSummary {
    /// Number of offered identities.
    pub identities: usize,
    /// Sum of the identity lengths (for a resumption PSK, the ticket bytes).
    pub identity_bytes: usize,
    /// Length of the binders list, its 2-byte length excluded.
    pub binders_bytes: usize,
}

/// What we extract from a ClientHello.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ClientHelloInfo {
    /// Length of the whole handshake message, header included.
    pub message_len: usize,
    /// `legacy_version` (0x0303 for TLS 1.2 and 1.3 clients).
    pub legacy_version: u16,
    /// Highest non-GREASE version in supported_versions, else `legacy_version`.
    pub highest_version: u16,
    /// Length of the legacy session id (0..=32).
    pub session_id_len: u8,
    /// Cipher suites in wire order, GREASE included.
    pub cipher_suites: Vec<u16>,
    /// Extension types in wire order, GREASE included.
    pub extensions: Vec<u16>,
    /// First host_name of server_name, if the extension carries one.
    pub sni: Option<String>,
    /// ALPN protocol names in wire order (opaque bytes; see [`ClientHelloInfo::alpn_lossy`]).
    pub alpn: Vec<Vec<u8>>,
    /// Names of `alpn` filled by the parse in progress (buffers beyond are reused).
    alpn_used: usize,
    /// supported_versions values in wire order, GREASE included.
    pub supported_versions: Vec<u16>,
    /// supported_groups in wire order, GREASE included.
    pub supported_groups: Vec<u16>,
    /// Groups of the key_share entries in wire order, GREASE included.
    pub key_share_groups: Vec<u16>,
    /// Sum of the key_share key_exchange lengths.
    pub key_share_bytes: usize,
    /// A key share for a post-quantum group (see [`group::POST_QUANTUM`]) is present.
    pub post_quantum: bool,
    /// A post-quantum group is offered in supported_groups or key_share.
    pub post_quantum_offered: bool,
    /// encrypted_client_hello (0xfe0d) is present.
    pub ech: bool,
    /// Length of the session_ticket extension data (`Some(0)`: empty, asking for one).
    pub session_ticket_len: Option<usize>,
    /// The pre_shared_key extension, if present.
    pub psk: Option<PskSummary>,
    /// Length of the padding extension data, if present.
    pub padding_len: Option<usize>,
    /// signature_algorithms in wire order, GREASE included.
    pub signature_algorithms: Vec<u16>,
}

impl ClientHelloInfo {
    /// True if an extension of type `ty` is present.
    pub fn has_extension(&self, ty: u16) -> bool {
        self.extensions.contains(&ty)
    }

    /// ALPN names as text, invalid UTF-8 replaced (for logs).
    pub fn alpn_lossy(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        self.alpn.iter().map(|p| String::from_utf8_lossy(p))
    }
}

/// Why a handshake message is not a ClientHello we can report on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HelloError {
    /// Fewer bytes than the handshake header declares (or than a header).
    Truncated,
    /// Bytes left over after the ClientHello fields, or a length that disagrees.
    TrailingBytes,
    /// The handshake type is not client_hello.
    NotClientHello,
    /// The fixed fields do not parse (`tls-parser` said no).
    Syntax,
    /// An extension's length runs past the extensions block.
    ExtensionOverrun,
    /// The same extension type appears twice (RFC 8446 §4.2).
    DuplicateExtension,
    /// server_name is malformed, or its host_name is empty or not UTF-8.
    BadServerName,
    /// ALPN is malformed.
    BadAlpn,
    /// supported_groups is malformed.
    BadSupportedGroups,
    /// signature_algorithms is malformed.
    BadSignatureAlgorithms,
    /// supported_versions is malformed.
    BadSupportedVersions,
    /// key_share is malformed.
    BadKeyShare,
    /// pre_shared_key is malformed.
    BadPreSharedKey,
}

impl HelloError {
    /// Stable short name, for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            HelloError::Truncated => "truncated",
            HelloError::TrailingBytes => "trailing-bytes",
            HelloError::NotClientHello => "not-client-hello",
            HelloError::Syntax => "syntax",
            HelloError::ExtensionOverrun => "extension-overrun",
            HelloError::DuplicateExtension => "duplicate-extension",
            HelloError::BadServerName => "bad-server-name",
            HelloError::BadAlpn => "bad-alpn",
            HelloError::BadSupportedGroups => "bad-supported-groups",
            HelloError::BadSignatureAlgorithms => "bad-signature-algorithms",
            HelloError::BadSupportedVersions => "bad-supported-versions",
            HelloError::BadKeyShare => "bad-key-share",
            HelloError::BadPreSharedKey => "bad-pre-shared-key",
        }
    }
}

impl fmt::Display for HelloError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parse a ClientHello handshake message (4-byte header + body, nothing after it).
pub fn parse_client_hello(msg: &[u8]) -> Result<ClientHelloInfo, HelloError> {
    let mut info = ClientHelloInfo::default();
    parse_client_hello_into(msg, &mut info)?;
    Ok(info)
}

/// [`parse_client_hello`] into a reused `ClientHelloInfo`: every field is overwritten, and
/// its vectors keep their capacity, so a worker that recycles its summaries does not allocate
/// them again (tls-parser still allocates short-lived vectors while decoding). On error `info`
/// holds a partial parse, or the previous one for an error in the fixed fields.
pub fn parse_client_hello_into(msg: &[u8], info: &mut ClientHelloInfo) -> Result<(), HelloError> {
    let header = msg
        .get(..HANDSHAKE_HEADER_LEN)
        .ok_or(HelloError::Truncated)?;
    if header[0] != HANDSHAKE_TYPE_CLIENT_HELLO {
        return Err(HelloError::NotClientHello);
    }
    let body_len =
        usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
    let body_have = msg.len() - HANDSHAKE_HEADER_LEN;
    if body_have < body_len {
        return Err(HelloError::Truncated);
    }
    if body_have > body_len {
        return Err(HelloError::TrailingBytes);
    }

    let ch = match parse_tls_message_handshake(msg) {
        Ok(([], TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => ch,
        Ok(_) => return Err(HelloError::TrailingBytes),
        Err(_) => return Err(HelloError::Syntax),
    };

    // tls-parser stops quietly at the end of what it understands (an extensions length
    // that overruns becomes "no extensions"); account for every byte ourselves.
    let session_id_len = ch.session_id.map_or(0, <[u8]>::len);
    let used = 2
        + 32
        + 1
        + session_id_len
        + 2
        + 2 * ch.ciphers.len()
        + 1
        + ch.comp.len()
        + ch.ext.map_or(0, |e| 2 + e.len());
    if used != body_len {
        return Err(HelloError::TrailingBytes);
    }

    info.message_len = msg.len();
    info.legacy_version = ch.version.0;
    info.highest_version = ch.version.0;
    // At most 32: tls-parser checks.
    info.session_id_len = u8::try_from(session_id_len).map_err(|_| HelloError::Syntax)?;
    info.cipher_suites.clear();
    info.cipher_suites.extend(ch.ciphers.iter().map(|c| c.0));
    info.extensions.clear();
    // The SNI's string is kept for reuse until the server_name extension is seen.
    let mut sni = info.sni.take();
    info.alpn_used = 0;
    info.supported_versions.clear();
    info.supported_groups.clear();
    info.key_share_groups.clear();
    info.key_share_bytes = 0;
    info.post_quantum = false;
    info.post_quantum_offered = false;
    info.ech = false;
    info.session_ticket_len = None;
    info.psk = None;
    info.padding_len = None;
    info.signature_algorithms.clear();

    let mut block = Reader::new(ch.ext.unwrap_or(&[]));
    while !block.is_empty() {
        let start = block.pos;
        let ty = block.u16().ok_or(HelloError::ExtensionOverrun)?;
        let data = block.vec16().ok_or(HelloError::ExtensionOverrun)?;
        let raw = block
            .buf
            .get(start..block.pos)
            .ok_or(HelloError::ExtensionOverrun)?;
        info.extensions.push(ty);
        extension(info, &mut sni, ty, data, raw)?;
    }
    info.alpn.truncate(info.alpn_used);

    // Duplicates of a type we read (see `ext::INTERPRETED`): sorted on the stack (a
    // ClientHello has a few dozen extensions at most; a longer list, which only a hostile
    // client sends, takes a heap copy).
    let mut stack = [0u16; 64];
    let mut heap = Vec::new();
    let sorted = match stack.get_mut(..info.extensions.len()) {
        Some(s) => s,
        None => {
            heap.extend_from_slice(&info.extensions);
            &mut heap[..]
        }
    };
    sorted.copy_from_slice(&info.extensions);
    sorted.sort_unstable();
    if sorted
        .windows(2)
        .any(|w| w[0] == w[1] && ext::INTERPRETED.contains(&w[0]))
    {
        return Err(HelloError::DuplicateExtension);
    }

    if let Some(v) = info
        .supported_versions
        .iter()
        .copied()
        .filter(|v| !is_grease(*v))
        .max()
    {
        info.highest_version = v;
    }
    info.post_quantum = info
        .key_share_groups
        .iter()
        .any(|g| group::is_post_quantum(*g));
    info.post_quantum_offered = info.post_quantum
        || info
            .supported_groups
            .iter()
            .any(|g| group::is_post_quantum(*g));
    Ok(())
}

/// Decode one extension into `info`. `data` is its body, `raw` the whole extension
/// (type and length included) for `tls-parser`.
fn extension(
    info: &mut ClientHelloInfo,
    sni: &mut Option<String>,
    ty: u16,
    data: &[u8],
    raw: &[u8],
) -> Result<(), HelloError> {
    match ty {
        ext::SERVER_NAME => {
            // An empty body is the server's form; a client sending it names no host.
            if data.is_empty() {
                return Ok(());
            }
            // ServerName server_name_list<1..2^16-1>; entry: name_type(1) HostName<1..2^16-1>
            let framed = exact_list(data, |r| {
                r.u8()?;
                r.vec16().filter(|h| !h.is_empty()).map(drop)
            });
            let Some(TlsExtension::SNI(names)) = decode(raw).filter(|_| framed) else {
                return Err(HelloError::BadServerName);
            };
            if let Some((_, host)) = names.iter().find(|(t, _)| *t == SNIType::HostName) {
                let host = core::str::from_utf8(host).map_err(|_| HelloError::BadServerName)?;
                let mut s = sni.take().unwrap_or_default();
                s.clear();
                s.push_str(host);
                info.sni = Some(s);
            }
        }
        ext::ALPN => {
            // ProtocolName protocol_name_list<2..2^16-1>; ProtocolName<1..2^8-1>
            let framed = exact_list(data, |r| r.vec8().filter(|p| !p.is_empty()).map(drop));
            let Some(TlsExtension::ALPN(names)) = decode(raw).filter(|_| framed) else {
                return Err(HelloError::BadAlpn);
            };
            // Reuse the name buffers of the previous parse.
            for (i, n) in names.iter().enumerate() {
                match info.alpn.get_mut(i) {
                    Some(v) => {
                        v.clear();
                        v.extend_from_slice(n);
                    }
                    None => info.alpn.push(n.to_vec()),
                }
            }
            info.alpn_used = names.len();
        }
        ext::SUPPORTED_GROUPS => {
            let framed = exact_list(data, |r| r.u16().map(drop));
            let Some(TlsExtension::EllipticCurves(groups)) = decode(raw).filter(|_| framed) else {
                return Err(HelloError::BadSupportedGroups);
            };
            info.supported_groups.extend(groups.iter().map(|g| g.0));
        }
        ext::SIGNATURE_ALGORITHMS => {
            let framed = exact_list(data, |r| r.u16().map(drop));
            let Some(TlsExtension::SignatureAlgorithms(algs)) = decode(raw).filter(|_| framed)
            else {
                return Err(HelloError::BadSignatureAlgorithms);
            };
            info.signature_algorithms.extend_from_slice(&algs);
        }
        ext::SUPPORTED_VERSIONS => {
            // ProtocolVersion versions<2..254>;
            let mut r = Reader::new(data);
            let list = r.vec8().ok_or(HelloError::BadSupportedVersions)?;
            if !r.is_empty() || list.len() % 2 != 0 {
                return Err(HelloError::BadSupportedVersions);
            }
            info.supported_versions.extend(
                list.chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]])),
            );
        }
        ext::KEY_SHARE => {
            // KeyShareEntry client_shares<0..2^16-1>; entry: group(2) key_exchange<1..2^16-1>
            let mut r = Reader::new(data);
            let mut list = Reader::new(r.vec16().ok_or(HelloError::BadKeyShare)?);
            if !r.is_empty() {
                return Err(HelloError::BadKeyShare);
            }
            while !list.is_empty() {
                let g = list.u16().ok_or(HelloError::BadKeyShare)?;
                let kx = list.vec16().ok_or(HelloError::BadKeyShare)?;
                info.key_share_groups.push(g);
                info.key_share_bytes += kx.len();
            }
        }
        ext::PRE_SHARED_KEY => {
            // PskIdentity identities<7..2^16-1>; PskBinderEntry binders<33..2^16-1>;
            let mut r = Reader::new(data);
            let mut ids = Reader::new(r.vec16().ok_or(HelloError::BadPreSharedKey)?);
            let binders = r.vec16().ok_or(HelloError::BadPreSharedKey)?;
            if !r.is_empty() {
                return Err(HelloError::BadPreSharedKey);
            }
            let mut psk = PskSummary {
                identities: 0,
                identity_bytes: 0,
                binders_bytes: binders.len(),
            };
            while !ids.is_empty() {
                let id = ids.vec16().ok_or(HelloError::BadPreSharedKey)?;
                ids.take(4).ok_or(HelloError::BadPreSharedKey)?; // obfuscated_ticket_age
                psk.identities += 1;
                psk.identity_bytes += id.len();
            }
            info.psk = Some(psk);
        }
        ext::SESSION_TICKET => info.session_ticket_len = Some(data.len()),
        ext::PADDING => info.padding_len = Some(data.len()),
        ext::ENCRYPTED_CLIENT_HELLO => info.ech = true,
        _ => {}
    }
    Ok(())
}

/// True if `data` is exactly one `vec16` holding a whole number of `entry`s.
///
/// `tls-parser` decodes the values but, inside an extension, stops quietly at the first
/// entry it cannot read; this makes sure nothing was skipped, so that what we report is
/// what a strict server reads.
fn exact_list(data: &[u8], entry: impl Fn(&mut Reader<'_>) -> Option<()>) -> bool {
    let mut r = Reader::new(data);
    let Some(list) = r.vec16() else {
        return false;
    };
    if !r.is_empty() {
        return false;
    }
    let mut l = Reader::new(list);
    while !l.is_empty() {
        if entry(&mut l).is_none() {
            return false;
        }
    }
    true
}

/// One whole extension through `tls-parser`; `None` if it does not parse.
fn decode(raw: &[u8]) -> Option<TlsExtension<'_>> {
    parse_tls_client_hello_extension(raw).ok().map(|(_, e)| e)
}

/// Bounds-checked cursor over a byte slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_util::{
        alpn_body, fixtures, handshake_of, sni_body, u16_list, HelloBuilder, CHROME_LIKE, FIREFOX,
        OPENSSL_LARGE, OPENSSL_LARGE_FRAG, OPENSSL_PSK, OPENSSL_SNI_ALPN, OPENSSL_TLS12_TICKET,
    };
    use proptest::prelude::*;

    fn parse(stream: &[u8]) -> ClientHelloInfo {
        parse_client_hello(&handshake_of(stream)).unwrap()
    }

    // Expected values below were read off the same bytes by tshark 4.0.17
    // (tls.handshake.extensions_server_name, _alpn_str, _supported_group,
    // _key_share_group, extensions.supported_version, sig_hash_alg, extension.len).

    const OPENSSL_GROUPS: [u16; 10] = [
        0x001d, 0x0017, 0x001e, 0x0019, 0x0018, 0x0100, 0x0101, 0x0102, 0x0103, 0x0104,
    ];
    const OPENSSL_SIGALGS: [u16; 20] = [
        0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a, 0x080b, 0x0804, 0x0805, 0x0806,
        0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602,
    ];
    const OPENSSL_EXTS: [u16; 11] = [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51];

    #[test]
    fn openssl_sni_alpn() {
        let i = parse(OPENSSL_SNI_ALPN);
        assert_eq!(i.message_len, 330);
        assert_eq!(i.legacy_version, 0x0303);
        assert_eq!(i.highest_version, 0x0304);
        assert_eq!(i.session_id_len, 32);
        assert_eq!(i.sni.as_deref(), Some("example.com"));
        assert_eq!(i.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(i.supported_versions, vec![0x0304, 0x0303, 0x0302, 0x0301]);
        assert_eq!(i.supported_groups, OPENSSL_GROUPS);
        assert_eq!(i.key_share_groups, vec![0x001d]);
        assert_eq!(i.key_share_bytes, 32);
        assert!(!i.post_quantum && !i.post_quantum_offered && !i.ech);
        assert_eq!(i.extensions, OPENSSL_EXTS);
        assert_eq!(i.signature_algorithms, OPENSSL_SIGALGS);
        assert_eq!(i.session_ticket_len, Some(0));
        assert_eq!(i.psk, None);
        assert_eq!(i.padding_len, None);
        assert_eq!(i.cipher_suites.len(), 31);
        assert_eq!(&i.cipher_suites[..3], &[0x1302, 0x1303, 0x1301]);
        assert_eq!(i.cipher_suites.last(), Some(&0x00ff));
    }

    #[test]
    fn openssl_large_alpn_single_and_fragmented_records() {
        for stream in [OPENSSL_LARGE, OPENSSL_LARGE_FRAG] {
            let i = parse(stream);
            assert_eq!(i.message_len, 9181);
            assert_eq!(i.sni.as_deref(), Some("large.example.test"));
            assert_eq!(i.alpn.len(), 46);
            assert_eq!(i.alpn[0], b"h2");
            assert_eq!(i.alpn[45], b"http/1.1");
            for (n, p) in i.alpn[1..45].iter().enumerate() {
                let want = format!("x-long-alpn-{n:02}-{}", "a".repeat(185));
                assert_eq!(p, want.as_bytes());
            }
            assert_eq!(i.supported_groups, OPENSSL_GROUPS);
            assert_eq!(i.extensions, OPENSSL_EXTS);
        }
    }

    #[test]
    fn openssl_tls13_resumption_psk() {
        let i = parse(OPENSSL_PSK);
        assert_eq!(i.message_len, 600);
        assert_eq!(i.sni.as_deref(), Some("resume.example.test"));
        assert_eq!(i.alpn, vec![b"h2".to_vec()]);
        assert_eq!(
            i.extensions,
            [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51, 41]
        );
        // tshark: identity_length 208, identities.length 214, binders_len 49.
        assert_eq!(
            i.psk,
            Some(PskSummary {
                identities: 1,
                identity_bytes: 208,
                binders_bytes: 49,
            })
        );
        assert_eq!(i.highest_version, 0x0304);
    }

    #[test]
    fn openssl_tls12_session_ticket() {
        let i = parse(OPENSSL_TLS12_TICKET);
        assert_eq!(i.message_len, 419);
        assert_eq!(i.sni.as_deref(), Some("ticket.example.test"));
        assert!(i.alpn.is_empty());
        assert_eq!(i.extensions, [0, 11, 10, 35, 22, 23, 13]);
        assert_eq!(i.session_ticket_len, Some(176));
        assert_eq!(i.legacy_version, 0x0303);
        assert_eq!(i.highest_version, 0x0303);
        assert!(i.supported_versions.is_empty());
        assert!(i.key_share_groups.is_empty());
        assert_eq!(i.supported_groups, [0x001d, 0x0017, 0x001e, 0x0019, 0x0018]);
        assert_eq!(i.cipher_suites.len(), 28);
    }

    #[test]
    fn firefox() {
        let i = parse(FIREFOX);
        assert_eq!(i.message_len, 512);
        assert_eq!(i.sni.as_deref(), Some("contile.services.mozilla.com"));
        assert_eq!(i.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(
            i.extensions,
            [0, 23, 0xff01, 10, 11, 35, 16, 5, 34, 51, 43, 13, 45, 28, 21]
        );
        assert_eq!(
            i.supported_groups,
            [0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101]
        );
        assert_eq!(i.key_share_groups, [0x001d, 0x0017]);
        assert_eq!(i.key_share_bytes, 32 + 65);
        assert_eq!(i.supported_versions, [0x0304, 0x0303]);
        assert_eq!(
            i.signature_algorithms,
            [
                0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203,
                0x0201
            ]
        );
        assert_eq!(i.padding_len, Some(122));
        assert_eq!(i.session_ticket_len, Some(0));
        assert!(!i.post_quantum);
    }

    #[test]
    fn chrome_like_grease_and_mlkem() {
        let i = parse(CHROME_LIKE);
        assert_eq!(i.message_len, 1784);
        assert_eq!(i.sni.as_deref(), Some("www.example.com"));
        assert_eq!(i.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
        assert_eq!(i.supported_groups, [0xdada, 0x11ec, 0x001d, 0x0017, 0x0018]);
        assert_eq!(i.key_share_groups, [0x3a3a, 0x11ec, 0x001d]);
        assert_eq!(i.key_share_bytes, 1 + 1216 + 32);
        assert_eq!(i.supported_versions, [0x5a5a, 0x0304, 0x0303]);
        assert_eq!(i.highest_version, 0x0304);
        assert!(i.post_quantum && i.post_quantum_offered && i.ech);
        assert_eq!(i.cipher_suites[0], 0x2a2a);
        assert_eq!(i.cipher_suites.len(), 16);
        assert_eq!(i.extensions.first(), Some(&0x8a8a));
        assert_eq!(i.extensions.last(), Some(&0x2a2a));
        assert_eq!(i.extensions.len(), 18);
        assert_eq!(
            i.signature_algorithms,
            [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
        );
    }

    #[test]
    fn grease_values() {
        let all: Vec<u16> = (0..=0xffffu16).filter(|v| is_grease(*v)).collect();
        assert_eq!(all.len(), 16);
        assert!(all
            .iter()
            .all(|v| v & 0xff == 0x0a || v & 0xff == 0x1a || v & 0x0f == 0x0a));
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn minimal_hello_without_extensions_block() {
        let msg = HelloBuilder {
            extensions: None,
            ..Default::default()
        }
        .build();
        let i = parse_client_hello(&msg).unwrap();
        assert!(i.extensions.is_empty());
        assert_eq!(i.highest_version, 0x0303);
        assert_eq!(i.sni, None);
    }

    #[test]
    fn header_and_length_errors() {
        let msg = HelloBuilder::default()
            .ext(0, sni_body(b"a.example"))
            .build();
        assert!(parse_client_hello(&msg).is_ok());
        assert_eq!(parse_client_hello(&msg[..3]), Err(HelloError::Truncated));
        assert_eq!(
            parse_client_hello(&msg[..msg.len() - 1]),
            Err(HelloError::Truncated)
        );
        let mut long = msg.clone();
        long.push(0);
        assert_eq!(parse_client_hello(&long), Err(HelloError::TrailingBytes));
        let mut sh = msg.clone();
        sh[0] = 2;
        assert_eq!(parse_client_hello(&sh), Err(HelloError::NotClientHello));
        // Session id longer than 32.
        let bad = HelloBuilder {
            session_id: vec![0; 33],
            ..Default::default()
        }
        .build();
        assert_eq!(parse_client_hello(&bad), Err(HelloError::Syntax));
    }

    #[test]
    fn extension_block_errors() {
        // An extension whose length overruns the block: rewrite the last ext length.
        let mut msg = HelloBuilder::default().ext(23, vec![]).build();
        let n = msg.len();
        msg[n - 1] = 1;
        assert_eq!(parse_client_hello(&msg), Err(HelloError::ExtensionOverrun));
        // Extensions block length larger than what is there.
        let mut msg = HelloBuilder::default().ext(23, vec![]).build();
        let n = msg.len();
        msg[n - 5] += 1;
        assert!(parse_client_hello(&msg).is_err());
        // Dangling single byte where the extensions length would be.
        let mut msg = HelloBuilder {
            extensions: None,
            ..Default::default()
        }
        .build();
        msg.push(0);
        msg[3] += 1;
        assert_eq!(parse_client_hello(&msg), Err(HelloError::TrailingBytes));
        // Duplicates.
        let msg = HelloBuilder::default()
            .ext(0, sni_body(b"a"))
            .ext(23, vec![])
            .ext(0, sni_body(b"b"))
            .build();
        assert_eq!(
            parse_client_hello(&msg),
            Err(HelloError::DuplicateExtension)
        );
        // Every type the parser reads is refused twice (some already for an empty body).
        for ty in ext::INTERPRETED {
            let msg = HelloBuilder::default()
                .ext(ty, vec![])
                .ext(ty, vec![])
                .build();
            assert!(parse_client_hello(&msg).is_err(), "type {ty}");
        }
        let msg = HelloBuilder::default()
            .ext(ext::PADDING, vec![0; 4])
            .ext(ext::PADDING, vec![0; 4])
            .build();
        assert_eq!(
            parse_client_hello(&msg),
            Err(HelloError::DuplicateExtension)
        );
        // An unknown type (and a GREASE one) twice is accepted, as OpenSSL accepts it, and the
        // server name is still read (a parser differential otherwise: issue 20, attack 5).
        let msg = HelloBuilder::default()
            .ext(0x7a7a, vec![])
            .ext(0, sni_body(b"x.blocked.test"))
            .ext(0xff99, vec![1])
            .ext(0xff99, vec![2, 3])
            .ext(0x7a7a, vec![])
            .build();
        let info = parse_client_hello(&msg).expect("duplicate unknown types accepted");
        assert_eq!(info.sni.as_deref(), Some("x.blocked.test"));
        assert_eq!(info.extensions, vec![0x7a7a, 0, 0xff99, 0xff99, 0x7a7a]);
    }

    #[test]
    fn bad_extension_bodies() {
        let cases: [(u16, Vec<u8>, HelloError); 11] = [
            (
                0,
                vec![0, 5, 0, 0, 9, b'a', b'b'],
                HelloError::BadServerName,
            ),
            (0, sni_body(b""), HelloError::BadServerName),
            (0, sni_body(&[0xff, 0xfe]), HelloError::BadServerName),
            (16, vec![0, 9, 2, b'h'], HelloError::BadAlpn),
            (10, vec![0, 3, 0, 29, 0], HelloError::BadSupportedGroups),
            (13, vec![0, 8, 4], HelloError::BadSignatureAlgorithms),
            (43, vec![3, 3, 4, 3], HelloError::BadSupportedVersions),
            (43, vec![2, 3, 4, 0], HelloError::BadSupportedVersions),
            (51, vec![0, 6, 0, 29, 0, 32, 1, 2], HelloError::BadKeyShare),
            (
                41,
                vec![0, 7, 0, 1, 0xaa, 0, 0, 0, 0],
                HelloError::BadPreSharedKey,
            ),
            (
                41,
                vec![0, 3, 0, 9, 0xaa, 0, 0],
                HelloError::BadPreSharedKey,
            ),
        ];
        for (ty, body, want) in cases {
            let msg = HelloBuilder::default().ext(ty, body.clone()).build();
            assert_eq!(parse_client_hello(&msg), Err(want), "ext {ty} {body:?}");
        }
    }

    #[test]
    fn empty_sni_extension_is_present_without_name() {
        let msg = HelloBuilder::default().ext(0, vec![]).build();
        let i = parse_client_hello(&msg).unwrap();
        assert!(i.has_extension(ext::SERVER_NAME));
        assert_eq!(i.sni, None);
    }

    #[test]
    fn hand_built_extensions() {
        let msg = HelloBuilder::default()
            .ext(0, sni_body(b"host.example"))
            .ext(16, alpn_body(&[b"h2", b"\xff\x00"]))
            .ext(10, u16_list(&[0x0a0a, 0x6399, 0x001d]))
            .ext(51, {
                let mut ks = vec![];
                for (g, n) in [(0x6399u16, 1216usize), (0x001d, 32)] {
                    ks.extend_from_slice(&g.to_be_bytes());
                    ks.extend_from_slice(&(n as u16).to_be_bytes());
                    ks.resize(ks.len() + n, 7);
                }
                let mut v = (ks.len() as u16).to_be_bytes().to_vec();
                v.extend_from_slice(&ks);
                v
            })
            .ext(43, vec![4, 0x7a, 0x7a, 3, 4])
            .ext(41, {
                // two identities (3 and 5 bytes) and one 33-byte binder entry
                let mut ids = vec![0, 3, 1, 2, 3, 0, 0, 0, 9, 0, 5, 1, 2, 3, 4, 5, 0, 0, 0, 9];
                let mut v = (ids.len() as u16).to_be_bytes().to_vec();
                v.append(&mut ids);
                v.extend_from_slice(&[0, 33, 32]);
                v.extend_from_slice(&[0; 32]);
                v
            })
            .ext(0xfe0d, vec![0, 0, 1, 0, 1, 7, 0, 0, 0, 0])
            .build();
        let i = parse_client_hello(&msg).unwrap();
        assert_eq!(i.sni.as_deref(), Some("host.example"));
        assert_eq!(i.alpn, vec![b"h2".to_vec(), vec![0xff, 0]]);
        assert_eq!(i.alpn_lossy().next().as_deref(), Some("h2"));
        assert_eq!(i.key_share_groups, [0x6399, 0x001d]);
        assert_eq!(i.key_share_bytes, 1248);
        assert!(i.post_quantum && i.post_quantum_offered);
        assert_eq!(i.supported_versions, [0x7a7a, 0x0304]);
        assert_eq!(i.highest_version, 0x0304);
        assert_eq!(
            i.psk,
            Some(PskSummary {
                identities: 2,
                identity_bytes: 8,
                binders_bytes: 33,
            })
        );
        assert!(i.ech);
    }

    /// A recycled `ClientHelloInfo` parses each fixture exactly as a fresh one, whatever the
    /// previous hello left in it (more ALPN names, an SNI, a PSK, or a failed parse).
    #[test]
    fn reused_info_parses_like_a_fresh_one() {
        let all = fixtures();
        let mut info = ClientHelloInfo::default();
        for round in 0..3 {
            for (i, f) in all.iter().enumerate() {
                let msg = &f.message;
                if round == 1 && i % 2 == 0 {
                    // A failed parse in between leaves a partial info behind.
                    let cut = &msg[..msg.len() - 3];
                    assert!(parse_client_hello_into(cut, &mut info).is_err());
                }
                parse_client_hello_into(msg, &mut info).unwrap();
                assert_eq!(info, parse_client_hello(msg).unwrap(), "{}", f.name);
            }
        }
        let without = HelloBuilder::default().build();
        parse_client_hello_into(&without, &mut info).unwrap();
        assert_eq!(info.sni, None);
        assert!(info.alpn.is_empty());
    }

    #[test]
    fn post_quantum_offered_without_share() {
        let msg = HelloBuilder::default()
            .ext(10, u16_list(&[0x11ec, 0x001d]))
            .ext(51, {
                let mut v = vec![0, 36, 0, 0x1d, 0, 32];
                v.extend_from_slice(&[1; 32]);
                v
            })
            .build();
        let i = parse_client_hello(&msg).unwrap();
        assert!(!i.post_quantum);
        assert!(i.post_quantum_offered);
        for g in [0x11ec, 0x11eb, 0x11ed, 0x6399] {
            assert!(group::is_post_quantum(g));
        }
        assert!(!group::is_post_quantum(group::X25519));
    }

    #[test]
    fn every_truncation_of_every_fixture_is_an_error_not_a_panic() {
        for f in fixtures() {
            let m = &f.message;
            for cut in 0..m.len() {
                assert!(parse_client_hello(&m[..cut]).is_err(), "{} {}", f.name, cut);
            }
            // Same, with the header length fixed up to the cut: the inner lengths overrun.
            for cut in 4..m.len() {
                let mut t = m[..cut].to_vec();
                let n = (cut - 4) as u32;
                t[1..4].copy_from_slice(&n.to_be_bytes()[1..]);
                let _ = parse_client_hello(&t);
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_client_hello(&bytes);
            let mut m = bytes.clone();
            if m.len() >= 4 {
                m[0] = 1;
                let n = (m.len() - 4) as u32;
                m[1..4].copy_from_slice(&n.to_be_bytes()[1..]);
                let _ = parse_client_hello(&m);
            }
        }

        #[test]
        fn mutated_fixtures_never_panic(
            which in 0usize..7,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        ) {
            let fx = fixtures();
            let mut m = fx[which % fx.len()].message.clone();
            for (pos, val) in flips {
                let i = pos % m.len();
                m[i] = val;
            }
            let _ = parse_client_hello(&m);
        }
    }
}
