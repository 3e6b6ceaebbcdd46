//! Checksums of a parsed frame: the pseudo-header, the TCP checksum and the IPv4 header
//! checksum of what [`super::parse`] described. Built on [`super::checksum`]'s byte-level
//! sums; the parser does not depend on this module.

use super::checksum::{accumulate, fold, pseudo_header_v4, pseudo_header_v6, verify_ipv4_header};
use super::ip_proto;
use super::parse::{Headers, L3, L4};

/// Folded pseudo-header sum for the L4 segment `hdr` describes (IPv4 or IPv6, protocol
/// `hdr.l4_proto`, length `ip_end - l4_offset`); `None` for non-IP frames.
#[inline]
pub fn pseudo_header(hdr: &Headers) -> Option<u16> {
    let len = hdr.l4_len();
    match hdr.l3 {
        L3::Ipv4 => Some(pseudo_header_v4(
            &hdr.src_v4(),
            &hdr.dst_v4(),
            hdr.l4_proto,
            u16::try_from(len).ok()?,
        )),
        L3::Ipv6 => Some(pseudo_header_v6(
            &hdr.src,
            &hdr.dst,
            hdr.l4_proto,
            u32::try_from(len).ok()?,
        )),
        L3::NotIp => None,
    }
}

/// The checksum the TCP segment described by `hdr` (parsed from `frame`) should carry,
/// ignoring its current checksum field; `None` unless `hdr` is a TCP segment inside `frame`.
///
/// IPv6 with a routing header still to be processed (segments left > 0) would need the final
/// destination in the pseudo-header; this uses the IPv6 destination field.
pub fn tcp_checksum(frame: &[u8], hdr: &Headers) -> Option<u16> {
    if !matches!(hdr.l4, L4::Tcp(_)) || hdr.l4_proto != ip_proto::TCP {
        return None;
    }
    let seg = frame.get(usize::from(hdr.l4_offset)..usize::from(hdr.ip_end))?;
    let (head, tail) = (seg.get(..16)?, seg.get(18..)?);
    let pseudo = pseudo_header(hdr)?;
    Some(!fold(
        u64::from(pseudo) + accumulate(head) + accumulate(tail),
    ))
}

/// Whether the TCP segment described by `hdr` (parsed from `frame`) carries a correct checksum.
/// `false` when `hdr` is not a TCP segment inside `frame`.
pub fn verify_tcp_checksum(frame: &[u8], hdr: &Headers) -> bool {
    if !matches!(hdr.l4, L4::Tcp(_)) {
        return false;
    }
    let (Some(seg), Some(pseudo)) = (
        frame.get(usize::from(hdr.l4_offset)..usize::from(hdr.ip_end)),
        pseudo_header(hdr),
    ) else {
        return false;
    };
    fold(u64::from(pseudo) + accumulate(seg)) == 0xffff
}

/// Whether the IPv4 header described by `hdr` (parsed from `frame`) carries a correct
/// checksum; `true` for IPv6 (no header checksum), `false` for non-IP or out-of-range.
pub fn verify_ip_header(frame: &[u8], hdr: &Headers) -> bool {
    match hdr.l3 {
        L3::Ipv4 => frame
            .get(usize::from(hdr.l3_offset)..usize::from(hdr.l4_offset))
            .is_some_and(verify_ipv4_header),
        L3::Ipv6 => true,
        L3::NotIp => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::checksum::ipv4_header_checksum;
    use crate::packet::{fixtures, parse, read_u16};

    #[test]
    fn fixtures_verify() {
        for frame in [
            &fixtures::V4_SYN[..],
            &fixtures::V4_SYNACK_NO_MSS,
            &fixtures::V4_SYN_BARE_PADDED,
            &fixtures::V4_IPOPT_ODD_MSS_SYN,
            &fixtures::V6_VLAN_SYN,
            &fixtures::QINQ_V4_SYN,
            &fixtures::Q9100_V4_ACK,
            &fixtures::V6_EXT_SYN,
            &fixtures::V6_AH_SYN,
            &fixtures::V4_DATA_PADDED,
        ] {
            let hdr = parse(frame).unwrap();
            assert!(verify_tcp_checksum(frame, &hdr), "{hdr:?}");
            assert!(verify_ip_header(frame, &hdr));
            let L4::Tcp(_) = hdr.l4 else { panic!() };
            let stored = read_u16(frame, usize::from(hdr.l4_offset) + 16);
            assert_eq!(tcp_checksum(frame, &hdr), Some(stored));
        }
        let v4 = parse(&fixtures::V4_SYN).unwrap();
        let ip = &fixtures::V4_SYN[14..34];
        assert_eq!(ipv4_header_checksum(ip), read_u16(ip, 10));
        let mut bad = fixtures::V4_SYN;
        bad[60] ^= 1;
        assert!(!verify_tcp_checksum(&bad, &v4));
        let udp = parse(&fixtures::V4_UDP).unwrap();
        assert!(!verify_tcp_checksum(&fixtures::V4_UDP, &udp));
        assert_eq!(tcp_checksum(&fixtures::V4_UDP, &udp), None);
    }
}
