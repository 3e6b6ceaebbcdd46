//! The hot-path parser: one pass over Ethernet, VLAN/QinQ, IPv4/IPv6 and TCP, summarised in a
//! small `Copy` [`Headers`] that the worker and everything after it read without re-parsing.
//!
//! What is an error and what is a classification:
//! - Errors ([`ParseError`]) are frames that claim a protocol and break its rules: cut short,
//!   impossible lengths, bad IHL / data offset, malformed TCP options, hop-by-hop out of place.
//! - Everything else is `Ok` and classified: non-IP EtherTypes (ARP, LLDP...) are
//!   [`L3::NotIp`]; IP fragments are [`L4::Fragment`] with `is_fragment` and no L4 fields
//!   (fragments are not reassembled); ESP and unknown protocols are [`L4::Other`]; IPv6 "No
//!   Next Header" is [`L4::None`]. UDP and ICMP only get their ports / type and code.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::tcp::{TcpFlags, TcpOption};
use super::{ethernet, ip_proto, ipv4, ipv6, read_u16, tcp, vlan, EtherType, ParseError};

/// Most VLAN tags the parser steps over (QinQ). A third tag is `VlanTooManyTags`.
pub const MAX_VLAN_TAGS: u8 = 2;

/// Network layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum L3 {
    /// Not IPv4 or IPv6 (ARP, LLDP, ...): nothing after the EtherType was parsed.
    #[default]
    NotIp,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// An MSS option found in a TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MssOption {
    /// The advertised maximum segment size.
    pub value: u16,
    /// Frame offset of the option's kind byte (the value is at `offset + 2`).
    pub offset: u16,
}

/// A timestamps option found in a TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamps {
    /// TSval.
    pub val: u32,
    /// TSecr.
    pub ecr: u32,
    /// Frame offset of the option's kind byte (TSval at `offset + 2`, TSecr at `offset + 6`).
    pub offset: u16,
}

/// What the worker needs from a TCP header. Offsets are from the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpInfo {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Window (unscaled).
    pub window: u16,
    /// Header length in bytes (data offset × 4, 20..=60).
    pub header_len: u8,
    /// Frame offset of the payload (`l4_offset + header_len`).
    pub payload_offset: u16,
    /// Payload length in bytes (up to the end of the IP packet; padding excluded).
    pub payload_len: u16,
    /// The first MSS option, if any.
    pub mss: Option<MssOption>,
    /// The first window-scale option's shift count, if any.
    pub window_scale: Option<u8>,
    /// Whether a SACK-permitted option is present.
    pub sack_permitted: bool,
    /// The first timestamps option, if any.
    pub timestamps: Option<Timestamps>,
}

/// Transport layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum L4 {
    /// Nothing: not IP, or IPv6 "No Next Header".
    #[default]
    None,
    /// An IP fragment (first or later): the L4 header is not parsed.
    Fragment,
    /// A TCP segment with valid header and options.
    Tcp(TcpInfo),
    /// UDP.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// ICMP (IPv4) or ICMPv6 (IPv6).
    Icmp {
        /// ICMP type.
        icmp_type: u8,
        /// ICMP code.
        code: u8,
    },
    /// Any other protocol (ESP, GRE, SCTP, ...); `Headers::l4_proto` says which.
    Other,
}

