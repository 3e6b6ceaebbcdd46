//! Streaming deframer for the client's first flight: is the ClientHello complete yet?
//!
//! The worker feeds the client→server TCP payload **in sequence order**, one segment
//! payload at a time (any size, down to one byte), into a [`Deframer`]. After each chunk
//! the deframer says whether more bytes are needed, the ClientHello handshake message is
//! complete, or the stream is not something we accumulate for. It keeps no copy of the
//! bytes and never allocates: its whole state is a few integers and two small header
//! buffers, so it can live in the per-session flow entry.
//!
//! Wire layout it walks (RFC 8446 §5.1, §4):
//!
//! ```text
//! record:    type(1)=22  legacy_version(2)=3.x  length(2)=1..=MAX_RECORD_LEN  payload
//! payload:   the handshake byte stream, cut anywhere into records
//! handshake: msg_type(1)=1  length(3)  ClientHello body (length bytes)
//! ```
//!
//! The handshake header itself may be split across records and across segments, and the
//! body may span many records. Once the last byte of the message has arrived, the
//! deframer still waits for the end of the record that carries it, so that
//! [`HelloSpan::stream_bytes`] always ends on a record boundary: the caller holds whole
//! records and knows exactly where, in stream offsets, the ClientHello ends.
//!
//! The verdict depends only on the bytes, never on how they were cut into chunks: every
//! check looks at a field as soon as it is complete, in stream order, so the first
//! failing check is the same however the stream is split (a property test holds us to
//! this).
//!
//! [`copy_hello`] walks the same stream again (the held segments, in order) and copies
//! the handshake message, record headers stripped, into the worker's scratch buffer for
//! [`crate::tls::hello::parse_client_hello`].

use core::fmt;

/// Length of a TLS record header: content type (1), legacy record version (2), length (2).
pub const RECORD_HEADER_LEN: usize = 5;

/// Length of a handshake message header: message type (1), body length (3).
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// TLS record content type `handshake` (RFC 8446 §5.1).
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;

/// Handshake message type `client_hello` (RFC 8446 §4).
pub const HANDSHAKE_TYPE_CLIENT_HELLO: u8 = 1;

/// Major byte of every SSL 3.0 / TLS record version (`0x03xx`).
pub const RECORD_VERSION_MAJOR: u8 = 3;

/// Largest record payload we accept, in bytes.
///
/// A ClientHello travels in plaintext records, which RFC 8446 §5.1 caps at 2^14 bytes.
/// We allow the 2^14 + 256 that §5.2 allows for any protected record as slack for sloppy
/// clients, and no more: a peer that declares a longer record would otherwise make us
/// hold (and count against the session budget) up to 64 KiB for a record no conforming
/// implementation can send.
pub const MAX_RECORD_LEN: u16 = (1 << 14) + 256;

/// Largest body length the 24-bit handshake length field can express. A caller's
/// `max_bytes` is clamped to this.
pub const MAX_HANDSHAKE_LEN: u32 = (1 << 24) - 1;

/// Smallest well-formed ClientHello body, in bytes: legacy_version (2), random (32),
/// session id length (1), cipher suites length (2) with at least one suite (2),
/// compression methods length (1) with at least one method (1). Anything shorter is
/// rejected as soon as the length is known instead of being accumulated.
pub const MIN_CLIENT_HELLO_LEN: u32 = 41;

/// Why a stream that started like TLS is not a well-formed ClientHello flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Malformed {
    /// A record longer than [`MAX_RECORD_LEN`].
    RecordTooLong,
    /// A record after the first one is not a handshake record (e.g. an alert or a
    /// ChangeCipherSpec interleaved before the ClientHello is complete).
    UnexpectedContentType,
    /// A record after the first one does not carry version `3.x`.
    BadRecordVersion,
    /// The first handshake message is not a ClientHello.
    NotClientHello,
    /// The ClientHello declares a body length of 0.
    EmptyHandshake,
    /// The ClientHello declares a body shorter than [`MIN_CLIENT_HELLO_LEN`].
    HelloTooShort,
}

