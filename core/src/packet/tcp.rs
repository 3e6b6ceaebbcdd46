//! TCP header view (RFC 9293) and its options.

use super::{checksum, read_u16, read_u32, write_u16, write_u32, ParseError};

mod field {
    use crate::packet::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const FLAGS: Field = 12..14;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
    pub const OPTIONS: usize = 20;
}

/// Length of the TCP header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Largest TCP header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Byte offset of the data offset / flags word.
pub const FLAGS_OFFSET: usize = field::FLAGS.start;
/// Byte offset of the checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;

/// TCP flags: the low 9 bits of the data offset / flags word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: Self = Self(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: Self = Self(0x002);
    /// Reset the connection.
    pub const RST: Self = Self(0x004);
    /// Push.
    pub const PSH: Self = Self(0x008);
    /// Acknowledgment field is significant.
    pub const ACK: Self = Self(0x010);
    /// Urgent pointer is significant.
    pub const URG: Self = Self(0x020);
    /// ECN echo.
    pub const ECE: Self = Self(0x040);
    /// Congestion window reduced.
    pub const CWR: Self = Self(0x080);
    /// ECN nonce / AccECN (bit 8).
    pub const NS: Self = Self(0x100);

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// SYN set.
    #[inline]
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// ACK set.
    #[inline]
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    /// FIN set.
    #[inline]
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// RST set.
    #[inline]
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = Self;
    #[inline]
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

/// Option kinds.
pub mod kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation (padding).
    pub const NOP: u8 = 1;
    /// Maximum segment size (length 4).
    pub const MSS: u8 = 2;
    /// Window scale (length 3).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (length 2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks (length 2 + 8n).
    pub const SACK: u8 = 5;
    /// Timestamps (length 10).
    pub const TIMESTAMPS: u8 = 8;
}

/// One TCP option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// End of option list (kind 0): the rest of the option space is padding.
    EndOfList,
    /// No operation (kind 1).
    NoOperation,
    /// Maximum segment size (kind 2).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3), as sent (values above 14 are kept).
    WindowScale(u8),
    /// SACK permitted (kind 4).
    SackPermitted,
    /// SACK blocks (kind 5): 1 to 4 pairs of big-endian (left, right) edges, 8 bytes each.
    Sack(&'a [u8]),
    /// Timestamps (kind 8).
    Timestamps {
        /// TSval.
        tsval: u32,
        /// TSecr.
        tsecr: u32,
    },
    /// Any other kind, with its data (after kind and length) kept as is.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data after the kind and length bytes.
        data: &'a [u8],
    },
}

impl TcpOption<'_> {
    /// The option kind byte.
    #[inline]
    pub fn kind(&self) -> u8 {
        match *self {
            TcpOption::EndOfList => kind::EOL,
            TcpOption::NoOperation => kind::NOP,
            TcpOption::MaxSegmentSize(_) => kind::MSS,
            TcpOption::WindowScale(_) => kind::WINDOW_SCALE,
            TcpOption::SackPermitted => kind::SACK_PERMITTED,
            TcpOption::Sack(_) => kind::SACK,
            TcpOption::Timestamps { .. } => kind::TIMESTAMPS,
            TcpOption::Unknown { kind, .. } => kind,
        }
    }

    /// Encoded length in bytes.
    #[inline]
    pub fn buffer_len(&self) -> usize {
        match *self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => 4,
            TcpOption::WindowScale(_) => 3,
            TcpOption::SackPermitted => 2,
            TcpOption::Sack(d) | TcpOption::Unknown { data: d, .. } => 2 + d.len(),
            TcpOption::Timestamps { .. } => 10,
        }
    }

    /// Encodes the option at the start of `buf`; returns the bytes written, or `None` (and
    /// writes nothing) if `buf` is too short or the option's data cannot be encoded.
    pub fn emit(&self, buf: &mut [u8]) -> Option<usize> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len)?;
        out[0] = self.kind();
        if len == 1 {
            return Some(1);
        }
        out[1] = u8::try_from(len).ok()?;
        match *self {
            TcpOption::MaxSegmentSize(v) => write_u16(out, 2, v),
            TcpOption::WindowScale(v) => out[2] = v,
            TcpOption::Timestamps { tsval, tsecr } => {
                write_u32(out, 2, tsval);
                write_u32(out, 6, tsecr);
            }
            TcpOption::Sack(d) | TcpOption::Unknown { data: d, .. } => out[2..].copy_from_slice(d),
            _ => {}
        }
        Some(len)
    }
}