/// Summary of one frame's headers, from [`parse`]. Offsets are from the start of the frame
/// and fit in `u16` (parse fails with `FrameTooLong` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Headers {
    /// Number of VLAN tags (0..=2).
    pub vlan_count: u8,
    /// VLAN id (12 bits) of the outer tag; 0 when untagged.
    pub vlan_outer: u16,
    /// VLAN id of the inner tag (QinQ); 0 unless `vlan_count == 2`.
    pub vlan_inner: u16,
    /// The EtherType after the VLAN tags.
    pub ethertype: u16,
    /// Network layer.
    pub l3: L3,
    /// Frame offset of the L3 header (14 + 4 per VLAN tag).
    pub l3_offset: u16,
    /// Source address; IPv4 as an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`). Zero if not IP.
    pub src: [u8; 16],
    /// Destination address, same representation.
    pub dst: [u8; 16],
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// Whether the IP packet is a fragment (IPv4 MF or offset ≠ 0; IPv6 non-atomic fragment
    /// header). Then `l4` is [`L4::Fragment`].
    pub is_fragment: bool,
    /// IP protocol / last IPv6 next header (for a fragment: the fragment's protocol).
    pub l4_proto: u8,
    /// Frame offset of the L4 header (after IPv4 options / IPv6 extension headers); for a
    /// fragment, of the fragment data. Equal to `l3_offset` when not IP.
    pub l4_offset: u16,
    /// Frame offset where the IP packet ends (from IPv4 total length / IPv6 payload length).
    /// Bytes after it are Ethernet padding. Equal to `l3_offset` when not IP.
    pub ip_end: u16,
    /// Transport layer.
    pub l4: L4,
}

const fn mapped_v4(a: [u8; 4]) -> [u8; 16] {
    [
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a[0], a[1], a[2], a[3],
    ]
}

impl Headers {
    /// The TCP fields, if this is a (non-fragment) TCP segment.
    #[inline]
    pub fn tcp(&self) -> Option<&TcpInfo> {
        match &self.l4 {
            L4::Tcp(t) => Some(t),
            _ => None,
        }
    }

    /// Whether this is IPv4 or IPv6.
    #[inline]
    pub fn is_ip(&self) -> bool {
        self.l3 != L3::NotIp
    }

    /// IP packet length: IPv4 total length, or 40 + IPv6 payload length; 0 when not IP.
    #[inline]
    pub fn ip_total_len(&self) -> usize {
        usize::from(self.ip_end.saturating_sub(self.l3_offset))
    }

    /// IP header length: IPv4 IHL × 4, or 40 + extension headers (+ fragment header).
    #[inline]
    pub fn ip_header_len(&self) -> usize {
        usize::from(self.l4_offset.saturating_sub(self.l3_offset))
    }

    /// Bytes from the L4 header to the end of the IP packet (TCP/UDP length).
    #[inline]
    pub fn l4_len(&self) -> usize {
        usize::from(self.ip_end.saturating_sub(self.l4_offset))
    }

    /// Source IPv4 address (the low 4 bytes of `src`; meaningful for IPv4 only).
    #[inline]
    pub fn src_v4(&self) -> [u8; 4] {
        [self.src[12], self.src[13], self.src[14], self.src[15]]
    }

    /// Destination IPv4 address (the low 4 bytes of `dst`; meaningful for IPv4 only).
    #[inline]
    pub fn dst_v4(&self) -> [u8; 4] {
        [self.dst[12], self.dst[13], self.dst[14], self.dst[15]]
    }

    /// Source address as a std address; `None` when not IP. For logs, not the hot path.
    pub fn src_addr(&self) -> Option<IpAddr> {
        self.std_addr(&self.src)
    }

    /// Destination address as a std address; `None` when not IP.
    pub fn dst_addr(&self) -> Option<IpAddr> {
        self.std_addr(&self.dst)
    }

    fn std_addr(&self, a: &[u8; 16]) -> Option<IpAddr> {
        match self.l3 {
            L3::Ipv4 => Some(IpAddr::V4(Ipv4Addr::new(a[12], a[13], a[14], a[15]))),
            L3::Ipv6 => Some(IpAddr::V6(Ipv6Addr::from(*a))),
            L3::NotIp => None,
        }
    }

    /// The TCP payload bytes of `frame` (the frame this was parsed from); `None` if not TCP
    /// or `frame` is too short.
    #[inline]
    pub fn tcp_payload<'a>(&self, frame: &'a [u8]) -> Option<&'a [u8]> {
        let t = self.tcp()?;
        frame.get(usize::from(t.payload_offset)..usize::from(self.ip_end))
    }
}