impl Malformed {
    /// Stable short name, for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Malformed::RecordTooLong => "record-too-long",
            Malformed::UnexpectedContentType => "unexpected-content-type",
            Malformed::BadRecordVersion => "bad-record-version",
            Malformed::NotClientHello => "not-client-hello",
            Malformed::EmptyHandshake => "empty-handshake",
            Malformed::HelloTooShort => "hello-too-short",
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a complete ClientHello lies in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HelloSpan {
    /// ClientHello body length from the handshake header (the message is
    /// `hello_len + 4` bytes; see [`HelloSpan::message_len`]).
    pub hello_len: u32,
    /// Number of TLS records that carry the message, the last one included.
    pub records: u32,
    /// Stream bytes from the start of the stream to the end of the record that carries
    /// the last byte of the ClientHello. Always a record boundary.
    pub stream_bytes: u32,
}

impl HelloSpan {
    /// Length of the whole handshake message (4-byte header + body): what
    /// [`copy_hello`] writes and [`crate::tls::hello::parse_client_hello`] reads.
    pub const fn message_len(&self) -> usize {
        self.hello_len as usize + HANDSHAKE_HEADER_LEN
    }
}

/// What the deframer knows after the bytes fed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// So far so good; the ClientHello is not complete yet.
    NeedMore,
    /// The ClientHello is complete.
    Complete(HelloSpan),
    /// The stream does not start with a TLS record (first byte not 22, or record version
    /// major not 3): not TLS, pass it through.
    NotTls,
    /// The first byte has its high bit set: an SSLv2-style (2-byte header) ClientHello.
    Sslv2,
    /// It starts like a TLS handshake but breaks the rules.
    Malformed(Malformed),
    /// The ClientHello body declares more than the caller's `max_bytes`.
    TooLarge {
        /// Declared ClientHello body length.
        hello_len: u32,
        /// The limit it exceeds.
        max_bytes: u32,
    },
}

impl Verdict {
    /// True for every verdict except [`Verdict::NeedMore`]: feeding more changes nothing.
    pub const fn is_final(&self) -> bool {
        !matches!(self, Verdict::NeedMore)
    }

    /// Stable short name, for counters and logs.
    pub const fn name(&self) -> &'static str {
        match self {
            Verdict::NeedMore => "need-more",
            Verdict::Complete(_) => "complete",
            Verdict::NotTls => "not-tls",
            Verdict::Sslv2 => "sslv2",
            Verdict::Malformed(m) => m.name(),
            Verdict::TooLarge { .. } => "too-large",
        }
    }
}

/// Record layer state. Transitions take the old state by value and return the new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Collecting a 5-byte record header; `have` bytes of it are in `buf`.
    RecordHeader {
        buf: [u8; RECORD_HEADER_LEN],
        have: u8,
    },
    /// Inside a record payload; `left` bytes of it are still to come.
    Payload { left: u16 },
    /// A final verdict was reached; further input is ignored.
    Finished(Verdict),
}

/// Handshake message state, advanced by record payload bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Message {
    /// Collecting the 4-byte handshake header; `have` bytes of it are in `buf`.
    Header {
        buf: [u8; HANDSHAKE_HEADER_LEN],
        have: u8,
    },
    /// Inside the ClientHello body of `len` bytes; `left` of them are still to come.
    Body { len: u32, left: u32 },
    /// The whole message has arrived; the rest of the current record is skipped.
    Done { len: u32 },
}

/// Streaming ClientHello deframer. See the [module documentation](self).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deframer {
    max_bytes: u32,
    state: State,
    message: Message,
    records: u32,
    consumed: u32,
}

impl Deframer {
    /// A deframer that reports [`Verdict::TooLarge`] for a ClientHello body longer than
    /// `max_bytes` (clamped to [`MAX_HANDSHAKE_LEN`]).
    pub const fn new(max_bytes: u32) -> Self {
        let max_bytes = if max_bytes > MAX_HANDSHAKE_LEN {
            MAX_HANDSHAKE_LEN
        } else {
            max_bytes
        };
        Deframer {
            max_bytes,
            state: State::RecordHeader {
                buf: [0; RECORD_HEADER_LEN],
                have: 0,
            },
            message: Message::Header {
                buf: [0; HANDSHAKE_HEADER_LEN],
                have: 0,
            },
            records: 0,
            consumed: 0,
        }
    }

    /// The body length limit in force.
    pub const fn max_bytes(&self) -> u32 {
        self.max_bytes
    }

    /// Stream bytes examined so far. After [`Verdict::Complete`] this equals
    /// [`HelloSpan::stream_bytes`]; after another final verdict it is where the deframer
    /// stopped, which may lie a few header bytes past the offending byte.
    pub const fn consumed(&self) -> u32 {
        self.consumed
    }

    /// The ClientHello body length from its handshake header, once that header has been seen
    /// (used to estimate how many segments an over-budget hello would have needed).
    pub const fn declared_len(&self) -> Option<u32> {
        match self.message {
            Message::Header { .. } => None,
            Message::Body { len, .. } | Message::Done { len } => Some(len),
        }
    }

    /// The current verdict, without feeding anything.
    pub const fn verdict(&self) -> Verdict {
        match self.state {
            State::Finished(v) => v,
            _ => Verdict::NeedMore,
        }
    }

    /// Forget everything and start over with the same limit.
    pub fn reset(&mut self) {
        *self = Deframer::new(self.max_bytes);
    }

