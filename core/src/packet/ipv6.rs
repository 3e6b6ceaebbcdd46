//! IPv6 header view (RFC 8200) and the extension headers the parser steps over.

use super::{ip_proto, read_u16, read_u32, write_u16, write_u32, ParseError};

mod field {
    use crate::packet::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// Byte offset of the payload length field.
pub const PAYLOAD_LEN_OFFSET: usize = field::LENGTH.start;

/// How many extension headers the parser walks before giving up. A legitimate packet carries
/// at most hop-by-hop, destination options, routing, fragment, AH and destination options
/// again (RFC 8200 4.1): six. Long chains are a known way to make middleboxes spend time or
/// miss the upper-layer header (RFC 7112), so a longer chain is an error, not a walk.
pub const MAX_EXT_HEADERS: usize = 8;

/// A read/write view of the fixed IPv6 header and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without any check; getters panic on fewer than 40 bytes and
    /// [`Packet::payload`] on a payload length the buffer does not hold.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`]. `set_payload_len` invalidates the check.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates: at least 40 bytes (`Ipv6Truncated`), version 6 (`Ipv6BadVersion`), the
    /// buffer holds 40 + payload length bytes (`Ipv6Truncated`). Trailing bytes (Ethernet
    /// padding) are allowed and ignored by [`Packet::payload`]. A jumbogram (payload length 0
    /// with a hop-by-hop jumbo option) is seen as an empty payload.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(ParseError::Ipv6Truncated);
        }
        if self.version() != 6 {
            return Err(ParseError::Ipv6BadVersion);
        }
        if len < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(ParseError::Ipv6Truncated);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version field (6).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (read_u16(self.buffer.as_ref(), 0) >> 4) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000f_ffff
    }

    /// Payload length (extension headers included).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// Next header of the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NXT_HDR]
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        a
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        let mut a = [0; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        a
    }

    /// The payload: 40..40 + payload length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, traffic class and flow label.
    #[inline]
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let v = (6 << 28) | (u32::from(traffic_class) << 20) | (flow_label & 0x000f_ffff);
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v);
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, next_header: u8) {
        self.buffer.as_mut()[field::NXT_HDR] = next_header;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr);
    }
}

/// Whether `next_header` names an extension header the parser steps over (hop-by-hop,
/// routing, fragment, destination options, AH). ESP (50) and No Next Header (59) end the
/// chain.
#[inline]
pub const fn is_ext_header(next_header: u8) -> bool {
    matches!(
        next_header,
        ip_proto::HOP_BY_HOP
            | ip_proto::ROUTING
            | ip_proto::FRAGMENT
            | ip_proto::DEST_OPTS
            | ip_proto::AH
    )
}