/// Iterator over the options area of a TCP header, yielding `(offset, option)` with `offset`
/// relative to the start of the options area (TCP header byte 20).
///
/// Stops after `EndOfList` or at the end of the area. A malformed option (length 0 or 1,
/// running past the area, wrong length for a known kind, or a kind byte with no length byte)
/// yields `Err(TcpBadOption)` once and ends the iteration; nothing is read past the area.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> TcpOptions<'a> {
    /// Iterates over `options` (the bytes between TCP header byte 20 and the data offset).
    #[inline]
    pub const fn new(options: &'a [u8]) -> Self {
        TcpOptions {
            data: options,
            pos: 0,
        }
    }

    #[inline]
    fn finish(&mut self) {
        self.pos = self.data.len();
    }

    #[inline]
    fn next_inner(&mut self) -> Result<(usize, TcpOption<'a>), ParseError> {
        let at = self.pos;
        let rest = self.data.get(at..).unwrap_or(&[]);
        let (kind_byte, len) = match *rest {
            [kind::EOL, ..] => {
                self.finish();
                return Ok((at, TcpOption::EndOfList));
            }
            [kind::NOP, ..] => {
                self.pos += 1;
                return Ok((at, TcpOption::NoOperation));
            }
            [k, l, ..] => (k, usize::from(l)),
            // Nothing left (not reached: `next` checks) or a kind byte without a length byte.
            _ => return Err(ParseError::TcpBadOption),
        };
        if len < 2 {
            return Err(ParseError::TcpBadOption);
        }
        let opt = rest.get(..len).ok_or(ParseError::TcpBadOption)?;
        let data = opt.get(2..).unwrap_or(&[]);
        let option = match (kind_byte, data) {
            (kind::MSS, &[a, b]) => TcpOption::MaxSegmentSize(u16::from_be_bytes([a, b])),
            (kind::WINDOW_SCALE, &[s]) => TcpOption::WindowScale(s),
            (kind::SACK_PERMITTED, []) => TcpOption::SackPermitted,
            (kind::SACK, _) if !data.is_empty() && data.len() % 8 == 0 => TcpOption::Sack(data),
            (kind::TIMESTAMPS, &[a, b, c, d, e, f, g, h]) => TcpOption::Timestamps {
                tsval: u32::from_be_bytes([a, b, c, d]),
                tsecr: u32::from_be_bytes([e, f, g, h]),
            },
            (
                kind::MSS
                | kind::WINDOW_SCALE
                | kind::SACK_PERMITTED
                | kind::SACK
                | kind::TIMESTAMPS,
                _,
            ) => return Err(ParseError::TcpBadOption),
            (k, _) => TcpOption::Unknown { kind: k, data },
        };
        self.pos += len;
        Ok((at, option))
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<(usize, TcpOption<'a>), ParseError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let item = self.next_inner();
        if item.is_err() {
            self.finish();
        }
        Some(item)
    }
}