    /// Feed the next chunk of the client→server stream. Returns the verdict after it.
    ///
    /// Once a final verdict is reached it is returned again for every later call and the
    /// input is ignored. After [`Verdict::Complete`], bytes of the chunk past
    /// [`HelloSpan::stream_bytes`] belong to whatever follows the ClientHello and are not
    /// examined.
    pub fn feed(&mut self, chunk: &[u8]) -> Verdict {
        self.feed_with(chunk, &mut |_: &[u8]| {})
    }

    /// Like [`Deframer::feed`], handing every byte of the handshake message (header and
    /// body, in order, record headers stripped) to `sink` as it passes.
    pub(crate) fn feed_with<F: FnMut(&[u8])>(&mut self, chunk: &[u8], sink: &mut F) -> Verdict {
        let mut input = chunk;
        loop {
            if let State::Finished(v) = self.state {
                return v;
            }
            if input.is_empty() {
                return Verdict::NeedMore;
            }
            let (state, rest) = self.step(self.state, input, sink);
            self.state = state;
            input = rest;
        }
    }

    /// One transition of the record layer on a non-empty `input`; returns the new state
    /// and the unconsumed input.
    fn step<'a, F: FnMut(&[u8])>(
        &mut self,
        state: State,
        input: &'a [u8],
        sink: &mut F,
    ) -> (State, &'a [u8]) {
        match state {
            State::Finished(v) => (State::Finished(v), input),
            State::RecordHeader { mut buf, have } => {
                let have = usize::from(have).min(RECORD_HEADER_LEN);
                let take = (RECORD_HEADER_LEN - have).min(input.len());
                let (head, rest) = input.split_at(take);
                buf[have..have + take].copy_from_slice(head);
                self.add_consumed(take);
                let now = have + take;
                let first = self.records == 0;
                // Checks in field order, each as soon as its field is complete.
                if have < 1 && now >= 1 {
                    if let Some(v) = check_content_type(buf[0], first) {
                        return (State::Finished(v), rest);
                    }
                }
                if have < 2 && now >= 2 && buf[1] != RECORD_VERSION_MAJOR {
                    let v = if first {
                        Verdict::NotTls
                    } else {
                        Verdict::Malformed(Malformed::BadRecordVersion)
                    };
                    return (State::Finished(v), rest);
                }
                if now < RECORD_HEADER_LEN {
                    // `now` < 5 fits in a u8.
                    return (
                        State::RecordHeader {
                            buf,
                            have: now as u8,
                        },
                        rest,
                    );
                }
                let len = u16::from_be_bytes([buf[3], buf[4]]);
                if len == 0 {
                    // An empty handshake record carries nothing. OpenSSL skips such records
                    // before and between the hello's records (tested against `s_server`),
                    // so refusing them would let a client hide its hello behind one.
                    self.records = self.records.saturating_add(1);
                    return (
                        State::RecordHeader {
                            buf: [0; RECORD_HEADER_LEN],
                            have: 0,
                        },
                        rest,
                    );
                }
                if len > MAX_RECORD_LEN {
                    return (
                        State::Finished(Verdict::Malformed(Malformed::RecordTooLong)),
                        rest,
                    );
                }
                self.records = self.records.saturating_add(1);
                (State::Payload { left: len }, rest)
            }
            State::Payload { left } => {
                let take = usize::from(left).min(input.len());
                let (data, rest) = input.split_at(take);
                self.add_consumed(take);
                if let Err(v) = self.message_bytes(data, sink) {
                    return (State::Finished(v), rest);
                }
                // `take` <= `left`, a u16.
                let left = left - take as u16;
                if left > 0 {
                    return (State::Payload { left }, rest);
                }
                if let Message::Done { len } = self.message {
                    let span = HelloSpan {
                        hello_len: len,
                        records: self.records,
                        stream_bytes: self.consumed,
                    };
                    return (State::Finished(Verdict::Complete(span)), rest);
                }
                (
                    State::RecordHeader {
                        buf: [0; RECORD_HEADER_LEN],
                        have: 0,
                    },
                    rest,
                )
            }
        }
    }

    /// Advance the handshake message state over `data`, a piece of record payload.
    fn message_bytes<F: FnMut(&[u8])>(&mut self, data: &[u8], sink: &mut F) -> Result<(), Verdict> {
        let mut data = data;
        while !data.is_empty() {
            match self.message {
                Message::Header { mut buf, have } => {
                    let have = usize::from(have).min(HANDSHAKE_HEADER_LEN);
                    let take = (HANDSHAKE_HEADER_LEN - have).min(data.len());
                    let (head, rest) = data.split_at(take);
                    buf[have..have + take].copy_from_slice(head);
                    data = rest;
                    let now = have + take;
                    if have < 1 && now >= 1 && buf[0] != HANDSHAKE_TYPE_CLIENT_HELLO {
                        return Err(Verdict::Malformed(Malformed::NotClientHello));
                    }
                    if now < HANDSHAKE_HEADER_LEN {
                        sink(head);
                        self.message = Message::Header {
                            buf,
                            have: now as u8,
                        };
                        continue;
                    }
                    let len = u32::from_be_bytes([0, buf[1], buf[2], buf[3]]);
                    if len == 0 {
                        return Err(Verdict::Malformed(Malformed::EmptyHandshake));
                    }
                    if len < MIN_CLIENT_HELLO_LEN {
                        return Err(Verdict::Malformed(Malformed::HelloTooShort));
                    }
                    if len > self.max_bytes {
                        return Err(Verdict::TooLarge {
                            hello_len: len,
                            max_bytes: self.max_bytes,
                        });
                    }
                    sink(head);
                    self.message = Message::Body { len, left: len };
                }
                Message::Body { len, left } => {
                    let take = data.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let (body, rest) = data.split_at(take);
                    sink(body);
                    data = rest;
                    // `take` <= `left`, a u32.
                    let left = left - take as u32;
                    self.message = if left == 0 {
                        Message::Done { len }
                    } else {
                        Message::Body { len, left }
                    };
                }
                // The rest of the record after the ClientHello: counted, not examined.
                Message::Done { .. } => return Ok(()),
            }
        }
        Ok(())
    }

    fn add_consumed(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.consumed = self.consumed.saturating_add(n);
    }
}

