//! IPv4 header view (RFC 791), options included.

use super::{checksum, read_u16, write_u16, ParseError};

mod field {
    use crate::packet::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Byte offset of the header checksum field.
pub const CHECKSUM_OFFSET: usize = field::CHECKSUM.start;
/// Byte offset of the total length field.
pub const TOTAL_LEN_OFFSET: usize = field::LENGTH.start;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check; getters panic on a buffer shorter than 20 bytes and
    /// [`Packet::options`] / [`Packet::payload`] on lengths the header does not match.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`]. The check is invalidated by
    /// `set_header_len` and `set_total_len`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates, in order: at least 20 bytes (`Ipv4Truncated`), version 4
    /// (`Ipv4BadVersion`), IHL ≥ 5 (`Ipv4BadIhl`), the buffer holds the IHL × 4 header bytes
    /// (`Ipv4Truncated`), total length ≥ header length (`Ipv4BadTotalLength`), the buffer
    /// holds total length bytes (`Ipv4Truncated`). Bytes after total length (Ethernet
    /// padding) are allowed and ignored by [`Packet::payload`].
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(ParseError::Ipv4Truncated);
        }
        if self.version() != 4 {
            return Err(ParseError::Ipv4BadVersion);
        }
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN {
            return Err(ParseError::Ipv4BadIhl);
        }
        if len < header_len {
            return Err(ParseError::Ipv4Truncated);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(ParseError::Ipv4BadTotalLength);
        }
        if len < total_len {
            return Err(ParseError::Ipv4Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length (header + payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x4000 != 0
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x2000 != 0
    }

    /// Fragment offset in bytes (the field × 8).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) << 3
    }

    /// Whether this is a fragment: more-fragments set or a non-zero offset.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & 0x3fff != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header checksum as stored.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        let d = self.buffer.as_ref();
        [d[12], d[13], d[14], d[15]]
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        let d = self.buffer.as_ref();
        [d[16], d[17], d[18], d[19]]
    }

    /// Header options (between byte 20 and the header length), unparsed.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }

    /// Payload: from the header length to the total length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }

    /// Whether the header checksum is correct.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify_ipv4_header(&self.buffer.as_ref()[..self.header_len()])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((len / 4) as u8 & 0x0f);
    }

    /// Sets DSCP and ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = (dscp << 2) | (ecn & 0x03);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, ident);
    }

    /// Sets flags and fragment offset (offset in bytes, a multiple of 8).
    #[inline]
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let v = (u16::from(dont_frag) << 14) | (u16::from(more_frags) << 13) | (offset >> 3);
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    /// Sets the payload protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }

    /// Stores a checksum value as is.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 4]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr);
    }

    /// Computes and stores the header checksum over the header length.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let c = checksum::ipv4_header_checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }

    /// Mutable payload, from the header length to the total length.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[hl..tl]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&fixtures::V4_SYN[14..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), 6);
        assert_eq!(p.src_addr(), [198, 18, 0, 1]);
        assert_eq!(p.dst_addr(), [198, 19, 0, 1]);
        assert!(p.options().is_empty());
        assert_eq!(p.payload().len(), 40);
        assert!(p.verify_checksum());
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
    }

    #[test]
    fn deconstruct_with_options() {
        let p = Packet::new_checked(&fixtures::V4_IPOPT_ODD_MSS_SYN[14..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(p.payload().len(), 28);
        assert!(p.verify_checksum());
    }

    #[test]
    fn fragments_and_padding() {
        let first = Packet::new_checked(&fixtures::V4_FRAG_FIRST[14..]).unwrap();
        assert!(first.more_frags() && first.frag_offset() == 0 && first.is_fragment());
        let later = Packet::new_checked(&fixtures::V4_FRAG_LATER[14..]).unwrap();
        assert!(!later.more_frags() && later.frag_offset() == 800 && later.is_fragment());
        // Ethernet padding after the total length is not payload.
        let padded = Packet::new_checked(&fixtures::V4_SYN_BARE_PADDED[14..]).unwrap();
        assert_eq!(padded.payload().len(), 20);
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 60];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_header_len(20);
        p.set_dscp_ecn(0, 0);
        p.set_total_len(60);
        p.set_ident(0x1234);
        p.set_flags_frag(true, false, 0);
        p.set_ttl(64);
        p.set_protocol(6);
        p.set_src_addr([198, 18, 0, 1]);
        p.set_dst_addr([198, 19, 0, 1]);
        p.fill_checksum();
        p.payload_mut().copy_from_slice(&fixtures::V4_SYN[34..]);
        assert_eq!(buf[..], fixtures::V4_SYN[14..]);
    }

    #[test]
    fn truncated_and_impossible_lengths() {
        let ip = &fixtures::V4_IPOPT_ODD_MSS_SYN[14..];
        for n in 0..ip.len() {
            let want = ParseError::Ipv4Truncated;
            assert_eq!(
                Packet::new_checked(&ip[..n]).unwrap_err(),
                want,
                "prefix {n}"
            );
        }
        let mut b = fixtures::V4_SYN;
        b[14] = 0x44; // IHL 4
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4BadIhl
        );
        b[14] = 0x40; // IHL 0
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4BadIhl
        );
        b[14] = 0x4f; // IHL 15: 60 bytes of header, 60 bytes of buffer, total 60: ok
        assert!(Packet::new_checked(&b[14..]).is_ok());
        b[17] = 61; // total length 61 > header 60 but > buffer
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4Truncated
        );
        b[14] = 0x45;
        b[17] = 19; // total length < header length
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4BadTotalLength
        );
        b[16] = 0xff;
        b[17] = 0xff; // total length 65535 > buffer
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4Truncated
        );
        b[14] = 0x65; // version 6
        assert_eq!(
            Packet::new_checked(&b[14..]).unwrap_err(),
            ParseError::Ipv4BadVersion
        );
    }
}