/// A view of a generic extension header (hop-by-hop, routing, destination options: length
/// `(hdr_ext_len + 1) * 8`; AH: length `(payload_len + 2) * 4`, RFC 4302 2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    protocol: u8,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps the bytes of an extension header of type `protocol` (the next-header value that
    /// announced it) after [`ExtHeader::check_len`].
    #[inline]
    pub fn new_checked(buffer: T, protocol: u8) -> Result<Self, ParseError> {
        let h = ExtHeader { buffer, protocol };
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Ipv6ExtHeaderTruncated)` unless the buffer holds the 2-byte prefix and the whole
    /// length it announces.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        match d.get(1) {
            Some(_) if d.len() >= self.header_len() => Ok(()),
            _ => Err(ParseError::Ipv6ExtHeaderTruncated),
        }
    }

    /// Next header after this one.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Length of this header in bytes, by the rule of its type.
    #[inline]
    pub fn header_len(&self) -> usize {
        let raw = usize::from(self.buffer.as_ref()[1]);
        if self.protocol == ip_proto::AH {
            (raw + 2) * 4
        } else {
            (raw + 1) * 8
        }
    }

    /// The header's data after its 2-byte prefix (options, addresses, SPI and ICV...).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[2..self.header_len()]
    }
}

/// A view of the 8-byte IPv6 fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

/// Length of the fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    /// Wraps a buffer without a check; getters panic on fewer than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        FragmentHeader { buffer }
    }

    /// Wraps a buffer of at least 8 bytes, else `Err(Ipv6ExtHeaderTruncated)`.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        if buffer.as_ref().len() < FRAGMENT_HEADER_LEN {
            return Err(ParseError::Ipv6ExtHeaderTruncated);
        }
        Ok(FragmentHeader { buffer })
    }

    /// Next header after the fragment header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), 2) & 0xfff8
    }

    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), 2) & 1 != 0
    }

    /// Identification.
    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), 4)
    }

    /// An atomic fragment (offset 0, no more fragments, RFC 6946) is a whole packet.
    #[inline]
    pub fn is_atomic(&self) -> bool {
        read_u16(self.buffer.as_ref(), 2) & 0xfff9 == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    /// Writes all fields (offset in bytes, a multiple of 8).
    #[inline]
    pub fn emit(&mut self, next_header: u8, offset: u16, more_frags: bool, ident: u32) {
        let d = self.buffer.as_mut();
        d[0] = next_header;
        d[1] = 0;
        write_u16(d, 2, (offset & 0xfff8) | u16::from(more_frags));
        write_u32(d, 4, ident);
    }
}

/// Where the extension-header chain of an IPv6 payload ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtChain {
    /// The first next-header value that is not an extension header (TCP, UDP, ICMPv6, ESP,
    /// No Next Header, anything unknown); for a fragment, the fragment header's next header.
    pub protocol: u8,
    /// Offset from the start of the IPv6 payload to the upper-layer header (or, for a
    /// fragment, to the fragment's data).
    pub offset: usize,
    /// Whether a non-atomic fragment header was found (the walk stops there).
    pub is_fragment: bool,
}

/// Walks the extension headers of an IPv6 `payload` (exactly payload length bytes) whose
/// first header is `next_header`. Stops at the first non-extension header, or at a fragment
/// header that is a real fragment (first or later: fragments are not reassembled, so the
/// walk does not look into them). Atomic fragments are stepped over.
///
/// Errors: `Ipv6ExtHeaderTruncated`, `Ipv6BadExtHeader` (hop-by-hop not first),
/// `Ipv6TooManyExtHeaders` (more than [`MAX_EXT_HEADERS`]).
#[inline]
pub fn walk_ext_headers(payload: &[u8], next_header: u8) -> Result<ExtChain, ParseError> {
    let mut next = next_header;
    let mut offset = 0usize;
    let mut count = 0usize;
    while is_ext_header(next) {
        if count == MAX_EXT_HEADERS {
            return Err(ParseError::Ipv6TooManyExtHeaders);
        }
        let rest = payload
            .get(offset..)
            .ok_or(ParseError::Ipv6ExtHeaderTruncated)?;
        match next {
            ip_proto::FRAGMENT => {
                let frag = FragmentHeader::new_checked(rest)?;
                offset += FRAGMENT_HEADER_LEN;
                if !frag.is_atomic() {
                    return Ok(ExtChain {
                        protocol: frag.next_header(),
                        offset,
                        is_fragment: true,
                    });
                }
                next = frag.next_header();
            }
            ip_proto::HOP_BY_HOP if count != 0 => return Err(ParseError::Ipv6BadExtHeader),
            _ => {
                let h = ExtHeader::new_checked(rest, next)?;
                offset += h.header_len();
                next = h.next_header();
            }
        }
        count += 1;
    }
    Ok(ExtChain {
        protocol: next,
        offset,
        is_fragment: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures;

    const SRC: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const DST: [u8; 16] = [0x20, 0x01, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&fixtures::V6_VLAN_SYN[18..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), 6);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), SRC);
        assert_eq!(p.dst_addr(), DST);
        assert_eq!(p.payload(), &fixtures::V6_VLAN_SYN[58..]);
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 6,
                offset: 0,
                is_fragment: false
            }
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0xa5u8; 40];
        let mut p = Packet::new_unchecked(&mut buf);
        p.set_version_tc_flow(0, 0);
        p.set_payload_len(40);
        p.set_next_header(6);
        p.set_hop_limit(64);
        p.set_src_addr(SRC);
        p.set_dst_addr(DST);
        assert_eq!(buf, fixtures::V6_VLAN_SYN[18..58]);
        let mut f = [0xa5u8; 8];
        FragmentHeader::new_unchecked(&mut f).emit(6, 185 * 8, false, 7);
        assert_eq!(f, fixtures::V6_FRAG_LATER[54..62]);
    }

    #[test]
    fn ext_chain_hbh_routing_fragment_destopts() {
        let p = Packet::new_checked(&fixtures::V6_EXT_SYN[14..]).unwrap();
        assert_eq!(p.next_header(), ip_proto::HOP_BY_HOP);
        // hop-by-hop 8 + routing 24 + atomic fragment 8 + destination options 8.
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 6,
                offset: 48,
                is_fragment: false
            }
        );
        let h = ExtHeader::new_checked(p.payload(), 0).unwrap();
        assert_eq!(
            (h.next_header(), h.header_len(), h.data().len()),
            (43, 8, 6)
        );
        let f = FragmentHeader::new_checked(&p.payload()[32..]).unwrap();
        assert!(f.is_atomic() && f.ident() == 0xdead_beef && f.next_header() == 60);
    }

    #[test]
    fn ext_chain_fragments() {
        let p = Packet::new_checked(&fixtures::V6_FRAG_FIRST[14..]).unwrap();
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 6,
                offset: 16,
                is_fragment: true
            }
        );
        let p = Packet::new_checked(&fixtures::V6_FRAG_LATER[14..]).unwrap();
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 6,
                offset: 8,
                is_fragment: true
            }
        );
        let f = FragmentHeader::new_checked(p.payload()).unwrap();
        assert_eq!(
            (f.frag_offset(), f.more_frags(), f.ident()),
            (1480, false, 7)
        );
    }

    #[test]
    fn ext_chain_ah_esp_no_next() {
        let p = Packet::new_checked(&fixtures::V6_AH_SYN[14..]).unwrap();
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 6,
                offset: 24,
                is_fragment: false
            }
        );
        let p = Packet::new_checked(&fixtures::V6_ESP[14..]).unwrap();
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 50,
                offset: 0,
                is_fragment: false
            }
        );
        let p = Packet::new_checked(&fixtures::V6_NO_NEXT[14..]).unwrap();
        let c = walk_ext_headers(p.payload(), p.next_header()).unwrap();
        assert_eq!(
            c,
            ExtChain {
                protocol: 59,
                offset: 8,
                is_fragment: false
            }
        );
    }

    #[test]
    fn ext_chain_errors() {
        let payload = &fixtures::V6_EXT_SYN[54..];
        // Every cut inside the 48 bytes of extension headers is a truncation.
        for n in 0..48 {
            assert_eq!(
                walk_ext_headers(&payload[..n], 0).unwrap_err(),
                ParseError::Ipv6ExtHeaderTruncated,
                "cut at {n}"
            );
        }
        // Hop-by-hop after another extension header.
        let mut chain = [0u8; 16];
        chain[0] = 0; // destination options -> hop-by-hop
        assert_eq!(
            walk_ext_headers(&chain, 60).unwrap_err(),
            ParseError::Ipv6BadExtHeader
        );
        // A long chain of destination options.
        let mut long = [0u8; 8 * (MAX_EXT_HEADERS + 1)];
        for h in long.chunks_mut(8) {
            h[0] = 60;
        }
        assert_eq!(
            walk_ext_headers(&long, 60).unwrap_err(),
            ParseError::Ipv6TooManyExtHeaders
        );
        long[8 * (MAX_EXT_HEADERS - 1)] = 6;
        assert_eq!(
            walk_ext_headers(&long, 60).unwrap().offset,
            8 * MAX_EXT_HEADERS
        );
        // AH length field points past the end.
        let ah = [6u8, 200, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_ext_headers(&ah, 51).unwrap_err(),
            ParseError::Ipv6ExtHeaderTruncated
        );
    }

    #[test]
    fn truncated_and_bad_version() {
        let ip = &fixtures::V6_VLAN_SYN[18..];
        for n in 0..ip.len() {
            assert_eq!(
                Packet::new_checked(&ip[..n]).unwrap_err(),
                ParseError::Ipv6Truncated
            );
        }
        let mut b = fixtures::V6_VLAN_SYN;
        b[18] = 0x40;
        assert_eq!(
            Packet::new_checked(&b[18..]).unwrap_err(),
            ParseError::Ipv6BadVersion
        );
    }
}