/// Parses one frame. Never allocates, never panics, reads nothing past `frame`; bytes after
/// the end of the IP packet (Ethernet padding) are ignored.
#[inline]
pub fn parse(frame: &[u8]) -> Result<Headers, ParseError> {
    let mut h = Headers::default();
    parse_into(frame, &mut h)?;
    Ok(h)
}

/// [`parse`] into a caller's `Headers` (reset first): the datapath parses a burst into a
/// preallocated array this way, instead of moving each result through the stack. On error,
/// `h` holds whatever was parsed before the error.
#[inline]
pub fn parse_into(frame: &[u8], h: &mut Headers) -> Result<(), ParseError> {
    *h = Headers::default();
    let eth = ethernet::Frame::new_checked(frame)?;
    let mut ethertype = eth.ethertype();
    let mut off = ethernet::HEADER_LEN;
    while ethertype.is_vlan_tag() {
        if h.vlan_count == MAX_VLAN_TAGS {
            return Err(ParseError::VlanTooManyTags);
        }
        let tag = vlan::Tag::new_checked(frame.get(off..).unwrap_or_default())?;
        if h.vlan_count == 0 {
            h.vlan_outer = tag.vid();
        } else {
            h.vlan_inner = tag.vid();
        }
        h.vlan_count += 1;
        ethertype = tag.ethertype();
        off += vlan::HEADER_LEN;
    }
    h.ethertype = ethertype.0;
    // off <= 22 here.
    h.l3_offset = off as u16;
    h.l4_offset = off as u16;
    h.ip_end = off as u16;
    let l3 = frame.get(off..).unwrap_or_default();
    match ethertype {
        EtherType::IPV4 => parse_ipv4(frame, l3, off, h)?,
        EtherType::IPV6 => parse_ipv6(frame, l3, off, h)?,
        _ => {}
    }
    Ok(())
}

#[inline]
fn to_u16(offset: usize) -> Result<u16, ParseError> {
    u16::try_from(offset).map_err(|_| ParseError::FrameTooLong)
}

#[inline]
fn parse_ipv4(frame: &[u8], l3: &[u8], off: usize, h: &mut Headers) -> Result<(), ParseError> {
    let ip = ipv4::Packet::new_checked(l3)?;
    h.l3 = L3::Ipv4;
    h.src = mapped_v4(ip.src_addr());
    h.dst = mapped_v4(ip.dst_addr());
    h.ttl = ip.ttl();
    h.l4_proto = ip.protocol();
    let l4_offset = off + ip.header_len();
    let ip_end = off + usize::from(ip.total_len());
    h.ip_end = to_u16(ip_end)?;
    h.l4_offset = to_u16(l4_offset)?;
    if ip.is_fragment() {
        h.is_fragment = true;
        h.l4 = L4::Fragment;
        return Ok(());
    }
    let seg = frame.get(l4_offset..ip_end).unwrap_or_default();
    match h.l4_proto {
        ip_proto::ICMP => h.l4 = parse_icmp(seg)?,
        p => parse_l4(seg, p, l4_offset, &mut h.l4)?,
    }
    Ok(())
}

#[inline]
fn parse_ipv6(frame: &[u8], l3: &[u8], off: usize, h: &mut Headers) -> Result<(), ParseError> {
    let ip = ipv6::Packet::new_checked(l3)?;
    h.l3 = L3::Ipv6;
    h.src = ip.src_addr();
    h.dst = ip.dst_addr();
    h.ttl = ip.hop_limit();
    let chain = ipv6::walk_ext_headers(ip.payload(), ip.next_header())?;
    h.l4_proto = chain.protocol;
    let l4_offset = off + ipv6::HEADER_LEN + chain.offset;
    let ip_end = off + ipv6::HEADER_LEN + usize::from(ip.payload_len());
    h.ip_end = to_u16(ip_end)?;
    h.l4_offset = to_u16(l4_offset)?;
    if chain.is_fragment {
        h.is_fragment = true;
        h.l4 = L4::Fragment;
        return Ok(());
    }
    let seg = frame.get(l4_offset..ip_end).unwrap_or_default();
    match h.l4_proto {
        ip_proto::ICMPV6 => h.l4 = parse_icmp(seg)?,
        ip_proto::NO_NEXT_HEADER => h.l4 = L4::None,
        p => parse_l4(seg, p, l4_offset, &mut h.l4)?,
    }
    Ok(())
}