/// A read/write view of a TCP segment (header, options, payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check; getters panic on fewer than 20 bytes and
    /// [`Packet::options`] / [`Packet::payload`] on a data offset past the end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps the segment (exactly the IP payload, padding excluded) after
    /// [`Packet::check_len`]. `set_header_len` invalidates the check.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates: at least 20 bytes (`TcpTruncated`), data offset ≥ 5 and header within the
    /// buffer (`TcpBadDataOffset`). Options are validated by iterating [`Packet::options_iter`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(ParseError::TcpTruncated);
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > len {
            return Err(ParseError::TcpBadDataOffset);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::FLAGS.start] >> 4) * 4
    }

    /// Flags.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(read_u16(self.buffer.as_ref(), field::FLAGS.start) & 0x01ff)
    }

    /// Window (unscaled).
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    /// Checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The options area (header bytes 20..data offset × 4).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Iterator over the options.
    #[inline]
    pub fn options_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// The payload after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Whether the checksum is correct, given the folded pseudo-header sum for this segment
    /// (`checksum::pseudo_header_v4` / `_v6` with the segment length).
    #[inline]
    pub fn verify_checksum(&self, pseudo_header: u16) -> bool {
        checksum::combine(&[pseudo_header, checksum::data(self.buffer.as_ref())]) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM.start, seq);
    }

    /// Sets the acknowledgment number.
    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM.start, ack);
    }

    /// Sets data offset (header length in bytes, multiple of 4, 20..=60) and flags together.
    #[inline]
    pub fn set_header_len_flags(&mut self, header_len: usize, flags: TcpFlags) {
        let v = (((header_len / 4) as u16 & 0xf) << 12) | (flags.0 & 0x01ff);
        write_u16(self.buffer.as_mut(), field::FLAGS.start, v);
    }

    /// Sets the window.
    #[inline]
    pub fn set_window_len(&mut self, window: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE.start, window);
    }

    /// Stores a checksum value as is.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, value);
    }

    /// Mutable options area.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..hl]
    }

    /// Mutable payload.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }

    /// Computes and stores the checksum over the whole buffer, given the folded pseudo-header
    /// sum for this segment.
    #[inline]
    pub fn fill_checksum(&mut self, pseudo_header: u16) {
        self.set_checksum(0);
        let c = !checksum::combine(&[pseudo_header, checksum::data(self.buffer.as_ref())]);
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{checksum, fixtures};

    fn v4_pseudo(len: u16) -> u16 {
        checksum::pseudo_header_v4(&[198, 18, 0, 1], &[198, 19, 0, 1], 6, len)
    }

    #[test]
    fn deconstruct() {
        let seg = &fixtures::V4_SYN[34..];
        let p = Packet::new_checked(seg).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x1122_3344);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert!(p.flags().syn() && !p.flags().ack());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.urgent_at(), 0);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(v4_pseudo(40)));
        let opts: Vec<_> = p.options_iter().map(Result::unwrap).collect();
        assert_eq!(
            opts,
            [
                (0, TcpOption::MaxSegmentSize(1460)),
                (4, TcpOption::SackPermitted),
                (
                    6,
                    TcpOption::Timestamps {
                        tsval: 0xaabb_ccdd,
                        tsecr: 0
                    }
                ),
                (16, TcpOption::NoOperation),
                (17, TcpOption::WindowScale(7)),
            ]
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(40000);
        p.set_dst_port(443);
        p.set_seq_number(0x1122_3344);
        p.set_ack_number(0);
        p.set_header_len_flags(40, TcpFlags::SYN);
        p.set_window_len(64240);
        p.set_urgent_at(0);
        let mut at = 0;
        for opt in [
            TcpOption::MaxSegmentSize(1460),
            TcpOption::SackPermitted,
            TcpOption::Timestamps {
                tsval: 0xaabb_ccdd,
                tsecr: 0,
            },
            TcpOption::NoOperation,
            TcpOption::WindowScale(7),
        ] {
            at += opt.emit(&mut p.options_mut()[at..]).unwrap();
        }
        assert_eq!(at, 20);
        assert!(p.payload_mut().is_empty());
        p.fill_checksum(v4_pseudo(40));
        assert_eq!(buf[..], fixtures::V4_SYN[34..]);
        // emit refuses a short buffer and writes nothing.
        let mut short = [0xa5u8; 3];
        assert_eq!(TcpOption::MaxSegmentSize(1).emit(&mut short), None);
        assert_eq!(short, [0xa5; 3]);
    }

    #[test]
    fn sack_and_unknown_round_trip() {
        let sack = [0u8, 0, 0, 1, 0, 0, 0, 9, 0, 0, 1, 0, 0, 0, 2, 0];
        let fastopen = [0xde, 0xad, 0xbe, 0xef];
        let mut buf = [0u8; 40];
        let mut at = 0;
        for opt in [
            TcpOption::NoOperation,
            TcpOption::NoOperation,
            TcpOption::Sack(&sack),
            TcpOption::Unknown {
                kind: 34,
                data: &fastopen,
            },
            TcpOption::Unknown {
                kind: 99,
                data: &[],
            },
            TcpOption::EndOfList,
        ] {
            at += opt.emit(&mut buf[at..]).unwrap();
        }
        assert_eq!(at, 2 + 18 + 6 + 2 + 1);
        buf[at..].fill(0xee); // after EOL: ignored
        let opts: Vec<_> = TcpOptions::new(&buf).map(Result::unwrap).collect();
        assert_eq!(
            opts,
            [
                (0, TcpOption::NoOperation),
                (1, TcpOption::NoOperation),
                (2, TcpOption::Sack(&sack)),
                (
                    20,
                    TcpOption::Unknown {
                        kind: 34,
                        data: &fastopen
                    }
                ),
                (
                    26,
                    TcpOption::Unknown {
                        kind: 99,
                        data: &[]
                    }
                ),
                (28, TcpOption::EndOfList),
            ]
        );
    }

    fn first_error(options: &[u8]) -> Option<ParseError> {
        TcpOptions::new(options).find_map(Result::err)
    }

    #[test]
    fn bad_options() {
        // Length 0 and 1.
        assert_eq!(first_error(&[1, 1, 30, 0]), Some(ParseError::TcpBadOption));
        assert_eq!(first_error(&[30, 1, 1, 1]), Some(ParseError::TcpBadOption));
        // Overrunning the area.
        assert_eq!(first_error(&[1, 1, 30, 5]), Some(ParseError::TcpBadOption));
        assert_eq!(first_error(&[2, 4, 5]), Some(ParseError::TcpBadOption));
        // Kind with no length byte.
        assert_eq!(first_error(&[1, 1, 1, 30]), Some(ParseError::TcpBadOption));
        // Wrong lengths for known kinds.
        for bad in [
            &[2u8, 3, 5, 1][..],
            &[2, 6, 5, 1, 0, 0],
            &[3, 4, 7, 1],
            &[4, 3, 0, 1],
            &[5, 2, 1, 1],
            &[5, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[8, 8, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(first_error(bad), Some(ParseError::TcpBadOption), "{bad:?}");
        }
        // The iterator ends after an error.
        let mut it = TcpOptions::new(&[30, 0, 1, 1]);
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
        // EOL ends the list even if garbage follows; NOPs alone are fine.
        assert_eq!(first_error(&[0, 30, 0]), None);
        assert_eq!(first_error(&[1, 1, 1, 1]), None);
        assert_eq!(TcpOptions::new(&[]).count(), 0);
    }

    #[test]
    fn truncated_and_bad_data_offset() {
        let seg = &fixtures::V4_SYN[34..];
        for n in 0..20 {
            assert_eq!(
                Packet::new_checked(&seg[..n]).unwrap_err(),
                ParseError::TcpTruncated
            );
        }
        for n in 20..40 {
            assert_eq!(
                Packet::new_checked(&seg[..n]).unwrap_err(),
                ParseError::TcpBadDataOffset
            );
        }
        let mut b = [0u8; 60];
        b[..40].copy_from_slice(seg);
        for doff in 0u8..5 {
            b[12] = doff << 4;
            assert_eq!(
                Packet::new_checked(&b[..]).unwrap_err(),
                ParseError::TcpBadDataOffset
            );
        }
        b[12] = 0xf0;
        assert!(Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            Packet::new_checked(&b[..59]).unwrap_err(),
            ParseError::TcpBadDataOffset
        );
    }
}
