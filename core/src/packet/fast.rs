//! The datapath's fast path through the headers: the shapes nearly every packet of an
//! established TCP flow has, parsed in straight-line code over fixed offsets.
//!
//! [`parse_common_into`] accepts Ethernet with at most one 802.1Q tag, then IPv4 without
//! options and not a fragment, or IPv6 whose next header is TCP, then TCP without options or
//! with the NOP NOP timestamps block that Linux, BSD and Windows stacks put on every segment.
//! For those frames it writes exactly what [`super::parse_into`] writes; for anything else it
//! declines and the caller runs the general parser, which also owns every error. The general
//! parser is written for every case (VLAN stacks, IPv6 extension headers, option lists, the
//! error of each malformation); this one is written for speed, and the tests hold the two
//! equal on every frame both accept.

use super::ip_proto;
use super::parse::{Headers, TcpInfo, Timestamps, L3, L4};
use super::tcp::TcpFlags;

const ETH_LEN: usize = 14;
const VLAN_LEN: usize = 4;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const TCP_LEN: usize = 20;
/// TCP options of exactly NOP, NOP, timestamps (kind 8, length 10), then TSval and TSecr.
const NOP_NOP_TS: [u8; 4] = [1, 1, 8, 10];

#[inline(always)]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A segment of one of the common shapes (module doc), as the established-flow path needs
/// it: every field the general parser would fill that is not fixed by the shape. The rest
/// (offsets, EtherType, header length) follows from the shape, so [`Lite::headers`] gives
/// exactly the `Headers` the general parser would; building those costs twice as many stores
/// as this, which is why a frame that only needs this never builds them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lite {
    /// `Ipv4` or `Ipv6`.
    pub l3: L3,
    /// 0 or 1.
    pub vlan_count: u8,
    pub vlan_outer: u16,
    pub ttl: u8,
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    pub payload_len: u16,
    /// (TSval, TSecr) of the NOP NOP timestamps block, if the header has it.
    pub ts: Option<(u32, u32)>,
}

impl Lite {
    /// Frame offset of the IP header.
    #[inline]
    pub fn l3_offset(&self) -> usize {
        ETH_LEN + VLAN_LEN * usize::from(self.vlan_count)
    }
    /// Frame offset of the TCP header.
    #[inline]
    pub fn l4_offset(&self) -> usize {
        self.l3_offset()
            + match self.l3 {
                L3::Ipv6 => IPV6_LEN,
                _ => IPV4_LEN,
            }
    }
    /// TCP header length: 20, or 32 with the timestamps block.
    #[inline]
    pub fn header_len(&self) -> usize {
        TCP_LEN + if self.ts.is_some() { 12 } else { 0 }
    }

    /// The headers the general parser gives for the frame, from its addresses (as returned by
    /// [`parse_lite`]) and this.
    #[inline]
    pub fn headers(&self, src: u128, dst: u128) -> Headers {
        let (l3_offset, l4_offset, header_len) =
            (self.l3_offset(), self.l4_offset(), self.header_len());
        let payload_offset = l4_offset + header_len;
        // Offsets fit in u16: all are within the frame, whose length was checked.
        Headers {
            vlan_count: self.vlan_count,
            vlan_outer: self.vlan_outer,
            vlan_inner: 0,
            ethertype: match self.l3 {
                L3::Ipv6 => 0x86dd,
                _ => 0x0800,
            },
            l3: self.l3,
            l3_offset: l3_offset as u16,
            src: src.to_be_bytes(),
            dst: dst.to_be_bytes(),
            ttl: self.ttl,
            is_fragment: false,
            l4_proto: ip_proto::TCP,
            l4_offset: l4_offset as u16,
            ip_end: (payload_offset + usize::from(self.payload_len)) as u16,
            l4: L4::Tcp(self.tcp()),
        }
    }