#[inline]
fn parse_icmp(seg: &[u8]) -> Result<L4, ParseError> {
    match *seg {
        [icmp_type, code, _, _, ..] => Ok(L4::Icmp { icmp_type, code }),
        _ => Err(ParseError::IcmpTruncated),
    }
}

/// TCP, UDP or other, for a segment `seg` (exactly the IP payload) at frame offset `l4_offset`,
/// written in place into `out` (returning a `TcpInfo` by value costs a copy through the stack
/// per packet, which the CPU cannot forward from the narrow stores that built it).
#[inline(always)]
fn parse_l4(seg: &[u8], protocol: u8, l4_offset: usize, out: &mut L4) -> Result<(), ParseError> {
    match protocol {
        ip_proto::TCP => parse_tcp(seg, l4_offset, out),
        ip_proto::UDP => match *seg {
            [_, _, _, _, _, _, _, _, ..] => {
                *out = L4::Udp {
                    src_port: read_u16(seg, 0),
                    dst_port: read_u16(seg, 2),
                };
                Ok(())
            }
            _ => Err(ParseError::UdpTruncated),
        },
        _ => {
            *out = L4::Other;
            Ok(())
        }
    }
}

#[inline(always)]
fn parse_tcp(seg: &[u8], l4_offset: usize, out: &mut L4) -> Result<(), ParseError> {
    let tcp = tcp::Packet::new_checked(seg)?;
    let header_len = tcp.header_len();
    // All offsets below are < l4_offset + seg.len() = ip_end, which fits in u16.
    *out = L4::Tcp(TcpInfo {
        src_port: tcp.src_port(),
        dst_port: tcp.dst_port(),
        seq: tcp.seq_number(),
        ack: tcp.ack_number(),
        flags: tcp.flags(),
        window: tcp.window_len(),
        header_len: header_len as u8,
        payload_offset: (l4_offset + header_len) as u16,
        payload_len: (seg.len() - header_len) as u16,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
    });
    let L4::Tcp(info) = out else {
        return Ok(()); // just written
    };
    if header_len == tcp::MIN_HEADER_LEN {
        return Ok(());
    }
    let options_offset = l4_offset + tcp::MIN_HEADER_LEN;
    for item in tcp.options_iter() {
        let (at, option) = item?;
        let offset = (options_offset + at) as u16;
        match option {
            TcpOption::MaxSegmentSize(value) if info.mss.is_none() => {
                info.mss = Some(MssOption { value, offset });
            }
            TcpOption::WindowScale(shift) if info.window_scale.is_none() => {
                info.window_scale = Some(shift);
            }
            TcpOption::SackPermitted => info.sack_permitted = true,
            TcpOption::Timestamps { tsval, tsecr } if info.timestamps.is_none() => {
                info.timestamps = Some(Timestamps {
                    val: tsval,
                    ecr: tsecr,
                    offset,
                });
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::fixtures::*;
    use proptest::prelude::*;

    const ALL_FIXTURES: &[&[u8]] = &[
        &V4_SYN,
        &V4_SYN_MSS1400,
        &V4_SYNACK_NO_MSS,
        &V4_SYNACK_NO_MSS_INSERTED_1460,
        &V4_SYN_BARE_PADDED,
        &V4_SYN_BARE_INSERTED_1360,
        &V4_IPOPT_ODD_MSS_SYN,
        &V4_IPOPT_ODD_MSS_SYN_1460,
        &V6_VLAN_SYN,
        &V6_VLAN_SYN_MSS1220,
        &V6_VLAN_SYNACK_NO_MSS,
        &V6_VLAN_SYNACK_INSERTED_1440,
        &QINQ_V4_SYN,
        &QINQ_V4_SYN_MSS1400,
        &Q9100_V4_ACK,
        &V6_EXT_SYN,
        &V6_EXT_SYN_MSS1220,
        &V6_FRAG_FIRST,
        &V6_FRAG_LATER,
        &V6_AH_SYN,
        &V6_ESP,
        &V6_NO_NEXT,
        &V4_FRAG_FIRST,
        &V4_FRAG_LATER,
        &V4_UDP,
        &V6_ICMP,
        &ARP,
        &V4_DATA_PADDED,
    ];

    const V4_SRC: [u8; 16] = mapped_v4([198, 18, 0, 1]);
    const V4_DST: [u8; 16] = mapped_v4([198, 19, 0, 1]);

    #[test]
    fn ipv4_syn() {
        let h = parse(&V4_SYN).unwrap();
        assert_eq!(
            (h.vlan_count, h.ethertype, h.l3, h.l3_offset),
            (0, 0x0800, L3::Ipv4, 14)
        );
        assert_eq!((h.src, h.dst, h.ttl), (V4_SRC, V4_DST, 64));
        assert_eq!(
            (h.is_fragment, h.l4_proto, h.l4_offset, h.ip_end),
            (false, 6, 34, 74)
        );
        assert_eq!(
            (h.ip_total_len(), h.ip_header_len(), h.l4_len()),
            (60, 20, 40)
        );
        assert_eq!(h.src_addr(), Some("198.18.0.1".parse().unwrap()));
        assert_eq!(h.dst_addr(), Some("198.19.0.1".parse().unwrap()));
        assert_eq!(
            h.l4,
            L4::Tcp(TcpInfo {
                src_port: 40000,
                dst_port: 443,
                seq: 0x1122_3344,
                ack: 0,
                flags: TcpFlags::SYN,
                window: 64240,
                header_len: 40,
                payload_offset: 74,
                payload_len: 0,
                mss: Some(MssOption {
                    value: 1460,
                    offset: 54
                }),
                window_scale: Some(7),
                sack_permitted: true,
                timestamps: Some(Timestamps {
                    val: 0xaabb_ccdd,
                    ecr: 0,
                    offset: 60
                }),
            })
        );
        assert_eq!(h.tcp_payload(&V4_SYN), Some(&[][..]));
    }

    #[test]
    fn ipv4_synack_without_mss() {
        let h = parse(&V4_SYNACK_NO_MSS).unwrap();
        let t = h.tcp().unwrap();
        assert_eq!(t.flags, TcpFlags::SYN | TcpFlags::ACK);
        assert_eq!((t.seq, t.ack), (0x5566_7788, 0x1122_3345));
        assert_eq!(
            (t.mss, t.window_scale, t.sack_permitted),
            (None, Some(9), true)
        );
        assert_eq!(
            t.timestamps,
            Some(Timestamps {
                val: 0x0102_0304,
                ecr: 0xaabb_ccdd,
                offset: 56
            })
        );
    }

    #[test]
    fn ipv4_with_options_and_odd_mss() {
        let h = parse(&V4_IPOPT_ODD_MSS_SYN).unwrap();
        assert_eq!((h.l4_offset, h.ip_header_len(), h.ip_end), (38, 24, 66));
        let t = h.tcp().unwrap();
        assert_eq!(t.header_len, 28);
        assert_eq!(
            t.mss,
            Some(MssOption {
                value: 9000,
                offset: 38 + 21
            })
        );
    }

    #[test]
    fn padding_is_not_payload() {
        let h = parse(&V4_SYN_BARE_PADDED).unwrap();
        assert_eq!((h.ip_end, V4_SYN_BARE_PADDED.len()), (54, 60));
        let t = h.tcp().unwrap();
        assert_eq!((t.header_len, t.payload_len, t.mss), (20, 0, None));
        let h = parse(&V4_DATA_PADDED).unwrap();
        let t = h.tcp().unwrap();
        assert_eq!((t.payload_offset, t.payload_len), (54, 2));
        assert_eq!(t.flags, TcpFlags::PSH | TcpFlags::ACK);
        assert_eq!(h.tcp_payload(&V4_DATA_PADDED), Some(&b"ab"[..]));
        assert_eq!(h.tcp_payload(&V4_DATA_PADDED[..55]), None);
        // A data offset that only fits by counting the padding is still wrong.
        let mut b = V4_SYN_BARE_PADDED;
        b[46] = 0x60;
        assert_eq!(parse(&b), Err(ParseError::TcpBadDataOffset));
    }

    #[test]
    fn vlan_and_qinq() {
        let h = parse(&V6_VLAN_SYN).unwrap();
        assert_eq!((h.vlan_count, h.vlan_outer, h.vlan_inner), (1, 100, 0));
        assert_eq!(
            (h.l3, h.l3_offset, h.l4_offset, h.ip_end, h.ttl),
            (L3::Ipv6, 18, 58, 98, 64)
        );
        assert_eq!(h.src_addr(), Some("2001:2::1".parse().unwrap()));
        assert_eq!(h.dst_addr(), Some("2001:2:0:1::1".parse().unwrap()));
        let t = h.tcp().unwrap();
        assert_eq!(
            t.mss,
            Some(MssOption {
                value: 1440,
                offset: 78
            })
        );
        assert_eq!(t.timestamps.map(|t| (t.val, t.ecr)), Some((7, 0)));

        let h = parse(&QINQ_V4_SYN).unwrap();
        assert_eq!((h.vlan_count, h.vlan_outer, h.vlan_inner), (2, 10, 20));
        assert_eq!((h.l3, h.l3_offset, h.l4_offset), (L3::Ipv4, 22, 42));
        assert_eq!(
            h.tcp().unwrap().mss,
            Some(MssOption {
                value: 1460,
                offset: 62
            })
        );

        let h = parse(&Q9100_V4_ACK).unwrap();
        assert_eq!((h.vlan_count, h.vlan_outer, h.vlan_inner), (2, 30, 40));
        let t = h.tcp().unwrap();
        assert_eq!((t.src_port, t.dst_port, t.seq, t.ack), (1, 2, 1, 2));
        assert_eq!(h.tcp_payload(&Q9100_V4_ACK), Some(&b"hello"[..]));

        // A third tag is refused.
        let mut three = Vec::from(&QINQ_V4_SYN[..]);
        three.splice(18..18, [0x00, 0x1e, 0x81, 0x00]);
        assert_eq!(parse(&three), Err(ParseError::VlanTooManyTags));
    }

    #[test]
    fn ipv6_extension_headers() {
        let h = parse(&V6_EXT_SYN).unwrap();
        assert_eq!(
            (h.l4_proto, h.l4_offset, h.ip_header_len(), h.is_fragment),
            (6, 102, 88, false)
        );
        assert_eq!(
            h.tcp().unwrap().mss,
            Some(MssOption {
                value: 1440,
                offset: 122
            })
        );

        let h = parse(&V6_AH_SYN).unwrap();
        assert_eq!((h.l4_proto, h.l4_offset), (6, 78));
        assert_eq!(h.tcp().unwrap().mss.map(|m| m.value), Some(1440));

        let h = parse(&V6_FRAG_FIRST).unwrap();
        assert_eq!(
            (h.is_fragment, h.l4, h.l4_proto, h.l4_offset),
            (true, L4::Fragment, 6, 70)
        );
        let h = parse(&V6_FRAG_LATER).unwrap();
        assert_eq!(
            (h.is_fragment, h.l4, h.l4_proto, h.l4_offset),
            (true, L4::Fragment, 6, 62)
        );

        let h = parse(&V6_ESP).unwrap();
        assert_eq!((h.l4, h.l4_proto), (L4::Other, 50));
        let h = parse(&V6_NO_NEXT).unwrap();
        assert_eq!((h.l4, h.l4_proto), (L4::None, 59));
        let h = parse(&V6_ICMP).unwrap();
        assert_eq!(
            h.l4,
            L4::Icmp {
                icmp_type: 128,
                code: 0
            }
        );
    }

    #[test]
    fn classifications() {
        let h = parse(&ARP).unwrap();
        assert_eq!(
            (h.l3, h.l4, h.ethertype, h.l3_offset, h.ip_end),
            (L3::NotIp, L4::None, 0x0806, 14, 14)
        );
        assert_eq!((h.src_addr(), h.ip_total_len(), h.l4_len()), (None, 0, 0));
        assert!(!h.is_ip() && h.tcp().is_none());

        let h = parse(&V4_UDP).unwrap();
        assert_eq!(
            h.l4,
            L4::Udp {
                src_port: 5353,
                dst_port: 53
            }
        );

        for f in [&V4_FRAG_FIRST[..], &V4_FRAG_LATER] {
            let h = parse(f).unwrap();
            assert_eq!(
                (h.is_fragment, h.l4, h.l4_proto, h.l4_offset),
                (true, L4::Fragment, 6, 34)
            );
        }

        // Unknown IPv4 protocol.
        let mut b = V4_UDP;
        b[23] = 47;
        assert_eq!(parse(&b).unwrap().l4, L4::Other);
    }

    /// The error a prefix of a valid frame must produce, from the full frame's headers.
    fn expected_prefix_result(full: &Headers, n: usize) -> Result<(), ParseError> {
        if n < 14 {
            Err(ParseError::EthTruncated)
        } else if n < usize::from(full.l3_offset) {
            Err(ParseError::VlanTruncated)
        } else if n < usize::from(full.ip_end) {
            match full.l3 {
                L3::Ipv4 => Err(ParseError::Ipv4Truncated),
                L3::Ipv6 => Err(ParseError::Ipv6Truncated),
                L3::NotIp => Ok(()),
            }
        } else {
            Ok(())
        }
    }

    #[test]
    fn every_prefix_of_every_fixture() {
        for frame in ALL_FIXTURES {
            let full = parse(frame).unwrap();
            for n in 0..=frame.len() {
                let got = parse(&frame[..n]);
                match expected_prefix_result(&full, n) {
                    Ok(()) => assert_eq!(got, Ok(full), "prefix {n}"),
                    Err(e) => assert_eq!(got, Err(e), "prefix {n} of {full:?}"),
                }
            }
        }
    }

    #[test]
    fn impossible_lengths() {
        let mut b = V4_SYN;
        b[14] = 0x44;
        assert_eq!(parse(&b), Err(ParseError::Ipv4BadIhl));
        b[14] = 0x46;
        b[17] = 22;
        assert_eq!(parse(&b), Err(ParseError::Ipv4BadTotalLength));
        b[14] = 0x45;
        b[17] = 30; // 10 bytes of TCP
        assert_eq!(parse(&b), Err(ParseError::TcpTruncated));
        b[14] = 0x55;
        assert_eq!(parse(&b), Err(ParseError::Ipv4BadVersion));

        let mut b = V4_SYN;
        b[46] = 0x40; // data offset 4
        assert_eq!(parse(&b), Err(ParseError::TcpBadDataOffset));
        b[46] = 0xb0; // 44 bytes > 40
        assert_eq!(parse(&b), Err(ParseError::TcpBadDataOffset));

        let mut b = V4_UDP;
        b[17] = 20 + 7;
        assert_eq!(parse(&b), Err(ParseError::UdpTruncated));
        let mut b = V6_ICMP;
        b[19] = 3;
        assert_eq!(parse(&b), Err(ParseError::IcmpTruncated));
        let mut b = V6_VLAN_SYN;
        b[18] = 0x45;
        assert_eq!(parse(&b), Err(ParseError::Ipv6BadVersion));
        let mut b = V6_VLAN_SYN;
        b[22] = 0; // payload length 0 -> TCP truncated
        b[23] = 0;
        assert_eq!(parse(&b), Err(ParseError::TcpTruncated));
        // Extension header longer than the IPv6 payload.
        let mut b = V6_EXT_SYN;
        b[55] = 200;
        assert_eq!(parse(&b), Err(ParseError::Ipv6ExtHeaderTruncated));
        // Hop-by-hop after the routing header.
        let mut b = V6_EXT_SYN;
        b[62] = 0;
        assert_eq!(parse(&b), Err(ParseError::Ipv6BadExtHeader));
    }

    #[test]
    fn bad_tcp_options() {
        // V4_SYN options start at 54: MSS(54) SACKOK(58) TS(60) NOP(70) WS(71).
        for (at, value) in [
            (55, 0u8),
            (55, 1),
            (55, 21),
            (59, 3),
            (61, 12),
            (72, 4),
            (71, 0xfd),
        ] {
            let mut b = V4_SYN;
            b[at] = value;
            if at == 71 {
                // Unknown kind 0xfd with length 3 is kept: WS becomes Unknown.
                let h = parse(&b).unwrap();
                assert_eq!(h.tcp().unwrap().window_scale, None);
                continue;
            }
            assert_eq!(
                parse(&b),
                Err(ParseError::TcpBadOption),
                "byte {at} = {value}"
            );
        }
        // Last option byte is a kind with no room for its length.
        let mut b = V4_SYN;
        b[71] = 1;
        b[72] = 1;
        b[73] = 30;
        assert_eq!(parse(&b), Err(ParseError::TcpBadOption));
    }

    #[test]
    fn frame_too_long() {
        let mut big = vec![0u8; 14 + 40 + 65535];
        big[..14].copy_from_slice(&V6_ICMP[..14]);
        big[14] = 0x60;
        big[18] = 0xff;
        big[19] = 0xff;
        big[20] = 59;
        assert_eq!(parse(&big), Err(ParseError::FrameTooLong));
        big[19] = 0xff - 40 - 14;
        assert_eq!(parse(&big).unwrap().ip_end, 65535);
    }

    /// Frames close to valid ones: a fixture with a few random bytes changed and cut short.
    fn mutated_fixture() -> impl Strategy<Value = Vec<u8>> {
        (
            0..ALL_FIXTURES.len(),
            proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
            any::<usize>(),
        )
            .prop_map(|(i, edits, cut)| {
                let mut f = ALL_FIXTURES[i].to_vec();
                for (at, v) in edits {
                    let n = f.len();
                    f[at % n] = v;
                }
                let keep = f.len() - cut % 8;
                f.truncate(keep);
                f
            })
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_near_valid_frames(frame in mutated_fixture()) {
            if let Ok(h) = parse(&frame) {
                // Whatever parses is internally consistent and inside the frame.
                prop_assert!(h.l3_offset <= h.l4_offset && h.l4_offset <= h.ip_end);
                prop_assert!(usize::from(h.ip_end) <= frame.len());
                if let Some(t) = h.tcp() {
                    prop_assert_eq!(usize::from(t.payload_offset) + usize::from(t.payload_len), usize::from(h.ip_end));
                    prop_assert!(t.header_len >= 20 && t.header_len <= 60);
                    if let Some(m) = t.mss {
                        prop_assert!(usize::from(m.offset) + 4 <= usize::from(t.payload_offset));
                    }
                }
            }
        }
    }
}