/// Content type check for a record's first byte; `first` is true for the stream's
/// first record.
fn check_content_type(ty: u8, first: bool) -> Option<Verdict> {
    if ty == CONTENT_TYPE_HANDSHAKE {
        None
    } else if !first {
        Some(Verdict::Malformed(Malformed::UnexpectedContentType))
    } else if ty & 0x80 != 0 {
        Some(Verdict::Sslv2)
    } else {
        Some(Verdict::NotTls)
    }
}

/// Why [`copy_hello`] could not produce the handshake message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CopyError {
    /// The chunks ended before the ClientHello was complete.
    Incomplete,
    /// The stream does not start with a TLS record.
    NotTls,
    /// The stream starts with an SSLv2-style hello.
    Sslv2,
    /// The stream breaks the framing rules.
    Malformed(Malformed),
    /// The handshake message (`hello_len + 4` bytes) does not fit in the output buffer.
    TooLarge {
        /// Declared ClientHello body length.
        hello_len: u32,
        /// Output buffer length.
        capacity: usize,
    },
}

impl CopyError {
    /// Stable short name, for counters and logs.
    pub const fn name(&self) -> &'static str {
        match self {
            CopyError::Incomplete => "incomplete",
            CopyError::NotTls => "not-tls",
            CopyError::Sslv2 => "sslv2",
            CopyError::Malformed(m) => m.name(),
            CopyError::TooLarge { .. } => "too-large",
        }
    }
}