    /// The TCP fields as the general parser gives them.
    pub fn tcp(&self) -> TcpInfo {
        let (l4_offset, header_len) = (self.l4_offset(), self.header_len());
        TcpInfo {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            header_len: header_len as u8,
            payload_offset: (l4_offset + header_len) as u16,
            payload_len: self.payload_len,
            mss: None,
            window_scale: None,
            sack_permitted: false,
            timestamps: self.ts.map(|(val, ecr)| Timestamps {
                val,
                ecr,
                // The option's kind byte, after the two NOPs.
                offset: (l4_offset + TCP_LEN + 2) as u16,
            }),
        }
    }
}

/// Parse `frame` if it has one of the common shapes (module doc): the segment and its source
/// and destination addresses as integers (IPv4-mapped for IPv4, as in `Headers::src`), for
/// the flow key. None otherwise: the caller must run [`super::parse_into`].
#[inline]
pub fn parse_lite(frame: &[u8]) -> Option<(Lite, u128, u128)> {
    if frame.len() > usize::from(u16::MAX) || frame.len() < ETH_LEN + IPV4_LEN + TCP_LEN {
        return None;
    }
    let mut ethertype = be16(frame, 12);
    let (mut l3_offset, mut vlan_count, mut vlan_outer) = (ETH_LEN, 0u8, 0u16);
    if ethertype == 0x8100 {
        vlan_outer = be16(frame, ETH_LEN) & 0x0fff;
        ethertype = be16(frame, ETH_LEN + 2);
        l3_offset += VLAN_LEN;
        vlan_count = 1;
    }
    let l3 = &frame[l3_offset..];
    let (l3_kind, src, dst, ttl, l4_offset, ip_end);
    match ethertype {
        0x0800 => {
            let ip = l3.get(..IPV4_LEN)?;
            let total = usize::from(be16(ip, 2));
            // Version 4 with a 20-byte header, a total length that fits the frame, and
            // neither MF nor a fragment offset.
            if ip[0] != 0x45
                || total < IPV4_LEN
                || total > l3.len()
                || be16(ip, 6) & 0x3fff != 0
                || ip[9] != ip_proto::TCP
            {
                return None;
            }
            // IPv4-mapped (::ffff:a.b.c.d), built as integers so each address is stored in
            // whole words, as the flow key loads it next.
            let mapped = |at| 0xffff_u128 << 32 | u128::from(be32(ip, at));
            (l3_kind, src, dst, ttl) = (L3::Ipv4, mapped(12), mapped(16), ip[8]);
            l4_offset = l3_offset + IPV4_LEN;
            ip_end = l3_offset + total;
        }
        0x86dd => {
            let ip = l3.get(..IPV6_LEN)?;
            let payload = usize::from(be16(ip, 4));
            if ip[0] >> 4 != 6 || IPV6_LEN + payload > l3.len() || ip[6] != ip_proto::TCP {
                return None;
            }
            let addr = |at| u128::from(be64(ip, at)) << 64 | u128::from(be64(ip, at + 8));
            (l3_kind, src, dst, ttl) = (L3::Ipv6, addr(8), addr(24), ip[7]);
            l4_offset = l3_offset + IPV6_LEN;
            ip_end = l4_offset + payload;
        }
        _ => return None,
    }
    let seg = &frame[l4_offset..ip_end];
    if seg.len() < TCP_LEN {
        return None;
    }
    let header_len = usize::from(seg[12] >> 4) * 4;
    let ts = match header_len {
        TCP_LEN => None,
        32 if seg.len() >= 32 && seg[TCP_LEN..TCP_LEN + 4] == NOP_NOP_TS => {
            Some((be32(seg, TCP_LEN + 4), be32(seg, TCP_LEN + 8)))
        }
        _ => return None,
    };
    let lite = Lite {
        l3: l3_kind,
        vlan_count,
        vlan_outer,
        ttl,
        src_port: be16(seg, 0),
        dst_port: be16(seg, 2),
        seq: be32(seg, 4),
        ack: be32(seg, 8),
        flags: TcpFlags(be16(seg, 12) & 0x01ff),
        window: be16(seg, 14),
        payload_len: (seg.len() - header_len) as u16,
        ts,
    };
    Some((lite, src, dst))
}

