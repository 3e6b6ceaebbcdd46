//! TLS ClientHello accumulation support: framing, parsing and JA4.
//!
//! How the worker uses it (see `DESIGN.md`, "ClientHello accumulation"):
//!
//! 1. On the first client→server payload of an inspected session, make a
//!    [`Deframer`] with the session's `max_bytes` and [`Deframer::feed`] it each in-order
//!    segment payload. [`Verdict::NeedMore`] → hold the segment and keep going;
//!    [`Verdict::NotTls`] / [`Verdict::Sslv2`] → stop and pass; [`Verdict::Malformed`] /
//!    [`Verdict::TooLarge`] → apply the configured action; [`Verdict::Complete`] → the
//!    ClientHello ends at [`HelloSpan::stream_bytes`].
//! 2. [`copy_hello`] the held payloads, in order, into the worker's scratch buffer of
//!    `max_bytes + 4` bytes (no allocation on this path).
//! 3. [`parse_client_hello_into`] the copied message into a (recycled) [`ClientHelloInfo`]
//!    (SNI, ALPN, versions, groups and key shares with the post-quantum flag, ECH, ticket /
//!    PSK sizes); the control thread fingerprints it with [`ja4()`]. Once per session; the
//!    parse allocates short-lived vectors (tls-parser), JA4 its strings.
//!
//! Nothing here panics on any input, uses `unsafe`, or knows about DPDK: it takes byte
//! slices and is tested on captured handshakes in `testdata/`.

pub mod framing;
pub mod hello;
pub mod ja4;

pub use framing::{copy_hello, CopyError, Deframer, HelloSpan, Malformed, Verdict};
pub use hello::{
    parse_client_hello, parse_client_hello_into, ClientHelloInfo, HelloError, PskSummary,
};
pub use ja4::{ja4, ja4_o, ja4_r, ja4_ro, Ja4};

/// Entry points for fuzzers: the whole pipeline on arbitrary input (tests and the `testing`
/// feature only).
#[cfg(any(test, feature = "testing"))]
pub mod fuzzing {
    use super::{copy_hello, framing, ja4, ja4_r, parse_client_hello, Deframer, Verdict};

    /// Feeds `stream` in chunks of `chunk` bytes (at least 1) to a deframer limited to
    /// `max_bytes` (clamped like [`Deframer::new`]); if a ClientHello completes, copies,
    /// parses and fingerprints it. Returns the verdict. Must never panic.
    pub fn pipeline(stream: &[u8], chunk: usize, max_bytes: u32) -> Verdict {
        let chunk = chunk.max(1);
        let max_bytes = max_bytes.min(framing::MAX_HANDSHAKE_LEN);
        let mut deframer = Deframer::new(max_bytes);
        let mut verdict = Verdict::NeedMore;
        for c in stream.chunks(chunk) {
            verdict = deframer.feed(c);
            if verdict.is_final() {
                break;
            }
        }
        if let Verdict::Complete(_) = verdict {
            let mut scratch = vec![0u8; max_bytes as usize + framing::HANDSHAKE_HEADER_LEN];
            if let Ok(n) = copy_hello(stream.chunks(chunk), &mut scratch) {
                if let Some(msg) = scratch.get(..n) {
                    if let Ok(info) = parse_client_hello(msg) {
                        let _ = (ja4(&info), ja4_r(&info));
                    }
                }
            }
        }
        verdict
    }
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::fuzzing::pipeline;
    use super::test_util::fixtures;
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn end_to_end_on_fixtures_in_536_byte_segments() {
        for f in fixtures() {
            let mut d = Deframer::new(16 * 1024);
            let segments: Vec<&[u8]> = f.stream.chunks(536).collect();
            let mut held = 0;
            let mut verdict = Verdict::NeedMore;
            for s in &segments {
                held += 1;
                verdict = d.feed(s);
                if verdict.is_final() {
                    break;
                }
            }
            let span = match verdict {
                Verdict::Complete(span) => span,
                v => panic!("{}: {v:?}", f.name),
            };
            assert_eq!(held, f.stream.len().div_ceil(536), "{}", f.name);
            let mut scratch = vec![0u8; 16 * 1024 + 4];
            let n = copy_hello(segments[..held].iter().copied(), &mut scratch).unwrap();
            assert_eq!(n, span.message_len());
            let info = parse_client_hello(&scratch[..n]).unwrap();
            assert_eq!(info.message_len, n);
            assert_eq!(ja4(&info).as_str().len(), 36);
        }
    }

    #[test]
    fn large_hellos_need_many_default_mss_segments() {
        // The field case: a 9 KB hello in 536-byte segments needs 18 packets, more than
        // the commercial appliance's default limit of 12.
        let f = fixtures()
            .into_iter()
            .find(|f| f.name == "openssl3-large-alpn.bin")
            .unwrap();
        assert_eq!(f.stream.len().div_ceil(536), 18);
    }

    proptest! {
        #[test]
        fn pipeline_never_panics(
            bytes in proptest::collection::vec(any::<u8>(), 0..400),
            chunk in 1usize..64,
            max in 0u32..2048,
        ) {
            let _ = pipeline(&bytes, chunk, max);
            let mut framed = vec![22, 3, 1];
            framed.extend_from_slice(&(bytes.len() as u16 + 4).to_be_bytes());
            framed.extend_from_slice(&[1, 0]);
            framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
            framed.extend_from_slice(&bytes);
            let _ = pipeline(&framed, chunk, max);
        }
    }
}