impl fmt::Display for CopyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Walk the client→server stream again, given as its chunks in order (the held segment
/// payloads), and copy the ClientHello handshake message — 4-byte handshake header and
/// body, record headers stripped — to the start of `out`. Returns its length.
///
/// `out` is the worker's scratch buffer of `max_bytes + 4` bytes; a message that does
/// not fit is [`CopyError::TooLarge`]. Chunks after the one that completes the message
/// are not read. Does not allocate.
pub fn copy_hello<'a, I>(chunks: I, out: &mut [u8]) -> Result<usize, CopyError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let capacity = out.len();
    let max_bytes =
        u32::try_from(capacity.saturating_sub(HANDSHAKE_HEADER_LEN)).unwrap_or(u32::MAX);
    let mut deframer = Deframer::new(max_bytes);
    let mut pos = 0usize;
    let mut sink = |bytes: &[u8]| {
        let end = pos.saturating_add(bytes.len());
        // The deframer checked the declared length against `out` before any body byte
        // arrives, so this always fits; `get_mut` keeps it panic-free regardless.
        if let Some(dst) = out.get_mut(pos..end) {
            dst.copy_from_slice(bytes);
        }
        pos = end;
    };
    for chunk in chunks {
        match deframer.feed_with(chunk, &mut sink) {
            Verdict::NeedMore => {}
            Verdict::Complete(span) => return Ok(span.message_len()),
            Verdict::NotTls => return Err(CopyError::NotTls),
            Verdict::Sslv2 => return Err(CopyError::Sslv2),
            Verdict::Malformed(m) => return Err(CopyError::Malformed(m)),
            Verdict::TooLarge { hello_len, .. } => {
                return Err(CopyError::TooLarge {
                    hello_len,
                    capacity,
                })
            }
        }
    }
    Err(CopyError::Incomplete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::test_util::{fixtures, frame, handshake_of, reframe_records, Fixture};
    use proptest::prelude::*;

    const MAX: u32 = 64 * 1024;

    fn feed_all(chunks: &[&[u8]]) -> (Verdict, u32) {
        let mut d = Deframer::new(MAX);
        let mut v = Verdict::NeedMore;
        for c in chunks {
            v = d.feed(c);
        }
        (v, d.consumed())
    }

    fn whole(bytes: &[u8]) -> Verdict {
        feed_all(&[bytes]).0
    }

    fn bytewise(bytes: &[u8]) -> Verdict {
        let mut d = Deframer::new(MAX);
        let mut v = Verdict::NeedMore;
        for b in bytes {
            v = d.feed(core::slice::from_ref(b));
        }
        v
    }

    fn expected_span(f: &Fixture) -> HelloSpan {
        HelloSpan {
            hello_len: (f.message.len() - 4) as u32,
            records: f.records,
            stream_bytes: f.stream.len() as u32,
        }
    }

    #[test]
    fn fixtures_complete_whole_and_bytewise() {
        for f in fixtures() {
            let want = Verdict::Complete(expected_span(&f));
            assert_eq!(whole(&f.stream), want, "{}", f.name);
            assert_eq!(bytewise(&f.stream), want, "{}", f.name);
            // Every strict prefix needs more.
            assert_eq!(
                whole(&f.stream[..f.stream.len() - 1]),
                Verdict::NeedMore,
                "{}",
                f.name
            );
        }
    }

    #[test]
    fn fixture_record_counts() {
        let by_name = |n: &str| fixtures().into_iter().find(|f| f.name == n).unwrap();
        assert_eq!(by_name("openssl3-large-alpn-frag512.bin").records, 18);
        assert_eq!(by_name("openssl3-large-alpn.bin").records, 1);
        let f = by_name("openssl3-large-alpn-frag512.bin");
        assert_eq!(whole(&f.stream), Verdict::Complete(expected_span(&f)));
    }

    #[test]
    fn fixtures_split_in_two_everywhere() {
        for f in fixtures() {
            let want = Verdict::Complete(expected_span(&f));
            for cut in 0..=f.stream.len() {
                let (a, b) = f.stream.split_at(cut);
                assert_eq!(feed_all(&[a, b]).0, want, "{} cut {}", f.name, cut);
            }
        }
    }

    #[test]
    fn split_at_every_header_byte_in_three_chunks() {
        // Cuts inside the record header and the handshake header, in every combination.
        for f in fixtures() {
            let want = Verdict::Complete(expected_span(&f));
            for i in 0..=9 {
                for j in i..=9 {
                    let s = &f.stream;
                    let v = feed_all(&[&s[..i], &s[i..j], &s[j..]]).0;
                    assert_eq!(v, want, "{} cuts {} {}", f.name, i, j);
                }
            }
        }
    }

    #[test]
    fn handshake_header_split_across_records() {
        let f = &fixtures()[0];
        let n = f.message.len();
        // First records carry 1, 2 and 3 bytes of the 4-byte handshake header.
        for sizes in [
            vec![1, 1, 1, 1, n - 4],
            vec![1, n - 1],
            vec![2, n - 2],
            vec![3, n - 3],
            vec![3, 2, n - 5],
            vec![4, n - 4],
            vec![5, n - 5],
        ] {
            let stream = reframe_records(&f.message, &sizes);
            let want = Verdict::Complete(HelloSpan {
                hello_len: (n - 4) as u32,
                records: sizes.len() as u32,
                stream_bytes: stream.len() as u32,
            });
            assert_eq!(whole(&stream), want, "{sizes:?}");
            assert_eq!(bytewise(&stream), want, "{sizes:?}");
            let mut out = vec![0xa5; n + 4];
            assert_eq!(copy_hello([&stream[..]], &mut out), Ok(n));
            assert_eq!(&out[..n], &f.message[..]);
        }
    }

    #[test]
    fn many_small_records() {
        let f = &fixtures()[0];
        let sizes = vec![1; f.message.len()];
        let stream = reframe_records(&f.message, &sizes);
        match whole(&stream) {
            Verdict::Complete(s) => {
                assert_eq!(s.records as usize, f.message.len());
                assert_eq!(s.stream_bytes as usize, stream.len());
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn complete_stops_at_record_end_and_ignores_what_follows() {
        let f = &fixtures()[0];
        let mut stream = f.stream.clone();
        // An application data record (early data, say) right behind, in the same chunk.
        stream.extend_from_slice(&[23, 3, 3, 0, 2, 0xde, 0xad]);
        let want = Verdict::Complete(expected_span(f));
        let (v, consumed) = feed_all(&[&stream]);
        assert_eq!(v, want);
        assert_eq!(consumed as usize, f.stream.len());
        assert_eq!(bytewise(&stream), want);
    }

    #[test]
    fn waits_for_the_end_of_the_record_carrying_the_last_hello_byte() {
        let f = &fixtures()[0];
        // One record holding the message plus 3 trailing bytes.
        let mut payload = f.message.clone();
        payload.extend_from_slice(&[0, 0, 0]);
        let stream = frame(&payload);
        let mut d = Deframer::new(MAX);
        assert_eq!(d.feed(&stream[..stream.len() - 3]), Verdict::NeedMore);
        assert_eq!(
            d.feed(&stream[stream.len() - 3..stream.len() - 1]),
            Verdict::NeedMore
        );
        let want = Verdict::Complete(HelloSpan {
            hello_len: (f.message.len() - 4) as u32,
            records: 1,
            stream_bytes: stream.len() as u32,
        });
        assert_eq!(d.feed(&stream[stream.len() - 1..]), want);
        // The copy excludes the trailing bytes.
        let mut out = vec![0; f.message.len() + 4];
        assert_eq!(copy_hello([&stream[..]], &mut out), Ok(f.message.len()));
        assert_eq!(&out[..f.message.len()], &f.message[..]);
    }

    #[test]
    fn verdict_is_sticky() {
        let f = &fixtures()[0];
        let mut d = Deframer::new(MAX);
        let v = d.feed(&f.stream);
        assert!(v.is_final());
        assert_eq!(d.feed(b"more"), v);
        assert_eq!(d.verdict(), v);
        let mut d = Deframer::new(MAX);
        assert_eq!(d.feed(b"GET / HTTP/1.1\r\n"), Verdict::NotTls);
        assert_eq!(d.feed(&f.stream), Verdict::NotTls);
        d.reset();
        assert_eq!(d.feed(&f.stream), Verdict::Complete(expected_span(f)));
    }

    #[test]
    fn not_tls() {
        assert_eq!(whole(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Verdict::NotTls);
        assert_eq!(whole(b"SSH-2.0-OpenSSH_9.2\r\n"), Verdict::NotTls);
        assert_eq!(whole(&[0]), Verdict::NotTls);
        // Application data, alert or CCS first: not a ClientHello flight.
        assert_eq!(whole(&[23, 3, 3, 0, 1, 0]), Verdict::NotTls);
        assert_eq!(whole(&[21, 3, 1, 0, 2, 2, 40]), Verdict::NotTls);
        assert_eq!(whole(&[20, 3, 3, 0, 1, 1]), Verdict::NotTls);
        // Content type 22 but not record version 3.x.
        assert_eq!(whole(&[22, 2, 0, 0, 5]), Verdict::NotTls);
        assert_eq!(whole(&[22, 0xfe, 0xfd, 0, 5]), Verdict::NotTls);
        // Decided on the first byte / the second byte.
        assert_eq!(whole(&[0x47]), Verdict::NotTls);
        assert_eq!(whole(&[22]), Verdict::NeedMore);
        assert_eq!(whole(&[22, 4]), Verdict::NotTls);
        assert_eq!(whole(&[]), Verdict::NeedMore);
    }

    #[test]
    fn sslv2_style_hello() {
        // SSLv2-compatible CLIENT-HELLO: 2-byte header with the high bit set, msg type 1.
        let v2 = [
            0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10,
        ];
        assert_eq!(whole(&v2), Verdict::Sslv2);
        assert_eq!(bytewise(&v2), Verdict::Sslv2);
        assert_eq!(whole(&[0xff]), Verdict::Sslv2);
    }

    /// Empty handshake records are skipped, before the hello and between its records, as
    /// OpenSSL skips them: the hello after them is deframed and copied like any other.
    #[test]
    fn zero_length_records_are_skipped() {
        assert_eq!(whole(&[22, 3, 1, 0, 0]), Verdict::NeedMore);
        let f = &fixtures()[0];
        let mut s = vec![22, 3, 1, 0, 0, 22, 3, 3, 0, 0];
        s.extend_from_slice(&reframe_records(&f.message[..10], &[]));
        s.extend_from_slice(&[22, 3, 3, 0, 0]);
        s.extend_from_slice(&reframe_records(&f.message[10..], &[]));
        assert!(matches!(whole(&s), Verdict::Complete(_)), "{:?}", whole(&s));
        assert!(matches!(bytewise(&s), Verdict::Complete(_)));
        let mut out = vec![0u8; f.message.len() + 16];
        let n = copy_hello([&s[..]], &mut out).unwrap();
        assert_eq!(&out[..n], &f.message[..]);
        // A non-handshake record type is still refused, empty or not.
        assert!(matches!(
            whole(&[21, 3, 1, 0, 0]),
            Verdict::NotTls | Verdict::Malformed(_)
        ));
    }

    #[test]
    fn record_length_limits() {
        let ok = MAX_RECORD_LEN.to_be_bytes();
        assert_eq!(
            whole(&[22, 3, 1, ok[0], ok[1], 1, 0, 0, 50]),
            Verdict::NeedMore
        );
        let bad = (MAX_RECORD_LEN + 1).to_be_bytes();
        assert_eq!(
            whole(&[22, 3, 1, bad[0], bad[1]]),
            Verdict::Malformed(Malformed::RecordTooLong)
        );
        assert_eq!(
            whole(&[22, 3, 1, 0xff, 0xff]),
            Verdict::Malformed(Malformed::RecordTooLong)
        );
    }

    #[test]
    fn interleaved_non_handshake_record() {
        let f = &fixtures()[0];
        for ty in [20u8, 21, 23, 24, 0, 0x80] {
            let mut s = reframe_records(&f.message[..100], &[]);
            s.extend_from_slice(&[ty, 3, 3, 0, 2, 1, 0]);
            s.extend_from_slice(&reframe_records(&f.message[100..], &[]));
            let want = Verdict::Malformed(Malformed::UnexpectedContentType);
            assert_eq!(whole(&s), want, "type {ty}");
            assert_eq!(bytewise(&s), want, "type {ty}");
        }
        // A later record with a bad version.
        let mut s = reframe_records(&f.message[..100], &[]);
        s.extend_from_slice(&[22, 2, 0, 0, 1, 0]);
        assert_eq!(whole(&s), Verdict::Malformed(Malformed::BadRecordVersion));
    }

    #[test]
    fn handshake_type_not_client_hello() {
        // ServerHello (2), Certificate (11), and garbage types.
        for ty in [0u8, 2, 11, 20, 0xff] {
            let s = [22, 3, 1, 0, 4, ty, 0, 0, 60];
            assert_eq!(whole(&s), Verdict::Malformed(Malformed::NotClientHello));
            // Decided on the type byte alone.
            assert_eq!(
                whole(&s[..6]),
                Verdict::Malformed(Malformed::NotClientHello)
            );
        }
    }

    #[test]
    fn handshake_lengths() {
        assert_eq!(
            whole(&[22, 3, 1, 0, 4, 1, 0, 0, 0]),
            Verdict::Malformed(Malformed::EmptyHandshake)
        );
        assert_eq!(
            whole(&[22, 3, 1, 0, 4, 1, 0, 0, 40]),
            Verdict::Malformed(Malformed::HelloTooShort)
        );
        assert_eq!(whole(&[22, 3, 1, 0, 4, 1, 0, 0, 41]), Verdict::NeedMore);
        // 2^24 - 1: too large for any sane limit, decided from the header alone.
        let want = Verdict::TooLarge {
            hello_len: (1 << 24) - 1,
            max_bytes: MAX,
        };
        assert_eq!(whole(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]), want);
        assert_eq!(bytewise(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]), want);
        // Even with the largest limit, the header-only verdict is still NeedMore.
        let mut d = Deframer::new(u32::MAX);
        assert_eq!(d.max_bytes(), MAX_HANDSHAKE_LEN);
        assert_eq!(
            d.feed(&[22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]),
            Verdict::NeedMore
        );
        // Header split across two records.
        assert_eq!(
            whole(&[22, 3, 1, 0, 2, 1, 0xff, 22, 3, 1, 0, 2, 0xff, 0xff]),
            want
        );
    }

    #[test]
    fn too_large_against_max_bytes() {
        let f = &fixtures()[0];
        let len = (f.message.len() - 4) as u32;
        let mut d = Deframer::new(len);
        assert_eq!(d.feed(&f.stream), Verdict::Complete(expected_span(f)));
        let mut d = Deframer::new(len - 1);
        let want = Verdict::TooLarge {
            hello_len: len,
            max_bytes: len - 1,
        };
        // Decided after the 9th byte, before the body.
        assert_eq!(d.feed(&f.stream[..9]), want);
    }

    #[test]
    fn copy_hello_fixtures_in_segments() {
        for f in fixtures() {
            let mut out = vec![0xa5; MAX as usize + 4];
            // 536-byte segments, as a client falls back to without an MSS option.
            let n = copy_hello(f.stream.chunks(536), &mut out).unwrap();
            assert_eq!(&out[..n], &f.message[..], "{}", f.name);
            assert_eq!(out[n], 0xa5, "{}", f.name);
            // Exact-size buffer.
            let mut exact = vec![0; f.message.len()];
            assert_eq!(
                copy_hello(f.stream.chunks(1), &mut exact),
                Ok(f.message.len())
            );
            assert_eq!(exact, f.message);
            // One byte short.
            let mut short = vec![0; f.message.len() - 1];
            assert_eq!(
                copy_hello([&f.stream[..]], &mut short),
                Err(CopyError::TooLarge {
                    hello_len: (f.message.len() - 4) as u32,
                    capacity: f.message.len() - 1,
                })
            );
        }
    }

    #[test]
    fn copy_hello_errors() {
        let f = &fixtures()[0];
        let mut out = vec![0; 1 << 16];
        assert_eq!(
            copy_hello([&f.stream[..f.stream.len() - 1]], &mut out),
            Err(CopyError::Incomplete)
        );
        assert_eq!(
            copy_hello(core::iter::empty::<&[u8]>(), &mut out),
            Err(CopyError::Incomplete)
        );
        assert_eq!(
            copy_hello([&b"GET /"[..]], &mut out),
            Err(CopyError::NotTls)
        );
        assert_eq!(
            copy_hello([&[0x80u8, 1][..]], &mut out),
            Err(CopyError::Sslv2)
        );
        assert_eq!(
            copy_hello([&[22u8, 3, 1, 0, 0][..]], &mut out),
            Err(CopyError::Incomplete)
        );
        assert_eq!(
            copy_hello([&f.stream[..]], &mut []),
            Err(CopyError::TooLarge {
                hello_len: (f.message.len() - 4) as u32,
                capacity: 0,
            })
        );
    }

    #[test]
    fn handshake_of_matches_copy() {
        // The test helper's reassembly agrees with copy_hello on every fixture.
        for f in fixtures() {
            assert_eq!(handshake_of(&f.stream), f.message, "{}", f.name);
        }
    }

    /// Splits `bytes` at the (sorted, deduplicated, clamped) cut points.
    fn chunked<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts {
            out.push(&bytes[prev..c]);
            prev = c;
        }
        out.push(&bytes[prev..]);
        out
    }

    /// Streams that look like TLS often enough to reach the deeper states: a first
    /// record header with a small length, a handshake header with a small length, then
    /// random bytes (which may or may not form further records).
    fn tlsish() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (
                proptest::collection::vec(any::<u8>(), 0..300),
                0u16..400,
                any::<u8>(),
                0u16..120,
            )
                .prop_map(|(tail, rec_len, ty, hs_len)| {
                    let mut v = vec![22, 3, 1];
                    v.extend_from_slice(&rec_len.to_be_bytes());
                    v.push(if ty < 200 { 1 } else { ty });
                    v.push(0);
                    v.extend_from_slice(&hs_len.to_be_bytes());
                    v.extend_from_slice(&tail);
                    v
                }),
        ]
    }

    proptest! {
        #[test]
        fn verdict_independent_of_chunking(
            bytes in tlsish(),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
            max in prop_oneof![Just(MAX), 0u32..400],
        ) {
            let mut one = Deframer::new(max);
            let want = one.feed(&bytes);
            let mut many = Deframer::new(max);
            let mut got = Verdict::NeedMore;
            for c in chunked(&bytes, &cuts) {
                got = many.feed(c);
            }
            prop_assert_eq!(got, want);
            let mut bytewise = Deframer::new(max);
            let mut got = Verdict::NeedMore;
            for b in &bytes {
                got = bytewise.feed(core::slice::from_ref(b));
            }
            prop_assert_eq!(got, want);
            if let Verdict::Complete(span) = want {
                prop_assert!(span.stream_bytes as usize <= bytes.len());
            }
        }

        #[test]
        fn reframed_fixture_completes_and_copies(
            which in 0usize..7,
            sizes in proptest::collection::vec(1usize..700, 0..40),
            cuts in proptest::collection::vec(any::<usize>(), 0..30),
        ) {
            let fx = fixtures();
            let f = &fx[which % fx.len()];
            let stream = reframe_records(&f.message, &sizes);
            let chunks = chunked(&stream, &cuts);
            let mut d = Deframer::new(MAX);
            let mut v = Verdict::NeedMore;
            for c in &chunks {
                v = d.feed(c);
            }
            match v {
                Verdict::Complete(span) => {
                    prop_assert_eq!(span.message_len(), f.message.len());
                    prop_assert_eq!(span.stream_bytes as usize, stream.len());
                }
                other => prop_assert!(false, "{:?}", other),
            }
            let mut out = vec![0u8; MAX as usize + 4];
            let n = copy_hello(chunks.iter().copied(), &mut out);
            prop_assert_eq!(n, Ok(f.message.len()));
            prop_assert_eq!(&out[..f.message.len()], &f.message[..]);
        }
    }
}