/// Parse `frame` into `h` if it has one of the common shapes (module doc), returning the
/// source and destination addresses as integers (as in `h.src` and `h.dst`) for the flow
/// key; None otherwise, and then `h` holds nothing useful: the caller must run
/// [`super::parse_into`]. [`parse_lite`] and [`Lite::headers`] in one.
#[inline]
pub fn parse_common_into(frame: &[u8], h: &mut Headers) -> Option<(u128, u128)> {
    let (lite, src, dst) = parse_lite(frame)?;
    *h = lite.headers(src, dst);
    Some((src, dst))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{fixtures, parse};
    use proptest::prelude::*;

    /// Both parsers on one frame: the fast one declines, or agrees with the general one.
    fn agree(frame: &[u8]) -> bool {
        let mut h = Headers::default();
        let Some((src, dst)) = parse_common_into(frame, &mut h) else {
            return false;
        };
        assert_eq!((src.to_be_bytes(), dst.to_be_bytes()), (h.src, h.dst));
        assert_eq!(Ok(h), parse(frame), "frame {frame:02x?}");
        true
    }

    /// Fixtures of every shape the general parser knows, and generated sessions (handshakes,
    /// ClientHellos, data, FIN, RST, background UDP) and established segments, IPv4 and
    /// IPv6, with and without a VLAN tag and timestamps.
    fn frames() -> &'static [Vec<u8>] {
        use fixtures::*;
        use trafficgen::{build, paired, GenArgs};
        static FRAMES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
        FRAMES.get_or_init(|| {
            let mut out: Vec<Vec<u8>> = [
                &V4_SYN[..],
                &V4_SYNACK_NO_MSS,
                &V4_SYN_BARE_PADDED,
                &V4_IPOPT_ODD_MSS_SYN,
                &V6_VLAN_SYN,
                &V6_VLAN_SYNACK_NO_MSS,
                &QINQ_V4_SYN,
                &Q9100_V4_ACK,
                &V6_EXT_SYN,
                &V6_FRAG_FIRST,
                &V6_FRAG_LATER,
                &V6_AH_SYN,
                &V6_ESP,
            ]
            .iter()
            .map(|f| f.to_vec())
            .collect();
            for (ipv6, vlan, timestamps) in [
                (false, None, false),
                (false, None, true),
                (true, None, true),
                (false, Some(7), true),
                (true, Some(4094), false),
            ] {
                let args = GenArgs {
                    sessions: 6,
                    ipv6,
                    vlan,
                    timestamps,
                    rst_ratio: 0.3,
                    udp_ratio: 0.2,
                    ..GenArgs::default()
                };
                for pair in paired::established_frames(&args).unwrap() {
                    out.extend(pair);
                }
                out.extend(build(&args).unwrap().0.into_iter().map(|f| f.bytes));
            }
            out
        })
    }

    #[test]
    fn takes_the_common_shapes_and_agrees_with_the_general_parser() {
        let frames = frames();
        let taken = frames.iter().filter(|f| agree(f)).count();
        // Established segments with and without timestamps, IPv4 and IPv6, tagged or not,
        // are all taken; SYNs (MSS, window scale) are not.
        assert!(taken * 2 > frames.len(), "{taken} of {}", frames.len());
        let mut h = Headers::default();
        assert!(
            parse_common_into(&fixtures::V4_SYN, &mut h).is_none(),
            "SYN options"
        );
        assert!(
            parse_common_into(&fixtures::QINQ_V4_SYN, &mut h).is_none(),
            "two tags"
        );
    }

    #[test]
    fn declines_what_the_general_parser_refuses() {
        for f in frames() {
            for cut in 0..f.len() {
                let short = &f[..cut];
                let mut h = Headers::default();
                if parse(short).is_err() {
                    assert!(
                        parse_common_into(short, &mut h).is_none(),
                        "cut {cut} of {f:02x?}"
                    );
                } else {
                    agree(short);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        /// Any byte of the headers changed to anything: still declined or equal.
        #[test]
        fn mutated_headers_decline_or_agree(
            which: prop::sample::Index, at in 0usize..96, value: u8,
        ) {
            let frames = frames();
            let mut f = which.get(frames).clone();
            if at < f.len() {
                f[at] = value;
            }
            agree(&f);
        }
    }
}
